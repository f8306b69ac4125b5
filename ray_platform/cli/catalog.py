"""``gbank catalog``: the data catalog (datasets, columns, classifications) and PII discovery."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Browse the data catalog, export it as JSON, and scan the lake for PII.",
    no_args_is_help=True,
)


def _row(*cells: object, widths: tuple[int, ...]) -> str:
    return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()


@app.command("list")
def list_(
    zone: str | None = typer.Option(
        None, "--zone", help="bronze, silver, gold, warehouse, features or models."
    ),
) -> None:
    """List the datasets (of one zone): name, zone, classification, owner, retention, columns."""
    from ray_platform.governance.catalog import catalog

    datasets = catalog().list(zone)
    w = (max((len(d.name) for d in datasets), default=4), 9, 12, 18, 12, 7)
    typer.echo(_row("name", "zone", "class", "owner", "retention", "columns", widths=w))
    for d in datasets:
        typer.echo(
            _row(d.name, d.zone, d.classification or "NONE", d.owner, d.retention_class,
                 len(d.columns), widths=w)
        )  # fmt: skip


@app.command()
def show(
    name: str = typer.Argument(..., help="Dataset: lake path, SQL name or table name."),
    as_json: bool = typer.Option(False, "--json", help="Print the dataset as JSON."),
) -> None:
    """Show one dataset: what it is, who owns it, and every column with its classification."""
    from ray_platform.governance.catalog import catalog

    d = catalog().get(name)
    if as_json:
        typer.echo(json.dumps(d.as_dict(), indent=2))
        return
    typer.echo(f"{d.name}  ({d.zone}, {d.classification or 'UNCLASSIFIED'})")
    typer.echo(f"  {d.description}")
    typer.echo(f"  owner: {d.owner}   retention: {d.retention_class}")
    typer.echo(f"  location: {d.location}")
    if d.inputs:
        typer.echo(f"  inputs: {', '.join(d.inputs)}")
    w = (max(len(c.name) for c in d.columns), max(len(c.type) for c in d.columns), 12, 3)
    typer.echo(_row("column", "type", "class", "pii", "description", widths=(*w, 0)))
    for c in d.columns:
        typer.echo(
            _row(c.name, c.type, c.classification or "NONE", "yes" if c.pii else "",
                 c.description, widths=(*w, 0))
        )  # fmt: skip


@app.command()
def search(
    text: list[str] = typer.Argument(  # noqa: B008 (typer's way to take several words)
        ..., help="Words that must all appear (any case)."
    ),
) -> None:
    """Find datasets by name, description or column; exit code 1 when nothing matches."""
    from ray_platform.governance.catalog import catalog

    found = catalog().search(" ".join(text))
    for d in found:
        typer.echo(f"{d.name}\t{d.zone}\t{d.description}")
    if not found:
        typer.echo(f"no dataset matches {' '.join(text)!r}", err=True)
        raise typer.Exit(code=1)


@app.command()
def export(
    out: Path | None = typer.Option(  # noqa: B008 (typer's way to declare a path option)
        None, "--out", help="Write the JSON here, not to stdout."
    ),
) -> None:
    """Export the whole catalog as JSON."""
    from ray_platform.governance.catalog import catalog

    text = catalog().to_json()
    if out is None:
        typer.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    typer.echo(f"wrote {out}")


@app.command("scan-pii")
def scan_pii(
    sample_rows: int = typer.Option(1000, "--sample-rows", min=10, help="Rows per dataset."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
) -> None:
    """Scan samples of every bronze feed and silver table for PII.

    Exit code 1 when a column holds more than its declared classification allows.
    """
    from ray_platform.governance.pii import scan

    report = scan(sample_rows=sample_rows)
    under = [f for f in report.findings if f.under_classified]
    if as_json:
        typer.echo(json.dumps({**report.as_dict(), "under_classified": len(under)}, indent=2))
    else:
        for f in report.findings:
            flag = "UNDER-CLASSIFIED" if f.under_classified else "ok"
            typer.echo(
                f"{flag}\t{f.dataset}\t{f.column}\t{f.kind}\t{f.share:.0%} of {f.sampled}\t"
                f"holds {f.implied}, declared {f.declared or 'nothing'}"
            )
        typer.echo(
            f"{len(report.sampled)} datasets sampled, {len(report.skipped)} skipped, "
            f"{len(report.findings)} PII columns, {len(under)} under-classified"
        )
    if under:
        raise typer.Exit(code=1)
