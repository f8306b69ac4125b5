"""``gbank serve``: the fraud scoring service on Ray Serve."""

from __future__ import annotations

import json

import typer

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


@app.command("demo")
def demo(
    transactions: int = typer.Option(3000, min=1, help="Transactions to stream through Kafka."),
) -> None:
    """Deploy, score samples over HTTP, stream transactions through Kafka, print alerts."""
    from serve.demo import run

    summary = run(transactions=transactions, echo=typer.echo)
    typer.echo("RESULT " + json.dumps(summary))
