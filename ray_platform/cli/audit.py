"""``gbank audit``: verify and search the tamper-evident audit trail."""

from __future__ import annotations

import json

import typer

from ray_platform.errors import InvalidArgument, TamperDetected
from ray_platform.governance.audit import OUTCOMES, AuditRecord, audit_trail
from ray_platform.settings import get_settings

app = typer.Typer(
    help="Verify and search the hash-chained audit trail (<home>/audit/audit.jsonl).",
    no_args_is_help=True,
)

_WIDE = 80  # longest detail value shown by the table view; --json shows everything


@app.command("verify")
def verify(
    anchor: str = typer.Option(
        None, "--anchor", help="SEQ:HASH kept outside this machine (from `gbank audit head`)."
    ),
) -> None:
    """Check every record's hash and link; exit 4 naming the first bad record if any."""
    result = audit_trail().verify(anchor=_parse_anchor(anchor) if anchor else None)
    if not result.ok:
        typer.echo(f"gbank: error: {result.message}", err=True)
        raise typer.Exit(TamperDetected.exit_code)
    typer.echo(result.message)


@app.command("head")
def head() -> None:
    """Print the newest SEQ:HASH, to keep elsewhere and pass back to `verify --anchor`."""
    mark = audit_trail().head()
    if mark is None:
        typer.echo("audit trail is empty", err=True)
        raise typer.Exit(1)
    typer.echo(f"{mark[0]}:{mark[1]}")


@app.command("query")
def query(
    event: str = typer.Option(None, "--event", help="access, job_run, model_promotion, ..."),
    actor: str = typer.Option(None, "--actor", help="User or service that acted."),
    outcome: str = typer.Option(None, "--outcome", help="allowed, denied, ok or failed."),
    dataset: str = typer.Option(None, "--dataset", help="Dataset named in the record."),
    since: str = typer.Option(None, "--since", help="From this UTC date or time (inclusive)."),
    until: str = typer.Option(
        None, "--until", help="Up to this UTC time (exclusive); a date includes that day."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the newest N matches."),
    as_json: bool = typer.Option(False, "--json", help="One stored JSON record per line."),
) -> None:
    """Print the records matching every filter, oldest first."""
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidArgument(f"--outcome must be one of {', '.join(sorted(OUTCOMES))}")
    trail = audit_trail()
    found = trail.query(
        event=event,
        actor=actor,
        outcome=outcome,
        dataset=dataset,
        since=since,
        until=until,
        limit=limit,
    )
    for rec in found:
        typer.echo(rec.to_json() if as_json else _line(rec))
    # Reading the trail is itself a data access (it holds query texts): audit it too.
    settings = get_settings()
    filters = {"event": event, "actor": actor, "outcome": outcome, "dataset": dataset}
    filters |= {"since": since, "until": until, "limit": limit}
    trail.append(
        "access",
        actor=settings.user,
        role=settings.role,
        outcome="allowed",
        dataset="_system/audit",
        filters={k: v for k, v in filters.items() if v is not None},
        rows=len(found),
    )


def _parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise InvalidArgument(f"--anchor must be SEQ:HASH (64 hex digits), got {text!r}")
    return int(seq), digest.lower()


def _line(rec: AuditRecord) -> str:
    details = " ".join(f"{k}={_short(v)}" for k, v in rec.details.items() if v is not None)
    when = rec.time[:19] + "Z"
    return (
        f"{rec.seq:>6} {when} {rec.event:<15} {rec.actor:<14} {rec.role or '-':<14} "
        f"{rec.outcome:<7} {details}"
    ).rstrip()


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= _WIDE else text[: _WIDE - 3] + "..."
