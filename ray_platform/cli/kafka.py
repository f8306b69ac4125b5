"""``gbank kafka``: the local single-node Kafka broker."""

from __future__ import annotations

import time

import typer

from ray_platform.services.kafka import KafkaBroker

app = typer.Typer(help="Start, stop and inspect the local Kafka broker.", no_args_is_help=True)


@app.command()
def start(
    timeout: float = typer.Option(90.0, help="Seconds to wait for the broker to answer."),
) -> None:
    """Start the broker (fetching its jars on first use) and create the platform topics."""
    broker = KafkaBroker(start_timeout=timeout)
    began = time.monotonic()
    if broker.start():
        status = broker.status()
        typer.echo(
            f"Kafka broker started on {broker.bootstrap} in {time.monotonic() - began:.1f} s "
            f"(pid {status.pid}, log {status.log_file})"
        )
    else:
        typer.echo(f"Kafka broker already running on {broker.bootstrap}")


@app.command()
def stop(
    timeout: float = typer.Option(30.0, help="Seconds to wait after SIGTERM before SIGKILL."),
) -> None:
    """Stop the broker this home started; a broker that is not running is fine."""
    broker = KafkaBroker(stop_timeout=timeout)
    typer.echo("Kafka broker stopped" if broker.stop() else "Kafka broker was not running")


@app.command()
def status() -> None:
    """Say whether the broker runs; exit code 1 when it does not."""
    state = KafkaBroker().status()
    typer.echo(str(state))
    if not state.running:
        raise typer.Exit(code=1)


@app.command()
def topics() -> None:
    """List the broker's topics with their partition counts."""
    for name, partitions in KafkaBroker().topics().items():
        typer.echo(f"{name}\t{partitions}")
