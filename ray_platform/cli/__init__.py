"""The ``gbank`` command: a thin layer over the library, one module per noun.

Commands only parse arguments and call library functions. Every error, a bad argument included,
becomes one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from ray_platform.cli import (
    api,
    audit,
    auth,
    catalog,
    cluster,
    demo,
    dq,
    gdpr,
    generate,
    ingest,
    kafka,
    keys,
    lineage,
    market,
    mlflow_ui,
    ops,
    regions,
    registry,
    report,
    retention,
    sql,
)
from ray_platform.cli import backup as backup_cli
from ray_platform.cli import postgres as postgres_cli
from ray_platform.cli import serve as serve_cli
from ray_platform.errors import PlatformError

app = typer.Typer(
    name="gbank",
    help="GlobalBank data platform: lake, warehouse, risk and fraud on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("generate")(generate.generate)
app.command("demo")(demo.demo)
app.command("ingest")(ingest.ingest)
app.command("ingest-kafka")(ingest.ingest_kafka)
app.command("lineage")(lineage.lineage)
app.command("mlflow-ui")(mlflow_ui.mlflow_ui)
app.command("sql")(sql.sql)
app.command("api")(api.api)
app.command("report")(report.report)
app.add_typer(kafka.app, name="kafka")
app.add_typer(cluster.app, name="cluster")
app.add_typer(serve_cli.app, name="serve")
app.add_typer(catalog.app, name="catalog")
app.add_typer(audit.app, name="audit")
app.add_typer(gdpr.app, name="gdpr")
app.add_typer(keys.app, name="keys")
app.add_typer(retention.app, name="retention")
app.add_typer(dq.app, name="dq")
app.add_typer(auth.app, name="auth")
app.add_typer(regions.app, name="regions")
app.add_typer(registry.app, name="registry")
app.add_typer(market.app, name="market")
app.add_typer(postgres_cli.app, name="postgres")
app.command("backfill")(ops.backfill)
app.command("status")(ops.status)
app.command("backup")(backup_cli.backup_cmd)
app.command("restore")(backup_cli.restore_cmd)


def main() -> None:
    """Console entry point: run ``gbank`` with the process arguments and exit with its code."""
    sys.exit(run())


def run(argv: list[str] | None = None) -> int:
    """Run ``gbank`` with ``argv`` and return the exit code (tests call this directly)."""
    command = typer.main.get_command(app)
    try:
        # Without standalone mode click *returns* a command's typer.Exit instead of raising it.
        rv = command.main(args=argv, prog_name="gbank", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("gbank: aborted", err=True)
        return 130
    except TyperException as exc:  # bad arguments, unknown commands (typer's vendored click)
        if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
            typer.echo(exc.format_message(), err=True)
            return 2
        typer.echo(f"gbank: error: {exc.format_message()}", err=True)
        return getattr(exc, "exit_code", 2)
    except PlatformError as exc:
        typer.echo(f"gbank: error: {exc}", err=True)
        return exc.exit_code
    if isinstance(rv, typer.Exit):
        return rv.exit_code
    return rv if isinstance(rv, int) else 0
