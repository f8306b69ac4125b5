"""Serving the query API in the foreground, on a thread, or as a detached process.

``gbank api`` serves in the foreground; :func:`start_background` on a daemon thread (tests,
embedding); :class:`ApiService` and :func:`start_detached` as a process that outlives its
starter (what ``gbank demo`` should run).

HTTPS by default with :func:`ray_platform.governance.auth.uvicorn_ssl_options` (the configured
certificate, or the dev certificate for ``localhost``); ``tls=False`` serves plain HTTP on
loopback for local use.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService
from ray_platform.settings import Settings, get_settings


def _config(settings: Settings, tls: bool, **app_options: Any) -> Any:
    import uvicorn

    from ray_platform.api.app import create_app
    from ray_platform.governance.auth import uvicorn_ssl_options

    host, _, port = settings.api_address.rpartition(":")
    ssl = uvicorn_ssl_options(settings) if tls else {}
    return uvicorn.Config(
        create_app(settings, **app_options), host=host or "127.0.0.1", port=int(port),
        log_level="warning", timeout_graceful_shutdown=3, **ssl,
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


class ApiService(LocalService):
    """``gbank api`` as a detached process that outlives its starter (what the demo runs).

    The pid and log live under ``<home>/api/``; the child gets the settings that locate the
    data (home, lake, Kafka, MLflow, policy, address) as ``GBANK_*`` variables, so it serves
    the same lake as its starter even when that one's settings came from keyword overrides.
    """

    def __init__(self, settings: Settings | None = None, *, tls: bool = True) -> None:
        self.settings = settings or get_settings()
        self.tls = tls
        self.dir = self.settings.home / "api"
        self.pid_file, self.log_file = self.dir / "api.pid", self.dir / "api.log"
        self._proc: subprocess.Popen[bytes] | None = None
        host, _, port = self.settings.api_address.rpartition(":")
        self.host, self.port = (host if host not in ("", "0.0.0.0") else "127.0.0.1"), int(port)

    @property
    def url(self) -> str:
        """The dashboard's address."""
        return url(self.settings, self.tls)

    def ping(self) -> bool:
        """Whether something listens on the API's address."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def start(self, timeout_s: float = 60.0) -> bool:
        """Start the process; False when the address already answers."""
        if self.ping():
            return False
        s = self.settings
        self.dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "GBANK_HOME": str(s.home),
            "GBANK_LAKE_URI": s.lake_uri,
            "GBANK_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "GBANK_MLFLOW_URI": s.mlflow_uri,
            "GBANK_ACCESS_POLICY": str(s.access_policy),
            "GBANK_API_ADDRESS": s.api_address,
        }
        if s.s3_endpoint_url:
            env["GBANK_S3_ENDPOINT_URL"] = s.s3_endpoint_url
        cmd = [sys.executable, "-m", "ray_platform.cli", "api", "--tls" if self.tls else "--no-tls"]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)  # fmt: skip
        self.pid_file.write_text(str(proc.pid))
        self._proc = proc
        deadline = time.monotonic() + timeout_s
        while not self.ping():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServiceError(f"the query API did not start: {' | '.join(tail)}")
            time.sleep(0.2)
        return True

    def stop(self) -> bool:
        """Stop the process this home started; False when none was running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if self._proc is not None and self._proc.pid == pid:  # our child: reap it, no zombie
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def start_detached(settings: Settings | None = None, *, tls: bool = True) -> str:
    """Start the API as its own process (or find it running); the dashboard's address."""
    service = ApiService(settings, tls=tls)
    service.start()
    return service.url
