"""``gbank report NAME --date D``: build one regulatory report, or ``all`` of them."""

from __future__ import annotations

import json

import typer

from ray_platform.errors import DataQualityError, InvalidArgument


def report(
    name: str = typer.Argument(..., help="basel3, mifid2, sox, or all."),
    date: str = typer.Option(..., "--date", help="Business date, YYYY-MM-DD."),
    user: str = typer.Option(None, "--user", help="Run as this user (default: settings.user)."),
    role: str = typer.Option(None, "--role", help="Run in this role (default: settings.role)."),
) -> None:
    """Build regulatory report NAME for a business date; prints where its files are."""
    from ray_platform.governance.access import authorize, cli_principal
    from ray_platform.reports import REPORTS, run_daily_reports, run_report

    if name != "all" and name not in REPORTS:
        raise InvalidArgument(f"unknown report {name!r}; valid: {', '.join(REPORTS)}, all")
    who = cli_principal(user, role)
    for each in REPORTS if name == "all" else (name,):  # a report is read as reports.<name>
        authorize(
            who, f"reports.{each}", query=f"gbank report {name} --date {date}"
        ).raise_if_denied()

    if name == "all":
        out = run_daily_reports(date)
        for r in out["reports"].values():
            line = f"{r['name']}: {r['status']} in {r['seconds']:.2f} s"
            typer.echo(line + (f" ({r['error']})" if r["error"] else ""))
        typer.echo(json.dumps({"seconds": out["seconds"], "ok": out["ok"]}))
        if not out["ok"]:
            raise DataQualityError(
                "some reports failed: "
                + ", ".join(n for n, r in out["reports"].items() if r["status"] != "OK")
            )
        return
    result = run_report(name, date)
    typer.echo(f"{name} {result.business_date}: {result.status} in {result.seconds:.2f} s")
    for path in result.files:
        typer.echo(f"  {path}")
