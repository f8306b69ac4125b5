"""Bring the fraud service up and down on the local cluster (``gbank serve`` calls these).

:func:`up` prepares what a replica needs (HAProxy, the online store's registry, a champion),
starts the local Ray cluster with the ingress flags when it is not running, deploys ``fraud``
and waits for ``GET /health``. A cluster already running without the flags keeps Ray's Python
proxy: :func:`up` says so rather than restarting a cluster other work may be using.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray_platform.errors import InvalidArgument, ServiceError
from ray_platform.settings import Settings, get_settings


def _get(url: str, settings: Settings | None = None, timeout: float = 5.0) -> tuple[int, Any]:
    context = None
    if url.startswith("https://"):
        from ray_platform.governance.auth import client_context

        context = client_context(settings)
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@dataclass
class ServiceStatus:
    """What ``gbank serve status`` prints."""

    url: str
    healthy: bool
    health: dict[str, Any] | None
    model: dict[str, Any] | None
    ingress: str

    def lines(self) -> list[str]:
        """Human-readable summary."""
        if self.health is None:
            return [f"fraud service not answering at {self.url}"]
        m = self.model or {}
        return [
            f"fraud service at {self.url}: {self.health.get('status')} (ingress {self.ingress})",
            f"model {m.get('name')} v{m.get('version')} ({m.get('alias')}, run {m.get('run_id')})",
        ]


def connect(settings: Settings) -> None:
    """Join the local cluster as a driver with the project importable by workers."""
    import ray

    from serve.app import REPO

    if not ray.is_initialized():
        ray.init(
            address=f"127.0.0.1:{settings.ray_head_port}",
            namespace="gbank-fraud",
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO), **settings.as_env()}},
            log_to_driver=False,
        )


def up(
    settings: Settings | None = None,
    *,
    haproxy: bool = True,
    replicas: int = 1,
    bootstrap_model: bool = False,
    tls: bool = False,
    config: dict[str, Any] | None = None,
    timeout_s: float = 300.0,
    echo: Callable[[str], None] = print,
) -> ServiceStatus:
    """Deploy ``fraud`` and wait until it is ready; returns its status."""
    from ray_platform.services.ray_cluster import LocalRayCluster
    from serve import ingress
    from serve.app import deploy
    from serve.testing import ensure_champion, ensure_online_store

    s = settings or get_settings()
    if tls and haproxy:
        raise InvalidArgument(
            "TLS needs Serve's Python proxy (--no-haproxy): Ray's HAProxy ingress serves plain "
            "HTTP only; terminate TLS in front of it instead"
        )
    if haproxy:
        echo(f"HAProxy: {ingress.ensure_haproxy()}")
        ingress.export()
    cluster = LocalRayCluster(s)
    if cluster.status().alive_nodes >= 2:
        if haproxy and not ingress.check().haproxy_running:
            echo("note: the Ray cluster was already running; it keeps the ingress it started "
                 "with (restart it with `gbank cluster down` for HAProxy)")  # fmt: skip
    else:
        cluster.start()
    ensure_online_store(s)
    if bootstrap_model:
        echo(f"champion: fraud-xgb v{ensure_champion(s)}")
    connect(s)
    url = deploy(s, config, num_replicas=replicas, tls=tls)
    deadline = time.monotonic() + timeout_s
    st = status(s, url)
    while not st.healthy and time.monotonic() < deadline:
        time.sleep(2)
        st = status(s, url)
    if not st.healthy:
        raise ServiceError(f"fraud service not healthy after {timeout_s:.0f}s: {st.health}")
    return st


def status(settings: Settings | None = None, url: str = "http://127.0.0.1:8000") -> ServiceStatus:
    """Ask the running service for its health and model."""
    from serve import ingress

    mode = ingress.check().mode
    try:
        code, health = _get(f"{url}/health", settings)
    except (OSError, ValueError):
        return ServiceStatus(url, False, None, None, mode)
    model = None
    if code == 200:
        model = _get(f"{url}/model", settings)[1]
    return ServiceStatus(url, code == 200, health, model, mode)


def down(settings: Settings | None = None) -> None:
    """Delete the ``fraud`` application and stop Serve on the cluster."""
    from ray import serve

    connect(settings or get_settings())
    try:
        serve.delete("fraud")
    finally:
        serve.shutdown()
