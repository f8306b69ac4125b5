"""``gbank dq``: run the data-quality checks and read their results."""

from __future__ import annotations

import datetime as dt

import typer

from ray_platform.errors import DataQualityError, InvalidArgument

app = typer.Typer(help="Data-quality checks, results and alerts.", no_args_is_help=True)


@app.command("run")
def run(
    date: str = typer.Option(None, "--date", help="Ingest date (default: the latest one)."),
    table: list[str] = typer.Option(  # noqa: B008 (typer's way to declare a repeatable option)
        None, "--table", help="Only this table (repeatable)."
    ),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Store results, send no alerts."),
) -> None:
    """Run the checks of dq.yaml; exit code 1 when a check fails."""
    from ray_platform.governance import dq

    try:
        day = dt.date.fromisoformat(date) if date else dq.latest_ingest_date()
    except ValueError:
        raise InvalidArgument(f"not a YYYY-MM-DD date: {date!r}") from None
    result = dq.run_checks(day, tables=table or None, sinks=[] if no_alerts else None)
    for r in result.results:
        metric = "" if r.metric is None else f" {r.metric:.5g}"
        typer.echo(f"{'ok  ' if r.passed else 'FAIL'} {r.table} {r.check}{metric}: {r.detail}")
    typer.echo(
        f"{len(result.failed)} of {len(result.results)} checks failed for {day} "
        f"(run {result.run_id})"
    )
    if result.delivery_errors:
        raise DataQualityError(f"alerts not delivered: {result.delivery_errors}")
    if result.failed:
        raise typer.Exit(code=1)


@app.command("results")
def results(
    table: str = typer.Option(None, "--table", help="Only this table."),
    failed: bool = typer.Option(False, "--failed", help="Only failed checks."),
    last: int = typer.Option(20, "--last", min=1, help="How many, newest first."),
) -> None:
    """Stored check results from _system/dq_results."""
    from ray_platform.governance import dq

    for r in dq.read_results(table=table, failed_only=failed, limit=last):
        state = "ok  " if r["passed"] else "FAIL"
        typer.echo(
            f"{r['checked_at']:%Y-%m-%d %H:%M} {state} {r['day']} {r['table']} "
            f"{r['check']}: {r['detail']}"
        )
