"""``gbank postgres``: the core-banking PostgreSQL and its Debezium change feed."""

from __future__ import annotations

import time

import typer

from ray_platform.services.connect import CDC_TOPICS, ConnectWorker
from ray_platform.services.postgres import PostgresServer

app = typer.Typer(
    help="Start, stop and load the core-banking PostgreSQL; run its Debezium CDC.",
    no_args_is_help=True,
)
cdc = typer.Typer(
    help="The Kafka Connect worker streaming core.customers and core.accounts to Kafka.",
    no_args_is_help=True,
)
app.add_typer(cdc, name="cdc")


@app.command()
def start() -> None:
    """Start PostgreSQL (installing Debian's package and creating the cluster on first use)."""
    server = PostgresServer()
    began = time.monotonic()
    if server.start():
        typer.echo(
            f"PostgreSQL started on {server.host}:{server.port} in "
            f"{time.monotonic() - began:.1f} s (log {server.log_file})"
        )
    else:
        typer.echo(f"PostgreSQL already running on {server.host}:{server.port}")


@app.command()
def stop() -> None:
    """Stop the PostgreSQL this home runs; one that is not running is fine."""
    typer.echo("PostgreSQL stopped" if PostgresServer().stop() else "PostgreSQL was not running")


@app.command()
def status() -> None:
    """Say whether PostgreSQL answers, with its connection string; exit code 1 when not."""
    server = PostgresServer()
    if not server.ready():
        typer.echo(f"PostgreSQL: stopped (data {server.data})")
        raise typer.Exit(code=1)
    typer.echo(f"PostgreSQL: running ({server.dsn()})")


@app.command()
def load(
    out: str | None = typer.Option(
        None, "--out", help="Landing root for the other feeds; default: the landing_uri setting."
    ),
    customers: int = typer.Option(1_000, "--customers", help="Customers in the initial load."),
    days: int = typer.Option(1, "--days", help="Business days to generate and apply."),
    start_date: str = typer.Option(
        "2026-01-05", "--start-date", help="First business date, YYYY-MM-DD."
    ),
    seed: int = typer.Option(42, "--seed", help="Random seed."),
) -> None:
    """Generate a bank whose core banking lives in PostgreSQL: changes go there, not to files."""
    from ray_platform.cli.generate import _start_date
    from ray_platform.generator import GeneratorConfig, generate_bank
    from ray_platform.generator.core_db import CoreBankingDB
    from ray_platform.settings import get_settings

    config = GeneratorConfig.checked(
        customers=customers, days=days, start_date=_start_date(start_date), seed=seed
    )
    server = PostgresServer()
    began = time.monotonic()
    report = generate_bank(
        out or get_settings().landing_uri, config, get_settings().s3_endpoint_url,
        core_db=CoreBankingDB(server.dsn()),
    )  # fmt: skip
    typer.echo(
        f"core banking loaded into {server.dsn()} and {len(report.files)} other files written "
        f"in {time.monotonic() - began:.1f} s"
    )


@cdc.command("start")
def cdc_start() -> None:
    """Start Kafka Connect (fetching its jars on first use) and register the Debezium connector."""
    worker = ConnectWorker()
    began = time.monotonic()
    started = worker.start()
    state, tasks = worker.connector_state()
    verb = "started" if started else "already running"
    typer.echo(
        f"Kafka Connect {verb} on {worker.url} ({time.monotonic() - began:.1f} s); connector "
        f"{state}, tasks {tasks}; topics {', '.join(CDC_TOPICS)}"
    )


@cdc.command("stop")
def cdc_stop() -> None:
    """Stop the Connect worker (its offsets are flushed; the replication slot keeps the WAL)."""
    stopped = ConnectWorker().stop()
    typer.echo("Kafka Connect stopped" if stopped else "Kafka Connect was not running")


@cdc.command("status")
def cdc_status() -> None:
    """The connector's and its task's state; exit code 1 unless both run."""
    state, tasks = ConnectWorker().connector_state()
    typer.echo(f"connector core-banking-cdc: {state}, tasks {tasks}")
    if state != "RUNNING" or not tasks or any(t != "RUNNING" for t in tasks):
        raise typer.Exit(code=1)
