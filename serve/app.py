"""The Ray Serve application ``fraud``: one FastAPI ingress deployment that scores in-replica.

``serve run serve/config.yaml`` (or ``serve run serve.app:app``) deploys it; ``serve deploy
serve/config.yaml`` sends it to a running cluster. Each replica holds the whole scoring path
(online-store client, velocity windows, the live model) so a request costs one hop: with the
HAProxy ingress (:mod:`serve.ingress`) that hop is HAProxy -> replica. Thresholds, batch limit
and rules are the deployment's ``user_config`` (:class:`serve.scoring.ScoringConfig`), changed
with ``serve deploy`` without restarting replicas.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from ray_platform.settings import Settings, get_settings
from serve.api import Runtime, make_api, set_process_runtime
from serve.erasures import ErasureWatch
from serve.features import FeastFeatures
from serve.model_store import MlflowSource, ModelStore, journal_path
from serve.schemas import Score, Transaction
from serve.scoring import Scorer, ScoringConfig

log = logging.getLogger(__name__)
api = make_api()


@serve.deployment(
    name="FraudService",
    max_ongoing_requests=64,
    ray_actor_options={"num_cpus": 0.5},
    health_check_period_s=5,
    # one log line per request costs as much as scoring it at 1,000 requests/s; every score is
    # returned with its model version, and the Kafka path keeps every result in fraud-scores
    logging_config={"enable_access_log": False},
)
@serve.ingress(api)
class FraudService:
    """One replica: features + velocity + model, following the champion alias."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        settings = get_settings()
        self.config = ScoringConfig(**(config or {}))
        self.features = FeastFeatures(settings)
        try:
            self.features.load()
        except Exception as exc:  # not ready: /health says so, the retry happens on use
            log.warning("online store not loaded: %s", exc)
        self.models = ModelStore(MlflowSource(settings), journal_path(settings))
        self.models.refresh()
        self.models.start(self.config.model_poll_s)
        self.scorer = Scorer(self.features, self.config, erasures=ErasureWatch(settings))
        set_process_runtime(
            Runtime(self.scorer, self.models, lambda: self.features.loaded, self.score_one)
        )

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.001)
    async def score_one(self, txns: list[Transaction]) -> list[Score]:
        """Concurrent single requests scored together: one feature read, one model call.

        The batch takes the live model once, so every transaction in it names that version.
        """
        return self.scorer.score(txns, self.models.current)

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Apply a new ``user_config`` (thresholds, limits, rules) in place."""
        self.config = ScoringConfig(**(config or {}))
        self.scorer.config = self.config

    def check_health(self) -> None:
        """Ray Serve's replica health: the replica is alive; readiness is ``GET /health``."""
        return None

    def __del__(self) -> None:
        """Stop the alias poller with the replica."""
        models = getattr(self, "models", None)
        if models is not None:
            models.stop()


def build_app(args: dict[str, Any] | None = None) -> serve.Application:
    """The application, with ``args`` as the scoring config (``serve run ... key=value``)."""
    return FraudService.bind(dict(args or {}))


app = build_app()

APP_NAME = "fraud"
HTTP_PORT = 8000
REPO = Path(__file__).resolve().parents[1]


def deploy(
    settings: Settings | None = None,
    config: dict[str, Any] | None = None,
    *,
    num_replicas: int = 1,
    num_cpus: float = 0.5,
    port: int = HTTP_PORT,
    tls: bool = False,
) -> str:
    """Deploy ``fraud`` to the connected cluster (``gbank serve up`` does); returns its URL.

    The replicas get ``settings`` as ``GBANK_*`` variables and the project on ``PYTHONPATH``,
    so they read the same home, registry and online store as the caller.
    """
    s = settings or get_settings()
    ScoringConfig(**(config or {}))  # refuse a bad config before deploying anything
    http: dict[str, Any] = {"host": "127.0.0.1", "port": port}
    if tls:
        # HTTPS through Serve's Python proxy only: see ray_platform/governance/auth.py for why
        # the HAProxy ingress cannot carry TLS in Ray 2.60.
        from ray_platform.governance.auth import serve_http_options

        http |= serve_http_options(s)
    serve.start(http_options=http)
    env = {**s.as_env(), "PYTHONPATH": str(REPO)}
    application = FraudService.options(
        num_replicas=num_replicas,
        user_config=dict(config or {}),
        ray_actor_options={"num_cpus": num_cpus, "runtime_env": {"env_vars": env}},
    ).bind()
    serve.run(application, name=APP_NAME, route_prefix="/", blocking=False)
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}"


def undeploy() -> None:
    """Delete the ``fraud`` application (the Serve instance keeps running)."""
    serve.delete(APP_NAME)
