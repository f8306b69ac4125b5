"""The scoring core without Ray: decisions, velocity escalation, atomic model swaps."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import numpy as np
import pytest

from features.views import MODEL_FEATURES
from serve.model_store import LoadedModel, ModelStore
from serve.schemas import Transaction
from serve.scoring import Scorer, ScoringConfig, StaticFeatures, VelocityRule, decide
from serve.testing import sample_transaction
from serve.velocity import VelocityState, merge

pytestmark = pytest.mark.unit
COL = {n: i for i, n in enumerate(MODEL_FEATURES)}


class FakeModel:
    """Probability rises with the card's 10-minute count; contributions are the features."""

    def __init__(self, version: str = "1", slope: float = 0.1) -> None:
        self.version, self.slope = version, slope

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.clip(0.01 + self.slope * x[:, COL["card_txn_count_10m"]], 0, 1)

    def explain(self, x: np.ndarray, k: int) -> list[list[tuple[str, float, float]]]:
        return [[(n, float(r[COL[n]]), float(r[COL[n]])) for n in MODEL_FEATURES[:k]] for r in x]

    def predict_explain(self, x: np.ndarray, k: int) -> tuple[np.ndarray, list]:
        return self.predict(x), self.explain(x, k)


def txn(i: int, **kw: object) -> Transaction:
    return Transaction(**sample_transaction(i, **kw))


def test_decisions_follow_configured_thresholds() -> None:
    c = ScoringConfig(review_threshold=0.3, decline_threshold=0.8)
    assert [decide(p, c) for p in (0.1, 0.3, 0.79, 0.8)] == [
        "approve", "review", "review", "decline",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="decline_threshold"):
        ScoringConfig(review_threshold=0.9, decline_threshold=0.5)


def test_card_testing_burst_escalates_inside_the_burst() -> None:
    config = ScoringConfig(
        review_threshold=0.5,
        decline_threshold=0.95,
        rules={"burst": VelocityRule(feature="card_txn_count_10m", review_at=30, decline_at=12)},
    )
    scorer = Scorer(StaticFeatures({}), config)
    model = FakeModel()
    decisions = []
    for i in range(15):  # one card, a small ecom charge every 5 s
        t = txn(i, card_id="KBURST", amount="1.00", channel="ecom")
        [s] = scorer.score([t], model)
        decisions.append(s.decision)
    assert decisions[0] == "approve"
    first_review = decisions.index("review")
    assert first_review <= 6  # the model sees the stream: 5 earlier txns -> p = 0.51
    assert decisions[12] == "decline" and "rule:burst" in s.flags
    report = scorer.budget.report(config.alert_budget)
    assert report["scored"] == 15 and report["review"] >= 1 and report["decline"] >= 1


def test_velocity_windows_count_only_earlier_transactions() -> None:
    v = VelocityState()
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for s in (0, 60, 700, 4000):
        v.record("K", "C", t0 + dt.timedelta(seconds=s), 10.0, s == 60)
    f = v.features("K", "C", t0 + dt.timedelta(seconds=4000))
    assert f["card_txn_count_10m"] == 0  # the txn at 4000 is not before itself
    f = v.features("K", "C", t0 + dt.timedelta(seconds=1000))
    assert f["card_txn_count_10m"] == 1 and f["card_txn_count_1h"] == 3
    assert f["card_amount_sum_1h"] == 30.0 and f["card_ecom_count_1h"] == 1
    assert merge({"card_txn_count_1h": 9.0}, {"card_txn_count_1h": 3.0}) == {
        "card_txn_count_1h": 9.0
    }
    assert merge({"card_txn_count_1h": None}, {"card_txn_count_1h": 3.0})["card_txn_count_1h"] == 3


