"""``gbank api``: serve the query API and the dashboard."""

from __future__ import annotations

import typer


def api(
    address: str = typer.Option(None, "--address", help="host:port (default: settings)."),
    tls: bool = typer.Option(True, "--tls/--no-tls", help="HTTPS with the (dev) certificate."),
    detach: bool = typer.Option(False, "--detach", help="Run as a background process."),
    stop: bool = typer.Option(False, "--stop", help="Stop the background process."),
) -> None:
    """Serve the query API (OpenAPI at /openapi.json) and the dashboard at /dashboard."""
    from ray_platform.api.server import ApiService, serve, url
    from ray_platform.settings import get_settings, load_settings

    s = load_settings(api_address=address) if address else get_settings()
    if stop:
        typer.echo("stopped" if ApiService(s).stop() else "not running")
        return
    if detach:
        service = ApiService(s, tls=tls)
        started = service.start()
        typer.echo(f"dashboard: {service.url}" + ("" if started else " (already running)"))
        return
    typer.echo(f"dashboard: {url(s, tls)}  (API docs: {url(s, tls).removesuffix('dashboard')}docs)")
    serve(s, tls=tls)
