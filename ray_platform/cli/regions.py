"""``gbank regions``: data residency per region (us, eu, apac): route, ETL, replicate."""

from __future__ import annotations

import datetime as dt
import json

import typer

from ray_platform.errors import InvalidArgument

app = typer.Typer(
    help="Data residency: each customer's personal data only in their home region's lake.",
    no_args_is_help=True,
)


def _days(start: str, end: str | None) -> list[dt.date]:
    try:
        first = dt.date.fromisoformat(start)
        last = dt.date.fromisoformat(end) if end else first
    except ValueError:
        raise InvalidArgument(f"dates must look like 2026-01-05, got {start!r} {end!r}") from None
    if last < first:
        raise InvalidArgument(f"--end {last} is before --date {first}")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _regions(given: list[str] | None) -> tuple[str, ...]:
    from ray_platform.ops.residency import REGIONS

    for r in given or ():
        if r not in REGIONS:
            raise InvalidArgument(f"unknown region {r!r}; regions: {', '.join(REGIONS)}")
    return tuple(given) if given else REGIONS


@app.command("show")
def show() -> None:
    """Each region's root, lake and landing zone, and how many countries it is home to."""
    from ray_platform.ops.residency import REGIONS, load_policy, region_settings
    from ray_platform.settings import get_settings

    s = get_settings()
    policy = load_policy()
    for r in REGIONS:
        rs = region_settings(s, r)
        n = sum(1 for v in policy.countries.values() if v == r)
        typer.echo(f"{r:<5} {n:>2} countries  lake {rs.lake_uri}  landing {rs.landing_uri}")
    typer.echo(f"unattributed records stay in: {policy.unattributed}")


@app.command("env")
def env(
    region: str = typer.Argument(..., help="us, eu or apac."),
    runtime_env: bool = typer.Option(
        False, "--runtime-env", help="All settings as `ray job submit --runtime-env-json`."
    ),
) -> None:
    """The GBANK_* variables that point the platform's jobs at one region's roots."""
    from ray_platform.ops.residency import region_settings
    from ray_platform.settings import get_settings

    rs = region_settings(get_settings(), _regions([region])[0])
    if runtime_env:
        typer.echo(json.dumps({"env_vars": rs.as_env()}))
        return
    for name in ("region", "lake_uri", "landing_uri"):
        typer.echo(f"GBANK_{name.upper()}={getattr(rs, name)}")


@app.command("route")
def route(
    date: str = typer.Option(..., "--date", help="Business date (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="Last date of a range (inclusive)."),
) -> None:
    """Split the landing zone's files for each date into the regions' landing zones."""
    from ray_platform.ops.routing import route_landing_date

    for day in _days(date, end):
        typer.echo(json.dumps(route_landing_date(day).summary()))


@app.command("etl")
def etl(
    date: str = typer.Option(..., "--date", help="Business date (YYYY-MM-DD)."),
    end: str | None = typer.Option(None, "--end", help="Last date of a range (inclusive)."),
    region: list[str] | None = typer.Option(  # noqa: B008 (a repeatable option)
        None, "--region", help="Region(s); default all."
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Submit the lake_etl job per region to the Ray cluster."
    ),
) -> None:
    """Route each date, then run the lake ETL in each region against its own roots.

    In-process by default; with --ray, the existing lake_etl job once per region.
    """
    from ray_platform.ops.residency import run_regions_day, submit_regions_day

    regions = _regions(region)
    for day in _days(date, end):
        if ray:
            for r, run in submit_regions_day(day, regions=regions).items():
                typer.echo(
                    json.dumps({"region": r, "job": run.submission_id, **(run.result or {})})
                )
            continue
        reports = run_regions_day(day, regions=regions, use_ray=False)
        for r, report in reports.items():
            typer.echo(json.dumps({"region": r, **report.summary()}))


@app.command("replicate")
def replicate(
    table: list[str] | None = typer.Option(  # noqa: B008 (a repeatable option)
        None, "--table", help="Gold table(s); default every table without personal data."
    ),
    source: list[str] | None = typer.Option(  # noqa: B008 (a repeatable option)
        None, "--from", help="Source region(s); default all."
    ),
) -> None:
    """Copy gold aggregates without personal data to the other regions' replica areas."""
    from ray_platform.ops.replication import replicate as run

    report = run(tables=table, sources=_regions(source))
    for c in report.copies:
        typer.echo(f"copied  {c.table} {c.source} -> {c.target}  v{c.version}  {c.rows} rows")
    for name, why in report.withheld.items():
        typer.echo(f"kept home  {name}: {'; '.join(why)}")
