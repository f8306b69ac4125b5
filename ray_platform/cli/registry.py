"""``gbank registry``: the local schema registry (Apicurio, Confluent-compatible API)."""

from __future__ import annotations

import time

import typer

from ray_platform.services.registry import SchemaRegistry

app = typer.Typer(help="Start, stop and inspect the local schema registry.", no_args_is_help=True)


@app.command()
def start(
    timeout: float = typer.Option(120.0, help="Seconds to wait for the registry to answer."),
) -> None:
    """Start the registry, building it from Maven Central on first use."""
    registry = SchemaRegistry(start_timeout=timeout)
    began = time.monotonic()
    if registry.start():
        typer.echo(
            f"schema registry started on {registry.ccompat_url} in "
            f"{time.monotonic() - began:.1f} s (pid {registry.pid()}, log {registry.log_file})"
        )
    else:
        typer.echo(f"schema registry already answers on {registry.ccompat_url}")


@app.command()
def stop() -> None:
    """Stop the registry this home started; one that is not running is fine."""
    stopped = SchemaRegistry().stop()
    typer.echo("schema registry stopped" if stopped else "schema registry was not running")


@app.command()
def status() -> None:
    """Say whether the registry answers; exit code 1 when it does not."""
    registry = SchemaRegistry()
    if not registry.answers():
        typer.echo(f"schema registry: not answering on {registry.ccompat_url}")
        raise typer.Exit(code=1)
    typer.echo(f"schema registry: answering on {registry.ccompat_url} (pid {registry.pid()})")
