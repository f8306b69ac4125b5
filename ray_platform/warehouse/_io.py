"""Small helpers the warehouse modules share: partition filters, pinned reads, row equality."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.dataset as pads

from ray_platform.tables import TableStore


def day_filter(day: dt.date) -> pads.Expression:
    """The ``year``/``month``/``day`` partition filter of one UTC date."""
    f = pads.field
    return (f("year") == day.year) & (f("month") == day.month) & (f("day") == day.day)


def fingerprint(dataset: pads.Dataset, day: dt.date) -> str:
    """A hash of the files that hold ``day``'s partition (changes whenever the partition does)."""
    paths = sorted(fr.path for fr in dataset.get_fragments(filter=day_filter(day)))
    return hashlib.sha256("\n".join(paths).encode()).hexdigest() if paths else ""


def sql_list(values: Iterable[object]) -> str:
    """A SQL ``IN`` list of quoted literals."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def same_rows(a: pa.Table, b: pa.Table) -> bool:
    """Whether two tables hold the same multiset of rows (order ignored)."""
    import duckdb

    if a.num_rows != b.num_rows or not a.schema.equals(b.schema):
        return False
    if a.num_rows == 0:
        return True
    con = duckdb.connect()
    try:
        con.register("a", a)
        con.register("b", b)
        return con.execute("SELECT count(*) FROM (FROM a EXCEPT ALL FROM b)").fetchone()[0] == 0  # type: ignore[index]
    finally:
        con.close()


def read_where(store: TableStore, path: str, predicate: pads.Expression | None) -> pa.Table | None:
    """The rows of ``path`` matching ``predicate`` (``None`` when the table does not exist)."""
    if not store.exists(path):
        return None
    return store.dataset(path).to_table(filter=predicate)


def arrow(con: object, sql: str, params: dict[str, object] | None = None) -> pa.Table:
    """Run ``sql`` on a DuckDB connection with the ``$name`` parameters it uses; Arrow result."""
    import re

    used = {k: v for k, v in (params or {}).items() if k in set(re.findall(r"\$(\w+)", sql))}
    return con.sql(sql, params=used or None).to_arrow_table()  # type: ignore[attr-defined]


def rows_in(dataset: pads.Dataset, column: str, values: Iterable[object]) -> pa.Table:
    """The rows whose ``column`` is in ``values`` (filtered after reading: dimension-sized data)."""
    import pyarrow.compute as pc

    table = dataset.to_table()
    return table.filter(pc.is_in(table.column(column), value_set=pa.array(sorted(values))))
