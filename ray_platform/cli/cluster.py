"""``gbank cluster``: the local Ray cluster (head plus one worker on loopback)."""

from __future__ import annotations

import typer

from ray_platform.services.ray_cluster import LocalRayCluster

app = typer.Typer(help="Start, stop and inspect the local Ray cluster.", no_args_is_help=True)


@app.command("up")
def up() -> None:
    """Start a Ray head and one worker node on 127.0.0.1 (idempotent)."""
    cluster = LocalRayCluster()
    started = cluster.start()
    st = cluster.status()
    verb = "started" if started else "already running"
    typer.echo(f"Ray cluster {verb}: {st.alive_nodes} nodes, dashboard {st.dashboard_url}")


@app.command("down")
def down() -> None:
    """Stop the local Ray nodes (idempotent)."""
    LocalRayCluster().stop()
    typer.echo("Ray cluster stopped")


@app.command("status")
def status() -> None:
    """Show whether the cluster is up and how many nodes are alive."""
    st = LocalRayCluster().status()
    state = "running" if st.running else "not running"
    typer.echo(f"Ray cluster {state}: {st.alive_nodes} nodes alive, dashboard {st.dashboard_url}")
