"""Fraud model pieces on hand-made data: metrics, PSI, explanations, the registry gate."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.views import MODEL_FEATURES
from models import registry
from models.explain import contributions, top_contributions
from models.metrics import ece, pr_auc, precision_at_budget, recall_at_fpr, roc_auc
from models.monitoring import ALERT_PSI, drift_report, psi
from models.retrain import retrain
from models.train import InsufficientData, TrainConfig, time_split, train_local
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit
RUN_DATE = dt.date(2026, 1, 28)


def test_metrics_on_hand_made_scores():
    y = np.array([0, 0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.7, 0.9])
    assert roc_auc(y, s) == pytest.approx(7 / 8)
    # ranked: .9(1) .8(0) .7(1): AP = 1*0.5 + (2/3)*0.5
    assert pr_auc(y, s) == pytest.approx(0.5 + 1 / 3)
    assert recall_at_fpr(y, s, fpr=0.0) == pytest.approx(0.5)  # threshold 0.8: only 0.9 alerts
    assert recall_at_fpr(y, s, fpr=0.25) == pytest.approx(1.0)  # one negative may alert
    assert precision_at_budget(y, s, budget=1 / 3) == pytest.approx(0.5)
    assert ece(np.array([0, 1]), np.array([0.0, 1.0])) == pytest.approx(0.0)
    assert ece(np.array([0, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_psi_flags_a_shifted_sample_only():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 20_000)
    assert psi(base, rng.normal(0, 1, 5_000)) < 0.05
    assert psi(base, rng.normal(1.0, 1, 5_000)) > ALERT_PSI
    report = drift_report(
        {"a": base, "b": base}, {"a": rng.normal(0, 1, 5_000), "b": rng.normal(1.0, 1, 5_000)},
        ["a", "b"], train_scores=base, latest_scores=base + 2,
    )  # fmt: skip
    assert report.alerts == ["b", "score"]
    assert report.metrics()["psi_alerts"] == 2


def synthetic(n: int = 6_000, seed: int = 0, days: int = 14) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(0, 1, (n, len(MODEL_FEATURES))), columns=list(MODEL_FEATURES))
    logit = -5 + 2.5 * df["amount_zscore"] + 2.0 * df["card_txn_count_1h"]
    df["is_fraud"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    start = pd.Timestamp(RUN_DATE - dt.timedelta(days=days - 1), tz="UTC")
    df["transaction_ts"] = start + pd.to_timedelta(np.sort(rng.random(n)) * days, unit="D")
    return df


CFG = TrainConfig(training_days=14, validation_days=4, num_boost_round=40,
                  early_stopping_rounds=10, params={"max_depth": 3, "eta": 0.3})  # fmt: skip


def test_explanations_sum_with_bias_to_the_margin():
    split = time_split(synthetic(), RUN_DATE, CFG)
    booster = train_local(split, CFG).booster
    x = split.valid[list(MODEL_FEATURES)].head(20).to_numpy()
    import xgboost as xgb

    margin = booster.predict(xgb.DMatrix(x.astype("float32"), feature_names=list(MODEL_FEATURES)),
                             output_margin=True)  # fmt: skip
    c = contributions(booster, x, MODEL_FEATURES)
    assert np.allclose(c.sum(axis=1), margin, atol=1e-4)
    top = top_contributions(booster, x[:1], MODEL_FEATURES, k=3)[0]
    assert len(top) == 3
    assert abs(top[0].contribution) >= abs(top[1].contribution) >= abs(top[2].contribution)
    assert {t.feature for t in top} & {"amount_zscore", "card_txn_count_1h"}


@pytest.fixture
def mlflow_settings(tmp_path):
    return load_settings(home=tmp_path)


def test_gate_promotes_first_then_rejects_worse_then_accepts_better(mlflow_settings):
    s = mlflow_settings
    frame = synthetic()
    first = retrain(RUN_DATE, s, config=CFG, engine="local", frame=frame)
    assert first["promoted"] and first["champion"] == first["version"] == "1"
    c = registry.client(s.mlflow_uri)
    assert registry.alias_version(c, registry.CHALLENGER) == "1"

    # A worse model: training labels shuffled, the same holdout.
    worse = frame.copy()
    cut = pd.Timestamp(RUN_DATE - dt.timedelta(days=CFG.validation_days - 1), tz="UTC")
    train_rows = worse["transaction_ts"] < cut
    rng = np.random.default_rng(5)
    worse.loc[train_rows, "is_fraud"] = rng.permutation(worse.loc[train_rows, "is_fraud"].values)
    second = retrain(RUN_DATE, s, config=CFG, engine="local", frame=worse)
    assert not second["promoted"]
    assert registry.alias_version(c, registry.CHAMPION) == "1"
    assert registry.alias_version(c, registry.CHALLENGER) == "2"
    mv = c.get_model_version(registry.MODEL_NAME, "2")
    assert mv.tags["promotion.decision"] == "rejected"
    assert "not better" in mv.tags["promotion.reasons"] and "Promotion gate" in mv.description

    # A better one on the same holdout: the gate moves champion and says why.
    y = frame["is_fraud"].to_numpy()[-500:]
    good = y * 0.9 + 0.05
    decision = registry.promote(c, "2", y, good, lambda v: np.full(len(y), 0.5))
    assert decision.promoted and registry.alias_version(c, registry.CHAMPION) == "2"
    assert c.get_model_version(registry.MODEL_NAME, "2").tags["promotion.decision"] == "promoted"


def test_gate_rejects_worse_calibration():
    ok, reasons = registry.gate({"recall_at_0_1pct_fpr": 0.9, "ece": 0.05},
                                {"recall_at_0_1pct_fpr": 0.8, "ece": 0.01})  # fmt: skip
    assert not ok and "worse" in reasons[1]


@pytest.mark.parametrize("labels", [[], [0, 0, 0]])
def test_empty_or_single_class_window_fails_and_leaves_champion(mlflow_settings, labels):
    s = mlflow_settings
    retrain(RUN_DATE, s, config=CFG, engine="local", frame=synthetic())
    bad = synthetic(n=max(len(labels), 1) * 400).iloc[: len(labels) * 400].copy()
    bad["is_fraud"] = 0
    with pytest.raises(InsufficientData, match=r"no labelled|single class"):
        retrain(RUN_DATE, s, config=CFG, engine="local", frame=bad)
    c = registry.client(s.mlflow_uri)
    assert registry.alias_version(c, registry.CHAMPION) == "1"
    assert len(c.search_model_versions(f"name='{registry.MODEL_NAME}'")) == 1
