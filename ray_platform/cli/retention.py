"""``gbank retention``: what expires, archive-then-delete, legal holds, restores."""

from __future__ import annotations

import datetime as dt
import json

import typer

from ray_platform.errors import InvalidArgument

app = typer.Typer(
    help="Retention per zone (bronze 7 y, silver 5 y, gold 3 y) with legal holds.",
    no_args_is_help=True,
)


def _as_of(text: str | None) -> dt.date:
    if text is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidArgument(f"not a YYYY-MM-DD date: {text!r}") from None


def _print_items(items: list[dict]) -> None:
    for i in items:
        held = f" held by {', '.join(i['held_by'])}" if i["held_by"] else ""
        typer.echo(
            f"{i['action']:<15} {i['dataset']}/{i['partition']}  last day {i['last_day']}"
            f"  {i['files']} files, {i['bytes']} bytes{held}"
        )


@app.command("plan")
def plan(
    as_of: str = typer.Option(None, "--as-of", help="Date to expire from (default today, UTC)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """List what would be archived and deleted, and what legal holds keep (a dry run)."""
    from ray_platform.governance import retention

    summary = retention.plan(_as_of(as_of)).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=1))
        return
    _print_items(summary["items"])
    typer.echo(
        f"{summary['expiring']} partitions expire ({summary['bytes']} bytes), "
        f"{summary['held']} held, as of {summary['as_of']}"
    )


@app.command("apply")
def apply(
    as_of: str = typer.Option(None, "--as-of", help="Date to expire from (default today, UTC)."),
    yes: bool = typer.Option(False, "--yes", help="Do it without asking."),
) -> None:
    """Archive (gzip, verified) and then delete every expired partition without a hold."""
    from ray_platform.errors import DataQualityError
    from ray_platform.governance import retention

    the_plan = retention.plan(_as_of(as_of))
    if not the_plan.expiring:
        typer.echo(f"nothing expires as of {the_plan.as_of} ({len(the_plan.held)} held)")
        return
    if not yes:
        typer.confirm(f"archive and delete {len(the_plan.expiring)} partitions?", abort=True)
    result = retention.apply(the_plan)
    for a in result.archived:
        typer.echo(f"archived {a['dataset']}/{a['partition']} -> {a['manifest']}")
    typer.echo(
        f"{len(result.archived)} archived and deleted, {len(result.held)} held, "
        f"{len(result.failed)} failed (run {result.run_id})"
    )
    if result.failed:
        raise DataQualityError(
            "; ".join(f"{f['dataset']}/{f['partition']}: {f['error']}" for f in result.failed)
        )


@app.command("hold")
def hold(
    reason: str = typer.Option(..., "--reason", help="Why (case number, request)."),
    dataset: str = typer.Option(None, "--dataset", help="Dataset or glob: bronze/cards, silver/*."),
    partition: str = typer.Option(
        None, "--partition", help="e.g. ingest_date=2019-03-01, year=2019"
    ),
    customer: str = typer.Option(None, "--customer", help="Hold every partition of a customer."),
    by: str = typer.Option(None, "--by", help="Who places it (default: GBANK_USER)."),
) -> None:
    """Place a legal hold: a dataset, a partition of one, or a customer's records."""
    from ray_platform.governance import retention
    from ray_platform.settings import get_settings

    scope = "customer" if customer else "partition" if partition else "dataset"
    h = retention.place_hold(
        scope=scope,
        reason=reason,
        placed_by=by or get_settings().user,
        dataset=dataset,
        partition=partition,
        customer_id=customer,
    )
    typer.echo(f"{h.id} placed ({scope}) by {h.placed_by}")


@app.command("release")
def release(
    hold_id: str = typer.Argument(..., help="The hold's id (see `gbank retention holds`)."),
    reason: str = typer.Option(..., "--reason", help="Why it may be lifted."),
    by: str = typer.Option(None, "--by", help="Who releases it (default: GBANK_USER)."),
) -> None:
    """Release a legal hold placed with `gbank retention hold`."""
    from ray_platform.governance import retention
    from ray_platform.settings import get_settings

    retention.release_hold(hold_id, released_by=by or get_settings().user, reason=reason)
    typer.echo(f"{hold_id} released")


@app.command("holds")
def holds() -> None:
    """The legal holds in force (retention.yaml and the lake)."""
    from ray_platform.governance import retention

    for h in retention.active_holds():
        what = h.customer_id if h.scope == "customer" else f"{h.dataset} {h.partition or ''}"
        typer.echo(
            f"{h.id}  {h.scope:<9} {what.strip()}  by {h.placed_by} ({h.source}): {h.reason}"
        )


@app.command("restore")
def restore(
    manifest: str = typer.Argument(..., help="Lake path of an archive's manifest.json."),
    dest: str = typer.Option(None, "--dest", help="Lake folder to restore into."),
) -> None:
    """Verify an archive and restore its files (bronze files go back where they were)."""
    from ray_platform.governance import retention

    for path in retention.restore(manifest, dest=dest):
        typer.echo(path)
