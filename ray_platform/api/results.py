"""One page of an Arrow result as the response the caller asked for: JSON, CSV or Arrow IPC.

Paging is by ``offset`` and ``limit`` over the whole result; the total row count and the next
offset travel in the JSON body and, for CSV and Arrow, in the ``X-Total-Rows`` and
``X-Next-Offset`` headers (absent on the last page).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import math
from typing import Any, Literal

import pyarrow as pa
from fastapi.responses import JSONResponse, Response

Format = Literal["json", "csv", "arrow"]
MAX_PAGE = 10_000
ARROW_MEDIA = "application/vnd.apache.arrow.stream"


def _plain(v: Any) -> Any:
    """A JSON-safe value: dates as ISO text, non-finite floats as null, bytes as hex."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dt.date | dt.datetime | dt.time):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table``'s rows as JSON-safe dicts."""
    return [{k: _plain(v) for k, v in r.items()} for r in table.to_pylist()]


def page(table: pa.Table, fmt: Format, offset: int, limit: int) -> Response:
    """Rows ``offset`` to ``offset + limit`` of ``table`` in ``fmt``."""
    total = table.num_rows
    part = table.slice(offset, limit)
    nxt = offset + part.num_rows if offset + part.num_rows < total else None
    headers = {"X-Total-Rows": str(total)}
    if nxt is not None:
        headers["X-Next-Offset"] = str(nxt)
    if fmt == "csv":
        import pyarrow.csv as pacsv

        buf = io.BytesIO()
        pacsv.write_csv(part, buf)
        return Response(buf.getvalue(), media_type="text/csv", headers=headers)
    if fmt == "arrow":
        buf = io.BytesIO()
        with pa.ipc.new_stream(buf, part.schema) as writer:
            writer.write_table(part)
        return Response(buf.getvalue(), media_type=ARROW_MEDIA, headers=headers)
    body = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in part.schema],
        "rows": rows(part),
        "total_rows": total,
        "offset": offset,
        "limit": limit,
        "next_offset": nxt,
    }
    return JSONResponse(body, headers=headers)
