"""Serving the query API: in the foreground (``gbank api``) or on a background thread (demo).

HTTPS by default with :func:`ray_platform.governance.auth.uvicorn_ssl_options` (the configured
certificate, or the dev certificate for ``localhost``); ``tls=False`` serves plain HTTP on
loopback for local use.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from ray_platform.errors import ServiceError
from ray_platform.settings import Settings, get_settings


def _config(settings: Settings, tls: bool, **app_options: Any) -> Any:
    import uvicorn

    from ray_platform.api.app import create_app
    from ray_platform.governance.auth import uvicorn_ssl_options

    host, _, port = settings.api_address.rpartition(":")
    ssl = uvicorn_ssl_options(settings) if tls else {}
    return uvicorn.Config(
        create_app(settings, **app_options), host=host or "127.0.0.1", port=int(port),
        log_level="warning", **ssl,
    )  # fmt: skip


def url(settings: Settings, tls: bool = True) -> str:
    """The dashboard's address for ``settings.api_address``."""
    host, _, port = settings.api_address.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    return f"{'https' if tls else 'http'}://{host}:{port}/dashboard"


def serve(settings: Settings | None = None, *, tls: bool = True, **app_options: Any) -> None:
    """Serve the API in the foreground until interrupted."""
    import uvicorn

    uvicorn.Server(_config(settings or get_settings(), tls, **app_options)).run()


class BackgroundServer:
    """The API on a daemon thread; :meth:`stop` shuts it down."""

    def __init__(self, server: Any, thread: threading.Thread, address: str) -> None:
        self.server, self.thread, self.url = server, thread, address

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_background(
    settings: Settings | None = None, *, tls: bool = True, timeout_s: float = 30.0,
    **app_options: Any,
) -> BackgroundServer:  # fmt: skip
    """Start the API on a daemon thread and return once it listens (``.url`` is the page)."""
    import uvicorn

    s = settings or get_settings()
    server = uvicorn.Server(_config(s, tls, **app_options))
    thread = threading.Thread(target=server.run, name="gbank-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ServiceError(f"the query API did not start on {s.api_address}")
        time.sleep(0.05)
    return BackgroundServer(server, thread, url(s, tls))
