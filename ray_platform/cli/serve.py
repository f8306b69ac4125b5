"""``gbank serve``: the fraud scoring service on Ray Serve."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from serve.consumer import ConsumerGroup

app = typer.Typer(
    help="Deploy, inspect and remove the fraud scoring service.", no_args_is_help=True
)


@app.command("up")
def up(
    replicas: int = typer.Option(1, min=1, help="Scoring replicas."),
    haproxy: bool = typer.Option(True, help="Use Ray Serve's HAProxy ingress (apt installs it)."),
    bootstrap_model: bool = typer.Option(
        False, help="Register a synthetic champion when the registry has none (demo only)."
    ),
    tls: bool = typer.Option(
        False, help="Serve HTTPS (GBANK_TLS_* or a dev certificate); needs --no-haproxy."
    ),
) -> None:
    """Deploy the ``fraud`` application and wait until /health is ready."""
    from serve.service import up as serve_up

    st = serve_up(haproxy=haproxy, replicas=replicas, bootstrap_model=bootstrap_model,
                  tls=tls, echo=typer.echo)  # fmt: skip
    for line in st.lines():
        typer.echo(line)


@app.command("down")
def down() -> None:
    """Delete the ``fraud`` application and stop Serve."""
    from serve.service import down as serve_down

    serve_down()
    typer.echo("fraud service removed")


@app.command("status")
def status() -> None:
    """Health, live model and ingress; exit code 1 when not ready."""
    from serve.service import status as serve_status

    st = serve_status()
    for line in st.lines():
        typer.echo(line)
    if not st.healthy:
        raise typer.Exit(code=1)


consumers = typer.Typer(
    help="The Kafka scoring consumers: one detached Ray actor per partition of each card topic.",
    no_args_is_help=True,
)
app.add_typer(consumers, name="consumers")
_SOURCES_HELP = "Topic to score (repeatable; default: transactions, then transactions.json)."


def _groups(sources: list[str] | None) -> list[ConsumerGroup]:
    from ray_platform.settings import get_settings
    from serve.consumer import CARD_SOURCES, ConsumerConfig, ConsumerGroup
    from serve.service import connect

    settings = get_settings()
    connect(settings)
    return [ConsumerGroup(ConsumerConfig(source=s), settings) for s in sources or CARD_SOURCES]


@consumers.command("start")
def consumers_start(
    sources: list[str] = typer.Option(None, "--source", metavar="TOPIC", help=_SOURCES_HELP),  # noqa: B008 (repeatable)
) -> None:
    """Start the consumers not running yet; results go to fraud-scores and fraud-alerts."""
    for group in _groups(sources):
        started = group.start()
        source = group.config.source
        typer.echo(f"{source}: started partitions {started}" if started
                   else f"{source}: every partition already has its consumer")  # fmt: skip


@consumers.command("status")
def consumers_status(
    sources: list[str] = typer.Option(None, "--source", metavar="TOPIC", help=_SOURCES_HELP),  # noqa: B008 (repeatable)
) -> None:
    """Each running consumer's counts and lag; exit code 1 when a topic has none running."""
    missing = False
    for group in _groups(sources):
        source = group.config.source
        stats = group.stats()
        if not stats:
            typer.echo(f"{source}: no consumer running")
            missing = True
        for p, st in sorted(stats.items()):
            typer.echo(
                f"{source} p{p}: consumed {st['consumed']}, scored {st['scored']}, "
                f"alerts {st['alerts']}, dlq {st['dlq']}, lag {st['lag']}"
            )
    if missing:
        raise typer.Exit(code=1)


@consumers.command("stop")
def consumers_stop(
    sources: list[str] = typer.Option(None, "--source", metavar="TOPIC", help=_SOURCES_HELP),  # noqa: B008 (repeatable)
) -> None:
    """Stop the consumers cleanly (in-flight batches finish and commit)."""
    for group in _groups(sources):
        group.stop()
        typer.echo(f"{group.config.source}: consumers stopped")


@app.command("demo")
def demo(
    transactions: int = typer.Option(3000, min=1, help="Transactions to stream through Kafka."),
) -> None:
    """Deploy, score samples over HTTP, stream transactions through Kafka, print alerts."""
    from serve.demo import run

    summary = run(transactions=transactions, echo=typer.echo)
    typer.echo("RESULT " + json.dumps(summary))
