"""One daily retrain: examples -> Feast-equivalent features -> Ray Train -> MLflow -> gate.

A window that cannot train (empty, or a single class) raises
:class:`~models.train.InsufficientData` before anything is registered, so the champion is
untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import numpy as np
import pandas as pd

from features.engineering import feature_versions
from features.views import MODEL_FEATURES
from models import registry
from models.dataset import LABEL, examples, training_frame
from models.metrics import evaluate, pr_curve
from models.monitoring import drift_report
from models.train import InsufficientData, TrainConfig, predict, time_split, train_local, train_ray
from ray_platform.settings import Settings, get_settings

log = logging.getLogger(__name__)
EXPERIMENT = "fraud-xgb"


def _plots(mlflow: Any, booster: Any, valid: pd.DataFrame, scores: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from models.explain import contributions

    y = valid[LABEL].to_numpy()
    if y.sum() > 0:
        p, r = pr_curve(y, scores)
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(r, p)
        ax.set(xlabel="recall", ylabel="precision", title="PR curve (holdout week)")
        mlflow.log_figure(fig, "plots/pr_curve.png")
        plt.close(fig)
    gain = booster.get_score(importance_type="gain")
    top = sorted(gain.items(), key=lambda kv: kv[1])[-20:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([k for k, _ in top], [v for _, v in top])
    ax.set(title="feature importance (gain)")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/feature_importance.png")
    plt.close(fig)
    sample = valid.sample(min(len(valid), 2000), random_state=0)
    contrib = contributions(booster, sample[list(MODEL_FEATURES)].to_numpy(), MODEL_FEATURES)
    mean_abs = np.abs(contrib[:, :-1]).mean(axis=0)
    order = np.argsort(mean_abs)[-20:]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.barh([MODEL_FEATURES[i] for i in order], mean_abs[order])
    ax.set(title="SHAP summary: mean |contribution| (log-odds)")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/shap_summary.png")
    plt.close(fig)


def retrain(
    run_date: dt.date,
    settings: Settings | None = None,
    *,
    config: TrainConfig | None = None,
    engine: str = "ray",
    frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Train, log, register and gate the model for ``run_date``; returns the summary.

    ``frame`` (labelled examples with features) skips the lake read, for tests.
    """
    import mlflow
    import xgboost as xgb
    from mlflow.models import infer_signature

    s = settings or get_settings()
    cfg = config or TrainConfig.load(s.fraud_config)
    first = run_date - dt.timedelta(days=cfg.training_days - 1)
    silver_version = None
    if frame is None:
        entity_df, silver_version = examples(first, run_date, s)
        if entity_df.empty:
            raise InsufficientData(f"no labelled transactions in {first}..{run_date}")
        frame = training_frame(entity_df, s)
    split = time_split(frame, run_date, cfg)  # raises before anything is registered

    result = train_ray(split, cfg) if engine == "ray" else train_local(split, cfg)
    booster = result.booster
    y_valid = split.valid[LABEL].to_numpy()
    scores = predict(booster, split.valid)
    metrics = evaluate(y_valid, scores, budget=cfg.alert_budget)
    train_scores = predict(booster, split.train)
    latest = split.valid[
        pd.to_datetime(split.valid["transaction_ts"], utc=True).dt.date == run_date
    ]
    drift = drift_report(
        split.train, latest, MODEL_FEATURES, train_scores=train_scores,
        latest_scores=predict(booster, latest) if len(latest) else train_scores,
    )  # fmt: skip

    mlflow.set_tracking_uri(s.mlflow_uri)
    mlflow.set_registry_uri(s.mlflow_uri)
    (s.home / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(
            EXPERIMENT, artifact_location=(s.home / "mlflow" / "artifacts").as_uri()
        )
    mlflow.set_experiment(EXPERIMENT)
    data_versions = {
        "silver/card_transactions": silver_version,
        "features_runs": feature_versions(s)[-3:],
    }
    with mlflow.start_run(run_name=f"fraud-xgb-{run_date}") as run:
        mlflow.log_params({k: str(v) for k, v in result.params.items()})
        mlflow.log_params({
            "run_date": run_date.isoformat(), "engine": result.engine,
            "train_days": f"{split.train_days[0]}..{split.train_days[1]}",
            "valid_days": f"{split.valid_days[0]}..{split.valid_days[1]}",
            "best_iteration": result.best_iteration, "num_features": len(MODEL_FEATURES),
        })  # fmt: skip
        mlflow.log_dict({"features": list(MODEL_FEATURES)}, "features.json")
        mlflow.log_dict(data_versions, "data_versions.json")
        mlflow.set_tag("data_versions", json.dumps(data_versions, default=str)[:4000])
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metrics({"train_seconds": result.seconds, "train_rows": len(split.train)})
        mlflow.log_metrics(drift.metrics())
        mlflow.set_tag("drift_alerts", ",".join(drift.alerts) or "none")
        _plots(mlflow, booster, split.valid, scores)
        sample = split.valid[list(MODEL_FEATURES)].head(5).astype("float32")
        info = mlflow.xgboost.log_model(
            booster, name="model", signature=infer_signature(sample, scores[:5]),
            input_example=sample,
        )  # fmt: skip
        c = registry.client(s.mlflow_uri)
        version = registry.register(c, info.model_uri, run.info.run_id, f"trained {run_date}")

        def score_champion(v: str) -> np.ndarray:
            model = mlflow.xgboost.load_model(f"models:/{registry.MODEL_NAME}/{v}")
            return model.predict(
                xgb.DMatrix(split.valid[list(MODEL_FEATURES)].to_numpy("float32"),
                            feature_names=list(MODEL_FEATURES))
            )  # fmt: skip

        decision = registry.promote(c, version, y_valid, scores, score_champion)
        mlflow.set_tag("promotion", "promoted" if decision.promoted else "rejected")
    return {
        "run_id": run.info.run_id,
        "version": version,
        "promoted": decision.promoted,
        "reasons": decision.reasons,
        "champion": registry.alias_version(c, registry.CHAMPION),
        "metrics": metrics,
        "train_rows": len(split.train),
        "valid_rows": len(split.valid),
        "train_seconds": round(result.seconds, 2),
        "engine": result.engine,
        "drift_alerts": drift.alerts,
        "psi_score": drift.score,
    }
