"""A local Redis server (Debian's ``redis-server``) for the production online store.

Data and log live under ``<settings.home>/redis/``; it listens on ``settings.redis_address``
(127.0.0.1:6379; the Ray GCS is on 6380). When ``redis-server`` is missing, :meth:`start`
installs Debian's package with ``apt-get install -y redis-server``::

    with RedisServer().running() as server:
        server.ping()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService
from ray_platform.settings import Settings, get_settings


def ensure_redis_server() -> str:
    """The ``redis-server`` binary, installing Debian's package if it is missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise ServiceError("redis-server is missing and apt-get is not available to install it")
    done = subprocess.run(
        [apt, "install", "-y", "--no-install-recommends", "redis-server"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )  # fmt: skip
    found = shutil.which("redis-server")
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ServiceError(
            "could not install redis-server with apt-get (run `apt-get update && apt-get "
            f"install -y redis-server` as root): {' | '.join(tail)}"
        )
    return found


class RedisServer(LocalService):
    """Start, stop and ping the local Redis; every method is safe to call repeatedly."""

    def __init__(self, settings: Settings | None = None, *, start_timeout: float = 30.0) -> None:
        self.settings = settings or get_settings()
        host, _, port = self.settings.redis_address.split(",")[0].partition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 6379)
        self.dir = self.settings.home / "redis"
        self.pid_file = self.dir / "redis.pid"
        self.log_file = self.dir / "redis.log"
        self.start_timeout = start_timeout

    def ping(self) -> bool:
        """Whether a Redis answers PING on the configured address."""
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> bool:
        """Start the server; False if one already answers on the address."""
        if self.ping():
            return False
        binary = ensure_redis_server()
        self.dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            binary, "--bind", self.host, "--port", str(self.port), "--dir", str(self.dir),
            "--daemonize", "yes", "--pidfile", str(self.pid_file),
            "--logfile", str(self.log_file), "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise ServiceError(f"redis-server did not start: {done.stderr.strip()}")
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.ping():
                return True
            time.sleep(0.2)
        raise ServiceError(
            f"redis-server did not answer on {self.host}:{self.port}; see {self.log_file}"
        )

    def stop(self) -> bool:
        """Stop the server this home started; False if it was not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True
