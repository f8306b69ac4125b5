"""``gbank backfill`` and ``gbank status``: run the daily DAG over a range, show its last runs."""

from __future__ import annotations

import datetime as dt
import json

import typer

from ray_platform.errors import InvalidArgument

app = typer.Typer(help="The daily DAG: backfills and run status.", no_args_is_help=True)


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"{option}: not a YYYY-MM-DD date: {text!r}") from None


@app.command("backfill")
def backfill(
    start: str = typer.Option(..., "--start", help="First business date, YYYY-MM-DD."),
    end: str = typer.Option(..., "--end", help="Last business date (inclusive)."),
    from_step: str = typer.Option(None, "--from", help="Rerun this step and every later one."),
    to_step: str = typer.Option(None, "--to", help="Stop each date after this step."),
    no_kafka: bool = typer.Option(False, "--no-kafka", help="Do not land the Kafka topics."),
    cdc: bool = typer.Option(
        False, "--cdc", help="Also land and apply the core-banking database's change events."
    ),
) -> None:
    """Run the daily DAG for every date in order as one Ray job; stops at the first failed date.

    The reports SLA is not checked: every past date's deadline has passed by design.
    """
    from ray_platform.ops.backfill import submit_backfill
    from ray_platform.ops.daily import daily_dag
    from ray_platform.settings import get_settings

    first, last = _date(start, "--start"), _date(end, "--end")
    if last < first:
        raise InvalidArgument(f"--end {last} is before --start {first}")
    daily_dag().check(from_step)
    daily_dag().check(to_step)
    run = submit_backfill(
        first, last, get_settings(), from_step=from_step, to_step=to_step,
        extra=(*(("--no-kafka",) if no_kafka else ()), *(("--cdc",) if cdc else ())),
    )  # fmt: skip
    result = run.result or {}  # type: ignore[attr-defined]
    for day in result.get("days", []):
        steps = ", ".join(f"{k} {v}" for k, v in day["steps"].items())
        typer.echo(f"{day['business_date']}: {'ok' if day['ok'] else 'FAILED'} ({steps})")
    typer.echo(f"backfill {first}..{last}: job {run.submission_id} {run.status}")  # type: ignore[attr-defined]


def _seconds(rec: object) -> str:
    started, ended = rec.started_at, rec.ended_at  # type: ignore[attr-defined]
    return f"{(ended - started).total_seconds():.1f}s" if ended and started else "-"


@app.command("status")
def status(
    date: str = typer.Option(None, "--date", help="Only runs of this business date."),
    last: int = typer.Option(5, "--last", min=1, help="How many runs to show."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per run."),
) -> None:
    """The last runs of the daily DAG: every step's status, attempts, time, rows, error."""
    from ray_platform.ops.runs import RunLog
    from ray_platform.settings import get_settings
    from ray_platform.tables import table_store

    day = _date(date, "--date") if date else None
    runs = RunLog(table_store(get_settings())).last_runs(last, day)
    if not runs:
        typer.echo("no DAG runs recorded" + (f" for {day}" if day else ""))
        return
    for recs in runs:
        head = recs[0]
        if as_json:
            typer.echo(json.dumps({"run_id": head.run_id, "business_date": str(head.business_date),
                                   "steps": [r.row() | {"recorded_ns": None} for r in recs]},
                                  default=str))  # fmt: skip
            continue
        bad = [r.step for r in recs if r.status in ("failed", "blocked", "running", "missed")]
        typer.echo(f"{head.business_date} {head.run_id}: " + (f"problems: {', '.join(bad)}" if bad
                   else "ok"))  # fmt: skip
        for r in recs:
            rows = "-" if r.rows is None else f"{r.rows:,}"
            line = (
                f"  {r.step:<10} {r.status:<14} tries {r.attempts}  {_seconds(r):>8}  rows {rows}"
            )
            if r.table_versions:
                line += "  versions " + ",".join(f"{t}@{v}" for t, v in r.table_versions.items())
            if r.error:
                line += f"  error: {r.error}"
            typer.echo(line)
