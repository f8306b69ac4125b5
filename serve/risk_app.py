"""The Ray Serve application ``risk`` (route prefix ``/risk``): live positions and limits.

``GET /risk/positions`` returns every desk's live notional, delta, VaR estimate, P&L, limits,
current breaches and positions, and the trades held for unknown instruments; ``GET
/risk/limits`` the limits as loaded. Both read the position monitor actor
(:mod:`ray_platform.risk.live_monitor`), which this deployment starts when it is not running
yet, so ``serve deploy serve/config.yaml`` brings up the monitor too. The monitor is a single
named actor rather than state in the replicas: every replica then answers from one book.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from ray import serve

from ray_platform.risk.live_monitor import ACTOR_NAME, NAMESPACE, start_monitor
from ray_platform.settings import Settings, get_settings

APP_NAME = "risk"
ROUTE_PREFIX = "/risk"
REPO = Path(__file__).resolve().parents[1]
api = FastAPI(title="GlobalBank live risk", docs_url=None, redoc_url=None)


@serve.deployment(
    name="RiskService",
    num_replicas=1,
    ray_actor_options={"num_cpus": 0.1},
    logging_config={"enable_access_log": False},
)
@serve.ingress(api)
class RiskService:
    """Reads the position monitor; starts it (book from the lake) if it is missing."""

    def __init__(self, monitor: dict[str, Any] | None = None) -> None:
        options = dict(monitor or {})
        self.monitor = start_monitor(
            name=options.pop("name", ACTOR_NAME),
            namespace=options.pop("namespace", NAMESPACE),
            **options,
        )

    @api.get("/positions")
    async def positions(self) -> dict[str, Any]:
        """Every desk's live figures, limits and breaches, and the held trades."""
        return await self.monitor.positions.remote()

    @api.get("/limits")
    async def limits(self) -> dict[str, Any]:
        """The limits the monitor checks, as loaded from the limits file."""
        return await self.monitor.limits_doc.remote()


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The application; ``args`` may name the monitor actor (``name``, ``namespace``)."""
    return RiskService.bind(dict(args or {}))


app = build_app()


def deploy(
    settings: Settings | None = None,
    monitor: dict[str, Any] | None = None,
    *,
    port: int = 8000,
    num_cpus: float = 0.1,
) -> str:
    """Deploy ``risk`` at ``/risk`` on the connected cluster; returns its base URL.

    The replica (and the monitor actor it starts) get ``settings`` as ``GBANK_*`` variables and
    the project on ``PYTHONPATH``, like :func:`serve.app.deploy`.
    """
    s = settings or get_settings()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    env = {**s.as_env(), "PYTHONPATH": str(REPO)}
    application = RiskService.options(
        ray_actor_options={"num_cpus": num_cpus, "runtime_env": {"env_vars": env}},
    ).bind(dict(monitor or {}))
    serve.run(application, name=APP_NAME, route_prefix=ROUTE_PREFIX, blocking=False)
    return f"http://127.0.0.1:{port}{ROUTE_PREFIX}"
