"""Self-service SQL over the lake and the warehouse, read-only, with Arrow results.

Every query runs as a principal (user and role; by default the settings' identity) in the
connection :func:`ray_platform.governance.access.governed_connection` builds: each dataset the
role may read is registered by zone, as ``silver.<table>``, ``gold.<table>``,
``warehouse.<table>``, ``platform.<table>`` (the ``_system`` bookkeeping) and ``bronze.<feed>``,
already masked by the access policy (a dataset the role sees in clear is the Delta table's
pyarrow dataset itself: no copy, filters prune files); the marts of
:mod:`ray_platform.warehouse.marts` are in ``mart_risk``, ``mart_customer``,
``mart_regulatory`` and ``mart_operational``. Then the connection drops external access
(``enable_external_access = false``, configuration locked), so no statement can read or write a
file even if it got past the guard, and no SQL can reach an unmasked value.

The guard (:func:`check`) lets one read-only statement through: it must parse, be a single
``SELECT`` (``WITH``, ``VALUES``, ``DESCRIBE`` and ``SUMMARIZE`` included), use no table
function but :data:`ALLOWED_TABLE_FUNCTIONS`, and name no file as a table.

Example (``query`` returns a ``pyarrow.Table``)::

    query("SELECT segment, count(*) AS n FROM mart_customer.customer_current GROUP BY 1")
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from ray_platform.errors import InvalidArgument, NotFound, QueryTimeout
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import TableStore
from ray_platform.warehouse import model as m

QUERIES_DIR = Path(__file__).with_name("queries")
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
"""Table functions a self-service query may call (none of them reads files)."""
FILE_FUNCTIONS = (
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "parquet_scan",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_ndjson",
    "read_ndjson_auto",
    "read_text",
    "read_blob",
    "glob",
    "delta_scan",
    "iceberg_scan",
    "sqlite_scan",
    "sqlite_attach",
    "postgres_scan",
    "mysql_scan",
    "read_xlsx",
    "parquet_metadata",
    "parquet_schema",
    "csv_scan",
)
"""Functions that read files: refused wherever they appear (second line of defence)."""
SCHEMAS = {"silver": layout.SILVER, "gold": layout.GOLD, "platform": layout.SYSTEM}


class SqlError(InvalidArgument):
    """A self-service query was refused or failed (bad SQL, unknown table, modifying statement)."""


class QueryRefused(SqlError):
    """The statement would modify data or read files; the self-service path refuses it."""

    http_status = 403


def _strip(sql: str) -> str:
    """``sql`` without comments and string literals (for the keyword check)."""
    sql = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _walk(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("BASE_TABLE", "TABLE_FUNCTION"):
            out.append(node)
        for v in node.values():
            _walk(v, out)
    elif isinstance(node, list):
        for v in node:
            _walk(v, out)


def check(sql: str) -> set[str]:
    """Raise :class:`SqlError` unless ``sql`` is one read-only statement; its table names.

    Returns the names the statement reads (``schema.table`` or bare ``table``), so a session
    registers only those.
    """
    import duckdb

    if not sql or not sql.strip():
        raise SqlError("empty SQL statement")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"SQL does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time, got {len(statements)}")
    kind = statements[0].type.name
    if kind != "SELECT":
        raise QueryRefused(f"only SELECT queries are allowed here, not {kind}")
    words = set(re.findall(r"[a-z_]+", _strip(sql).lower()))
    if bad := sorted(words & set(FILE_FUNCTIONS)):
        raise QueryRefused(f"reading files is not allowed: {', '.join(bad)}")
    con = duckdb.connect()
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    if tree.get("error"):
        raise QueryRefused(f"only SELECT queries are allowed here ({tree.get('error_message')})")
    refs: list[dict[str, Any]] = []
    _walk(tree["statements"], refs)
    names: set[str] = set()
    for ref in refs:
        if ref["type"] == "TABLE_FUNCTION":
            name = (ref.get("function") or {}).get("function_name", "?")
            if name.lower() not in ALLOWED_TABLE_FUNCTIONS:
                raise QueryRefused(f"table function {name}() is not allowed in self-service SQL")
        elif re.search(
            r"[/\\]|\.(csv|parquet|json|jsonl|txt|db|duckdb|gz)$", ref.get("table_name", ""), re.I
        ):
            raise QueryRefused(f"reading files is not allowed: {ref['table_name']!r}")
        else:
            schema = ref.get("schema_name") or ""
            names.add(f"{schema}.{ref['table_name']}" if schema else ref["table_name"])
    return names


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def catalog(store: TableStore) -> dict[str, str]:
    """Every queryable table: ``schema.name`` -> lake path (Delta tables that exist)."""
    out: dict[str, str] = {}
    root = store.storage
    for schema, zone in (
        ("silver", layout.SILVER),
        ("gold", layout.GOLD),
        ("platform", layout.SYSTEM),
    ):
        for name in _children(root, zone):
            if schema == "gold" and name == m.WAREHOUSE:
                continue
            path = f"{zone}/{name}"
            if root.exists(f"{path}/_delta_log"):
                out[f"{schema}.{name}"] = path
    for name in _children(root, f"{layout.GOLD}/{m.WAREHOUSE}"):
        if root.exists(f"{m.warehouse_table(name)}/_delta_log"):
            out[f"warehouse.{name}"] = m.warehouse_table(name)
    return out


def _children(storage: Any, prefix: str) -> list[str]:
    try:
        return sorted({p.rstrip("/").rsplit("/", 1)[-1] for p in storage.list(prefix)})
    except (FileNotFoundError, NotFound):
        return []


def connect(
    settings: Settings | None = None, names: set[str] | None = None, principal: Any = None
) -> Any:
    """A read-only DuckDB connection holding what ``principal`` may read, masked.

    ``principal`` defaults to the settings' identity; ``names`` limits the session to those
    datasets (the default registers every readable one). See :mod:`ray_platform.governance`.
    """
    from ray_platform.governance.access import governed_connection, principal_from_settings

    s = settings or get_settings()
    return governed_connection(principal or principal_from_settings(s), s, names)


def query(
    sql: str,
    settings: Settings | None = None,
    principal: Any = None,
    *,
    timeout_s: float | None = None,
) -> pa.Table:
    """Run one read-only SQL statement over the lake and warehouse; the result as Arrow.

    ``principal`` (a :class:`~ray_platform.governance.access.Principal`, default the settings'
    identity) is who asks: the query sees only what the access policy lets that role read,
    masked, and the decision is audited. Refused or failing statements raise :class:`SqlError`;
    reads the policy refuses raise :class:`~ray_platform.errors.AccessDenied`. With
    ``timeout_s`` the statement is interrupted after that many seconds (building the governed
    connection is not counted) and :class:`~ray_platform.errors.QueryTimeout` is raised.
    """
    import threading

    import duckdb

    from ray_platform.governance.access import (
        denied_column,
        governed_connection,
        principal_from_settings,
    )

    names = check(sql)
    s = settings or get_settings()
    who = principal or principal_from_settings(s)
    con = governed_connection(who, s, names, query=sql)
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
    try:
        if timer is not None:
            timer.start()
        return con.sql(sql).to_arrow_table()
    except duckdb.InterruptException:
        raise QueryTimeout(f"query interrupted after {timeout_s:g} s") from None
    except duckdb.CatalogException as exc:
        raise SqlError(_unknown_message(tables(s, who), exc)) from None
    except duckdb.BinderException as exc:
        column = re.search(r'column (?:named )?"(\w+)"', _first_line(exc))
        if column and (denied := denied_column(who, names, column.group(1), s)):
            raise denied from None
        raise SqlError(f"query failed: {_first_line(exc)}") from None
    except duckdb.PermissionException as exc:
        raise QueryRefused(f"not allowed: {_first_line(exc)}") from None
    except duckdb.Error as exc:
        raise SqlError(f"query failed: {_first_line(exc)}") from None
    finally:
        if timer is not None:
            timer.cancel()
        con.close()


def _unknown_message(names: list[str], exc: BaseException) -> str:
    text = _first_line(exc)
    match = re.search(r'Table with name "?([\w./]+)"? does not exist', text)
    if not match:
        return f"query failed: {text}"
    wanted = match.group(1)
    similar = difflib.get_close_matches(
        wanted, names, n=5, cutoff=0.5
    ) or difflib.get_close_matches(
        wanted.rsplit(".", 1)[-1], [n.split(".", 1)[1] for n in names], n=5, cutoff=0.5
    )
    hint = f"; similar: {', '.join(similar)}" if similar else "; see `gbank sql --tables`"
    return f"unknown table {wanted!r}{hint}"


@dataclass(frozen=True)
class SavedQuery:
    """One analyst query of the fixed suite in ``ray_platform/warehouse/queries/``."""

    name: str
    description: str
    sql: str


@lru_cache(maxsize=1)
def saved_queries() -> dict[str, SavedQuery]:
    """The fixed query suite by name (file stem); the description is the header comment."""
    out = {}
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        text = path.read_text()
        header = [ln[2:].strip() for ln in text.splitlines() if ln.startswith("--")]
        out[path.stem] = SavedQuery(path.stem, " ".join(header), text)
    return out


def saved(name: str) -> SavedQuery:
    """The saved query ``name``; :class:`~ray_platform.errors.NotFound` lists the others."""
    try:
        return saved_queries()[name]
    except KeyError:
        raise NotFound(f"no saved query {name!r}; saved: {', '.join(saved_queries())}") from None


def tables(settings: Settings | None = None, principal: Any = None) -> list[str]:
    """Every name a query by ``principal`` (default: the settings' identity) can use."""
    from ray_platform.governance.access import principal_from_settings, readable

    s = settings or get_settings()
    return readable(principal or principal_from_settings(s), s)
