"""``gbank lineage TABLE``: the runs and inputs a table came from, back to bronze files."""

from __future__ import annotations

import typer

from ray_platform import lineage as lin
from ray_platform.errors import NotFound
from ray_platform.tables import table_store


def lineage(
    table: str = typer.Argument(..., help="Table path in the lake, e.g. gold/daily_mcc_stats."),
    depth: int = typer.Option(8, min=1, max=32, help="How many steps upstream to follow."),
    user: str = typer.Option(None, "--user", help="Read as this user (default: settings.user)."),
    role: str = typer.Option(None, "--role", help="Read in this role (default: settings.role)."),
) -> None:
    """Show the upstream tables, runs and bronze files of TABLE."""
    from ray_platform.governance.access import authorize, cli_principal

    who = cli_principal(user, role)
    for dataset in ("platform.lineage", "platform.runs"):  # what the lineage is read from
        authorize(who, dataset, query=f"gbank lineage {table}").raise_if_denied()
    tree = lin.upstream(table.strip("/"), table_store(), max_depth=depth)
    if not tree.runs:
        raise NotFound(f"no recorded run wrote {table!r} (see `gbank lineage --help`)")
    typer.echo("\n".join(lin.render(tree)))
