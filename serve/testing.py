"""A small synthetic ``fraud-xgb`` for tests, the demo and the benchmark.

When no trained champion exists (a fresh home, a unit of CI), :func:`register_synthetic` trains
a tiny XGBoost model on generated rows of :data:`features.views.MODEL_FEATURES` in which fraud
rises with card velocity, amount z-score and foreign use, logs it with MLflow's XGBoost flavour,
registers it as a version of ``fraud-xgb`` (``models.registry.register``) and, unless told
otherwise, points ``champion`` at it. The real model comes from ``models.train``; this one only
has the same inputs, so every serving path can be exercised without a lake.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.views import MODEL_FEATURES
from ray_platform.settings import Settings, get_settings


def synthetic_booster(seed: int = 0, rounds: int = 30) -> Any:
    """Train a small booster on synthetic rows; ``seed`` changes the model, not its inputs."""
    import xgboost as xgb

    rng = np.random.default_rng(seed)
    n = 4000
    names = list(MODEL_FEATURES)
    x = np.zeros((n, len(names)), dtype=np.float32)
    col = {name: i for i, name in enumerate(names)}
    x[:] = rng.exponential(1.0, x.shape)
    x[:, col["card_txn_count_10m"]] = rng.poisson(0.3, n)
    x[:, col["amount_zscore"]] = rng.normal(0, 1, n)
    x[:, col["is_foreign"]] = rng.integers(0, 2, n)
    burst = rng.random(n) < 0.05
    x[burst, col["card_txn_count_10m"]] = rng.integers(3, 30, burst.sum())
    logit = (
        -4.0
        + 0.6 * x[:, col["card_txn_count_10m"]]
        + 0.8 * x[:, col["amount_zscore"]]
        + 1.0 * x[:, col["is_foreign"]]
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    dm = xgb.DMatrix(x, label=y, feature_names=names)
    params = {"max_depth": 3, "eta": 0.3, "objective": "binary:logistic", "seed": seed}
    return xgb.train({**params, "nthread": 1}, dm, num_boost_round=rounds)


def register_synthetic(
    settings: Settings | None = None, *, seed: int = 0, champion: bool = True
) -> str:
    """Log, register and (by default) promote a synthetic model; returns its version."""
    import mlflow
    import mlflow.xgboost

    from models.registry import CHAMPION, MODEL_NAME, client, register

    s = settings or get_settings()
    (s.home / "mlflow").mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(s.mlflow_uri)
    mlflow.set_registry_uri(s.mlflow_uri)
    mlflow.set_experiment("fraud-serving-synthetic")
    booster = synthetic_booster(seed)
    with mlflow.start_run() as run:
        info = mlflow.xgboost.log_model(booster, name="model", model_format="ubj")
        mlflow.log_param("synthetic_seed", seed)
    c = client(s.mlflow_uri)
    version = register(c, info.model_uri, run.info.run_id, description=f"synthetic seed {seed}")
    if champion:
        c.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    return version


def ensure_champion(settings: Settings | None = None) -> str:
    """The champion's version, registering a synthetic one first if there is none."""
    from models.registry import CHAMPION, alias_version, client

    s = settings or get_settings()
    found = alias_version(client(s.mlflow_uri), CHAMPION)
    return found if found is not None else register_synthetic(s)


def ensure_online_store(settings: Settings | None = None) -> None:
    """Apply the Feast definitions to the online store if its registry does not exist yet."""
    from features.online import online_store_for
    from features.store import feast_dir

    s = settings or get_settings()
    if not (feast_dir(s) / "registry.db").exists():
        online_store_for(s).apply()


def sample_transaction(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid card-feed transaction as JSON, unique by ``i``."""
    import datetime as dt

    ts = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i)
    txn = {
        "transaction_id": f"T{i:012d}",
        "card_id": f"K{i % 500:08d}",
        "account_id": f"A{i % 500:09d}",
        "customer_id": f"C{i % 500:08d}",
        "merchant_id": f"M{i % 97:06d}",
        "merchant_name": "Corner Shop",
        "mcc": "5411",
        "merchant_country": "GB",
        "amount": "42.50",
        "currency": "GBP",
        "timestamp": ts.isoformat().replace("+00:00", "Z"),
        "channel": "pos",
        "device_id": f"D{i % 500:08d}",
        "ip_country": "GB",
    }
    return txn | overrides
