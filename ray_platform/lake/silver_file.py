"""One bronze file through the silver rules: parse, validate, standardise (a pure function).

:func:`process_file` is what each Ray Data task runs; it touches no table, so unit tests call
it directly. Its output is the file's typed good rows and its quarantine rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.model import TableContract
from ray_platform.errors import SchemaError
from ray_platform.lake import standardise as st
from ray_platform.lake.cdc import change_key
from ray_platform.lake.debezium import normalise_lines
from ray_platform.lake.parse import MalformedFile, Parsed, parse_file, parse_jsonl, utf8
from ray_platform.lake.tokens import tokenise
from ray_platform.lake.validate import validate

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string()),
        pa.field("ingest_date", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("record", pa.int64()),  # 0: the whole file
        pa.field("record_id", pa.string()),
        pa.field("rule", pa.string()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("payload", pa.string()),
    ]
)


@dataclass
class Context:
    """What every file of a run shares."""

    run_id: str
    ingest_date: str
    reporting_currency: str
    token_key: bytes
    fx: st.FxTable | None = None
    known: Mapping[str, pa.Array] = field(default_factory=dict)


@dataclass
class FileOutput:
    """The result of one file, or of one part of a file split by lines (``part`` of ``parts``).

    A part leaves two file-wide rules to the driver (:func:`merge_parts`): a required column
    absent from the whole file (from ``present`` and ``rows``), and a business key repeated in
    two parts.
    """

    path: str
    read: int
    good: pa.Table | None
    quarantine: list[dict[str, object]]
    extra_columns: list[str]
    fx_earlier: int = 0
    fx_missing: int = 0
    schema_error: str | None = None
    malformed_file: str | None = None
    part: int = 0
    parts: int = 1
    present: list[str] | None = None
    rows: int = 0


def _qrow(ctx: Context, path: str, record: int, rid: object, rule: str, fld: str | None,
          reason: str, payload: str | None) -> dict[str, object]:  # fmt: skip
    return {
        "run_id": ctx.run_id, "ingest_date": ctx.ingest_date, "source_file": path,
        "record": record, "record_id": None if rid is None else str(rid), "rule": rule,
        "field": fld, "reason": reason, "payload": payload,
    }  # fmt: skip


def _record_id(contract: TableContract, parsed: Parsed, table: pa.Table, row: int) -> object:
    if contract.format == "cdc":
        key = change_key(contract)
        return (
            table.column(f"after.{key}")[row].as_py() or table.column(f"before.{key}")[row].as_py()
        )
    if not contract.business_key:
        return None
    return "|".join(str(table.column(k)[row].as_py()) for k in contract.business_key)


def part_range(data: bytes, part: int, parts: int) -> tuple[int, int, int]:
    """``(start, end, first record)`` of part ``part`` of ``parts``, cut after line breaks."""

    def cut(k: int) -> int:
        if k <= 0:
            return 0
        if k >= parts:
            return len(data)
        at = data.find(b"\n", k * len(data) // parts)
        return len(data) if at < 0 else at + 1

    start, end = cut(part), cut(part + 1)
    return start, end, data.count(b"\n", 0, start) + 1


def _parse(contract: TableContract, path: str, data: bytes, part: int, parts: int) -> Parsed:
    if parts == 1:
        return parse_file(contract, data, path)
    if data[:2] == b"\x1f\x8b":  # compressed after all: every part inflates the whole file
        data = utf8(data, path)
        start, end, first = part_range(data, part, parts)
        return parse_jsonl(contract, data[start:end], first_record=first)
    start, end, first = part_range(data, part, parts)
    chunk = data[start:end]
    try:  # parts are cut after line breaks, so each is whole UTF-8 sequences
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"not valid UTF-8 at byte {start + exc.start}") from None
    return parse_jsonl(contract, chunk, first_record=first)


def process_file(
    contract: TableContract, path: str, data: bytes, business_date: dt.date, ctx: Context,
    part: int = 0, parts: int = 1,
) -> FileOutput:  # fmt: skip
    """Parse, validate and standardise one file (or one part); malformed files come back whole."""
    if contract.format == "cdc":  # Kafka batches of Debezium envelopes (see lake.debezium)
        data = normalise_lines(data)
    try:
        parsed = _parse(contract, path, data, part, parts)
    except MalformedFile as exc:  # of a split file, the first bad part reports it (merge_parts)
        row = _qrow(ctx, path, 0, None, "malformed_file", None, str(exc), None)
        return FileOutput(path, 1, None, [row], [], malformed_file=str(exc), part=part,
                          parts=parts)  # fmt: skip
    if parsed.missing_columns and parts == 1:
        missing = ", ".join(parsed.missing_columns)
        msg = f"{contract.name}: required column {missing} is missing from {path}"
        return FileOutput(path, parsed.read, None, [], [], schema_error=msg)
    quarantine = [
        _qrow(ctx, path, rec, None, "malformed_row", None, reason, parsed.raw(rec))
        for rec, reason in parsed.malformed
    ]
    good, failures = validate(contract, parsed.table, business_date, ctx.known)
    records = parsed.table.column("_record").to_numpy()  # ascending: a search finds the row
    for f in failures:
        row = int(np.searchsorted(records, f.record))
        rid = _record_id(contract, parsed, parsed.table, row)
        quarantine.append(
            _qrow(ctx, path, f.record, rid, f.rule, f.field, f.reason, parsed.raw(f.record))
        )
    out = FileOutput(path, parsed.read, None, quarantine, parsed.extra_columns, part=part,
                     parts=parts, present=parsed.present, rows=parsed.table.num_rows)  # fmt: skip
    out.good = standardise(contract, good, path, ctx, parsed.extra_columns, out)
    return out


def standardise(
    contract: TableContract, good: pa.Table, path: str, ctx: Context, extra: list[str],
    out: FileOutput,
) -> pa.Table:  # fmt: skip
    """Typed silver columns, partitions, tokens and lineage for validated records."""
    cols: dict[str, pa.Array] = {}
    for col in contract.columns:
        text = good.column(col.path).combine_chunks()
        cols[col.name] = typed = st.typed(col, text)
        if col.type == "ts" and col.name == contract.event_time and contract.partition_by:
            cols[f"{col.name}_offset_min"] = st.parse_ts(text).offset_min
        if col.pii:
            cols[col.name] = tokenise(ctx.token_key, typed.cast(pa.string()))
    for col in contract.columns:
        if not col.minor_units:
            continue
        cols[f"{col.name}_minor"] = minor = st.minor_units(good.column(col.path).combine_chunks())
        if col.currency_column and ctx.fx is not None and contract.event_time:
            cur = good.column(contract.column(col.currency_column).path).combine_chunks()
            amount, earlier, missing = st.reporting_amount(
                minor, cur, st.utc_day(cols[contract.event_time]), ctx.fx,
                ctx.reporting_currency, col.dp,
            )  # fmt: skip
            cols[f"{col.name}_reporting"] = amount
            out.fx_earlier += earlier
            out.fx_missing += missing
    if contract.format == "cdc":  # the key of a delete comes from its before image
        key = change_key(contract)
        cols[key] = pc.coalesce(
            good.column(f"after.{key}"), good.column(f"before.{key}")
        ).combine_chunks()
    for name in extra:
        if name in cols:
            raise SchemaError(f"{contract.name}: new column {name!r} clashes with a silver column")
        cols[name] = good.column(name).combine_chunks()
    if contract.event_time:
        cols.update(st.partition_columns(contract, cols[contract.event_time]))
    n = good.num_rows
    hash_paths = [c.path for c in contract.columns if contract.format != "cdc" or "." in c.path]
    cols["_payload_hash"] = st.payload_hash(good, hash_paths)
    cols["_run_id"] = pa.array([ctx.run_id] * n, pa.string())
    cols["_ingest_date"] = pa.array([ctx.ingest_date] * n, pa.string())
    cols["_source_file"] = pa.array([path] * n, pa.string())
    cols["_source_record"] = good.column("_record").combine_chunks()
    table = pa.table(cols)
    if contract.cluster_by and n and out.parts == 1:  # split files are sorted once, merged
        table = table.sort_by([(c, "ascending") for c in contract.cluster_by])
    return table