def test_unknown_customer_scored_with_defaults_and_flagged() -> None:
    known = {"C1": {"home_country": "GB", "segment_code": 1, "card_txn_count_24h": 2}}
    scorer = Scorer(StaticFeatures(known), ScoringConfig())
    a, b = scorer.score([txn(1, customer_id="C1"), txn(2, customer_id="NEW")], FakeModel())
    assert a.flags == [] and set(b.flags) >= {"unknown_customer", "no_card_history"}
    assert 0 <= b.fraud_probability <= 1 and len(b.reasons) == 3


def test_amount_converted_to_reporting_currency() -> None:
    scorer = Scorer(StaticFeatures({}), ScoringConfig())
    x, _ = scorer.matrix([txn(1, amount="160.00", currency="JPY")])
    assert x[0, COL["amount_eur"]] == pytest.approx(1.0)


def test_on_demand_matches_the_feast_definition() -> None:
    """The serving path's pandas-free on-demand features equal transaction_context's."""
    import pandas as pd

    from features.views import ON_DEMAND, transaction_context
    from serve.scoring import on_demand

    rng = np.random.default_rng(3)
    rows, ours = [], []
    for i in range(300):
        t = txn(
            i,
            amount=f"{rng.gamma(2, 40):.2f}",
            merchant_country=str(rng.choice(["GB", "DE", "US"])),
            ip_country=None if i % 7 == 0 else str(rng.choice(["GB", "NG"])),
            channel=str(rng.choice(["pos", "ecom", "atm"])),
            mcc=str(rng.choice(["5411", "7995"])),
            timestamp=f"2025-0{1 + i % 9}-1{i % 10}T{i % 24:02d}:15:00+05:30",
        )
        home = None if i % 5 == 0 else str(rng.choice(["GB", "DE"]))
        first = None if i % 11 == 0 else float(rng.integers(15000, 20000))
        mean = float("nan") if i % 4 == 0 else float(rng.gamma(2, 30))
        std = float("nan") if i % 4 == 0 else float(rng.choice([0.0, 0.5, 12.0]))
        cm, cd = float(rng.integers(0, 3)), float(rng.integers(0, 3))
        amount = float(t.amount)
        rows.append({"amount": amount, "cust_amount_mean_30d": mean, "cust_amount_std_30d": std,
                     "home_country": home, "merchant_country": t.merchant_country,
                     "ip_country": t.ip_country, "channel": t.channel,
                     "transaction_ts": t.timestamp, "cm_txn_count": cm, "cd_txn_count": cd,
                     "first_open_day": first,
                     "mcc": t.mcc})  # fmt: skip
        ours.append(on_demand(amount, t, home, first, mean, std, cm, cd))
    theirs = transaction_context(pd.DataFrame(rows))[list(ON_DEMAND)].to_numpy(dtype=float)
    np.testing.assert_allclose(np.asarray(ours), theirs, rtol=1e-12)


class FakeSource:
    """A registry whose alias the test moves; loading is slow to widen the race window."""

    def __init__(self) -> None:
        self.version = "1"
        self.loads = 0

    def alias_version(self) -> str:
        return self.version

    def load(self, version: str) -> LoadedModel:
        self.loads += 1
        time.sleep(0.05)
        return LoadedModel("fraud-xgb", version, "champion", f"run{version}", _Booster(version))


class _Booster:
    feature_names = list(MODEL_FEATURES)
    best_iteration = None

    def __init__(self, version: str) -> None:
        self.version = version

    def inplace_predict(self, x: np.ndarray, **kw: object) -> np.ndarray:
        time.sleep(0.001)
        return np.full(len(x), float(self.version) / 10)

    def predict(self, dm: object, pred_contribs: bool = False, **kw: object) -> np.ndarray:
        return np.ones((dm.num_row(), len(MODEL_FEATURES) + 1))  # type: ignore[attr-defined]


