"""``gbank mlflow-ui``: the MLflow server and UI on the configured backend."""

from __future__ import annotations

import typer

from ray_platform.services.mlflow import serve, server_command


def mlflow_ui(
    port: int = typer.Option(5000, help="Port of the UI on 127.0.0.1."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command, do not run it."),
) -> None:
    """Start the MLflow tracking server and UI (Ctrl-C stops it)."""
    if dry_run:
        typer.echo(" ".join(server_command(port=port)))
        return
    typer.echo(f"MLflow UI on http://127.0.0.1:{port} (Ctrl-C to stop)")
    raise typer.Exit(code=serve(port=port))
