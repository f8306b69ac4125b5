"""``gbank sql``: run one read-only SQL query over the lake and the warehouse."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import typer

from ray_platform.errors import InvalidArgument

FORMATS = ("table", "csv", "json", "parquet")


def sql(
    statement: str = typer.Argument(None, help="The SELECT to run (quote it)."),
    saved: str = typer.Option(None, "--saved", help="Run a saved query of the suite by name."),
    fmt: str = typer.Option("table", "--format", help="table, csv, json or parquet."),
    out: Path = typer.Option(None, "--out", help="Write the result to this file."),  # noqa: B008
    list_saved: bool = typer.Option(False, "--list", help="List the saved queries."),
    list_tables: bool = typer.Option(False, "--tables", help="List the queryable tables."),
    max_rows: int = typer.Option(50, "--max-rows", min=1, help="Rows shown by --format table."),
    user: str = typer.Option(None, "--user", help="Read as this user (default: settings.user)."),
    role: str = typer.Option(None, "--role", help="Read in this role (default: settings.role)."),
) -> None:
    """Query silver, gold, warehouse and mart tables in place (read-only; DuckDB).

    What a role may read, and how its columns are masked, comes from the access policy.
    """
    from ray_platform.governance.access import cli_principal
    from ray_platform.warehouse import sql as wsql

    if list_saved:
        for q in wsql.saved_queries().values():
            typer.echo(f"{q.name:<32} {q.description}")
        return
    if list_tables:
        typer.echo("\n".join(wsql.tables(principal=cli_principal(user, role))))
        return
    if fmt not in FORMATS:
        raise InvalidArgument(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if (statement is None) == (saved is None):
        raise InvalidArgument("give either a SQL statement or --saved NAME")
    text = wsql.saved(saved).sql if saved else statement
    result = wsql.query(text, principal=cli_principal(user, role))
    data = render(result, fmt, max_rows)
    if out is not None:
        out.write_bytes(data)
        typer.echo(f"{result.num_rows} rows written to {out}", err=True)
    elif fmt == "parquet":
        raise InvalidArgument("--format parquet needs --out FILE")
    else:
        sys.stdout.write(data.decode())


def render(table: object, fmt: str, max_rows: int = 50) -> bytes:
    """``table`` (Arrow) as bytes in ``fmt``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    assert isinstance(table, pa.Table)
    if fmt == "csv":
        buf = io.BytesIO()
        pacsv.write_csv(table, buf)
        return buf.getvalue()
    if fmt == "json":
        return (json.dumps(table.to_pylist(), default=str, indent=1) + "\n").encode()
    if fmt == "parquet":
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return buf.getvalue()
    rows = [
        [("" if v is None else str(v)) for v in r.values()]
        for r in table.slice(0, max_rows).to_pylist()
    ]
    names = table.column_names
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    text = [line(names), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    more = f"({table.num_rows} rows" + (
        f", first {max_rows} shown)" if table.num_rows > max_rows else ")"
    )
    return ("\n".join(text) + "\n" + more + "\n").encode()
