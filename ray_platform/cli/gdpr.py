"""``gbank gdpr erase|export``: the right to be forgotten and the subject-access export."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="GDPR: erase a customer everywhere (crypto-shredding bronze), or export their data.",
    no_args_is_help=True,
)


@app.command("erase")
def erase(
    customer_id: str = typer.Option(..., "--customer-id", help="Core banking customer id."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    user: str = typer.Option(None, "--user", help="Who erases (default: settings.user)."),
    role: str = typer.Option(None, "--role", help="In which role (default: settings.role)."),
) -> None:
    """Erase CUSTOMER everywhere and append the erasure certificate to the audit trail.

    Irreversible: rows are deleted with the tables' history, and the customer's bronze key is
    destroyed. Exits 1 when a store could not be erased (the certificate says which).
    """
    from ray_platform.governance.gdpr import erase as do_erase

    if not yes:
        typer.confirm(f"Erase customer {customer_id} from every store? This cannot be undone",
                      abort=True)  # fmt: skip
    cert = do_erase(customer_id, actor=user, role=role)
    rows = sum(t["rows_deleted"] for t in cert.tables.values())
    typer.echo(
        f"erasure {cert.request_id}: {rows} rows in {len(cert.tables)} tables, "
        f"{sum(cert.features.values())} feature rows, "
        f"{cert.online_store.get('entries_deleted', 0)} online entries deleted; "
        f"bronze key destroyed: {cert.bronze.get('customer_key_destroyed', False)}; "
        f"certificate: audit record {cert.audit_seq}"
    )
    for problem in cert.problems:
        typer.echo(f"gbank: error: {problem}", err=True)
    if cert.problems:
        raise typer.Exit(1)


@app.command("export")
def export(
    customer_id: str = typer.Option(..., "--customer-id", help="Core banking customer id."),
    out: Path = typer.Option(None, "--out", help="JSON file (default: under home)."),  # noqa: B008
    user: str = typer.Option(None, "--user", help="Who exports (default: settings.user)."),
    role: str = typer.Option(None, "--role", help="In which role (default: settings.role)."),
) -> None:
    """Write everything held about CUSTOMER as one JSON file (the subject-access export)."""
    from ray_platform.governance.gdpr import digest
    from ray_platform.governance.gdpr import export as do_export

    path = do_export(customer_id, out=out, actor=user, role=role)
    typer.echo(f"{path} sha256={digest(path)}")