def test_model_swap_is_atomic_and_recorded(tmp_path) -> None:
    source = FakeSource()
    store = ModelStore(source, tmp_path / "switches.jsonl")
    assert store.refresh() and store.current.version == "1"
    assert not store.refresh() and source.loads == 1  # unchanged alias: no reload
    seen, errors, stop = [], [], threading.Event()

    def client() -> None:
        while not stop.is_set():
            m = store.current
            p = m.predict(np.zeros((1, len(MODEL_FEATURES)), np.float32))[0]
            if abs(p - float(m.version) / 10) > 1e-9:
                errors.append((m.version, p))
            seen.append(m.version)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    source.version = "2"
    store.start(0.01)
    deadline = time.monotonic() + 5
    while store.current.version != "2" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    stop.set()
    store.stop()
    for t in threads:
        t.join()
    assert not errors and {"1", "2"} <= set(seen)
    lines = [json.loads(x) for x in (tmp_path / "switches.jsonl").read_text().splitlines()]
    assert [(x["old_version"], x["new_version"]) for x in lines] == [(None, "1"), ("1", "2")]


def test_failed_load_keeps_the_live_model(tmp_path) -> None:
    source = FakeSource()
    store = ModelStore(source)
    store.refresh()

    def broken(version: str) -> LoadedModel:
        raise OSError("artifact store down")

    source.load = broken  # type: ignore[method-assign]
    source.version = "3"
    assert not store.refresh()
    assert store.current.version == "1" and "artifact store down" in (store.last_error or "")


def test_explain_matches_models_explain() -> None:
    from models.explain import top_contributions
    from serve.model_store import single_threaded
    from serve.testing import synthetic_booster

    booster = single_threaded(synthetic_booster(rounds=5))
    model = LoadedModel("fraud-xgb", "1", "champion", None, booster)
    x = np.random.default_rng(0).exponential(1, (20, len(MODEL_FEATURES))).astype(np.float32)
    theirs = top_contributions(booster, x, MODEL_FEATURES, 3)
    ours = model.explain(x, 3)
    for a, b in zip(ours, theirs, strict=True):
        assert [f for f, _, _ in a] == [c.feature for c in b]
        np.testing.assert_allclose([c for _, _, c in a], [c.contribution for c in b], rtol=1e-5)
    assert model.predict(x).shape == (20,)


def test_reasons_explain_the_returned_probability() -> None:
    # A booster stopped early scores with trees up to its best iteration; the reasons must come
    # from the same trees, so contributions + bias are the logit of the returned probability.
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, len(MODEL_FEATURES))).astype(np.float32)
    y = (x[:, 0] + rng.normal(scale=2.0, size=400) > 1).astype(int)
    dtrain = xgb.DMatrix(x[:300], label=y[:300], feature_names=list(MODEL_FEATURES))
    dvalid = xgb.DMatrix(x[300:], label=y[300:], feature_names=list(MODEL_FEATURES))
    booster = xgb.train({"objective": "binary:logistic", "eta": 0.5, "max_depth": 4}, dtrain,
                        num_boost_round=200, evals=[(dvalid, "v")], early_stopping_rounds=3,
                        verbose_eval=False)  # fmt: skip
    assert booster.best_iteration < booster.num_boosted_rounds() - 1
    model = LoadedModel("fraud-xgb", "1", "champion", "run", booster)
    p = model.predict(x[:20])
    k = len(MODEL_FEATURES)
    reasons = model.explain(x[:20], k)
    dm = xgb.DMatrix(x[:20], feature_names=list(MODEL_FEATURES))
    rng_ = (0, booster.best_iteration + 1)
    bias = booster.predict(dm, pred_contribs=True, iteration_range=rng_)[:, -1]
    margin = np.array([sum(c for _, _, c in r) for r in reasons]) + bias
    assert np.allclose(1 / (1 + np.exp(-margin)), p, atol=1e-5)
    # and the one-pass probability the scorer uses is the prediction itself
    p1, _ = model.predict_explain(x[:20], 3)
    assert np.allclose(p1, p, atol=1e-5)
