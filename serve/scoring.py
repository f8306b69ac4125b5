"""The scoring core: features (online + on-demand + velocity) -> model -> decision + reasons.

Pure Python, no Ray: the HTTP replicas and the Kafka consumers both call :meth:`Scorer.score`,
and unit tests drive it with a fake feature source and a fake model::

    scorer = Scorer(features=StaticFeatures({}), config=ScoringConfig())
    [score] = scorer.score([txn], model)

Per batch: the stored features of each transaction's entities (one online-store read), the
streaming velocity windows merged over them (:mod:`serve.velocity`), the documented defaults
for what is still missing (``features.online.DEFAULTS``), the on-demand features
(``features.views.transaction_context``'s definitions, :func:`on_demand`), one model call for
probabilities and one for TreeSHAP contributions, then the decision from the configured
thresholds and velocity rules.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.views import MODEL_FEATURES, ON_DEMAND
from ray_platform import metrics
from serve.schemas import Reason, Score, Transaction
from serve.velocity import FEATURES as VELOCITY_FEATURES
from serve.velocity import VelocityState, merge


class VelocityRule(BaseModel):
    """Escalate when a stored-or-streaming feature reaches a count, whatever the model says."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    feature: str = Field(description="Feature name, e.g. card_txn_count_10m.")
    review_at: float | None = Field(None, description="Value at which to review at least.")
    decline_at: float | None = Field(None, description="Value at which to decline.")


class ScoringConfig(BaseModel):
    """Thresholds and limits: configuration (``serve/config.yaml`` user_config), not code."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    review_threshold: float = Field(0.5, ge=0, le=1, description="Probability to review.")
    decline_threshold: float = Field(0.9, ge=0, le=1, description="Probability to decline.")
    max_batch: int = Field(256, ge=1, le=10_000, description="Most transactions per batch call.")
    top_k: int = Field(3, ge=0, le=20, description="Reasons returned per score.")
    alert_budget: float = Field(
        0.01, gt=0, le=1, description="Share of transactions the review team can take."
    )
    rules: dict[str, VelocityRule] = Field(
        default_factory=lambda: {
            "card_burst_10m": VelocityRule(feature="card_txn_count_10m", review_at=8, decline_at=15)
        },
        description="Velocity rules by name; a hit escalates and adds flag rule:<name>.",
    )
    model_poll_s: float = Field(5.0, gt=0, description="Seconds between champion alias checks.")

    @model_validator(mode="after")
    def _ordered(self) -> ScoringConfig:
        if self.decline_threshold < self.review_threshold:
            raise ValueError("decline_threshold must be at least review_threshold")
        return self


class FeatureSource(Protocol):
    """Where stored features come from (the online store, or a dict in tests)."""

    def stored(self, rows: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """For each entity row, stored feature values by name (None when missing)."""
        ...


class Model(Protocol):
    """What the scorer needs of a loaded model (see :class:`serve.model_store.LoadedModel`)."""

    version: str

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Fraud probabilities for rows of :data:`MODEL_FEATURES`."""
        ...

    def explain(self, x: np.ndarray, k: int) -> list[list[tuple[str, float, float]]]:
        """Top ``k`` (feature, value, contribution) per row."""
        ...

    def predict_explain(
        self, x: np.ndarray, k: int
    ) -> tuple[np.ndarray, list[list[tuple[str, float, float]]]]:
        """``predict`` and ``explain`` together (one pass where the model allows it)."""
        ...


class StaticFeatures:
    """A feature source from a dict ``{(view_key): {feature: value}}`` keyed by entity id."""

    def __init__(self, by_entity: dict[str, dict[str, Any]]) -> None:
        self.by_entity = by_entity

    def stored(self, rows: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """Merge the features of each row's customer, card, merchant and device ids."""
        out = []
        for r in rows:
            f: dict[str, Any] = {}
            for key in ("customer_id", "card_id", "merchant_id", "device_id"):
                f |= self.by_entity.get(r.get(key) or "", {})
            out.append(f)
        return out


class Fx:
    """Units of each currency per 1 unit of the reporting currency's base (EUR)."""

    def __init__(self, per_base: dict[str, float], reporting: str = "EUR") -> None:
        self.per_base = per_base
        self.reporting = reporting

    def to_reporting(self, amount: float, currency: str) -> float:
        """``amount`` in the reporting currency, NaN without a rate."""
        src, tgt = self.per_base.get(currency), self.per_base.get(self.reporting)
        if not src or not tgt:
            return math.nan
        return amount / src * tgt


class AlertBudget:
    """Running share of transactions sent to review and decline, against the budget."""

    def __init__(self) -> None:
        self.counts = {"approve": 0, "review": 0, "decline": 0}
        self._lock = threading.Lock()

    def add(self, decision: str) -> None:
        """Count one decision."""
        with self._lock:
            self.counts[decision] += 1

    def report(self, budget: float) -> dict[str, Any]:
        """Counts, review share and whether it is within ``budget``."""
        with self._lock:
            c = dict(self.counts)
        total = sum(c.values())
        share = c["review"] / total if total else 0.0
        return {
            "scored": total,
            **c,
            "review_share": share,
            "alert_share": (c["review"] + c["decline"]) / total if total else 0.0,
            "alert_budget": budget,
            "within_budget": share <= budget,
        }


def decide(p: float, config: ScoringConfig) -> str:
    """Approve / review / decline from the probability alone."""
    if p >= config.decline_threshold:
        return "decline"
    if p >= config.review_threshold:
        return "review"
    return "approve"


_RANK = {"approve": 0, "review": 1, "decline": 2}


def apply_rules(
    decision: str, row: dict[str, float], config: ScoringConfig
) -> tuple[str, list[str]]:
    """Escalate ``decision`` by the velocity rules; returns it and the rule flags hit."""
    flags = []
    for name, rule in config.rules.items():
        v = row.get(rule.feature)
        if v is None or v != v:
            continue
        hit = None
        if rule.decline_at is not None and v >= rule.decline_at:
            hit = "decline"
        elif rule.review_at is not None and v >= rule.review_at:
            hit = "review"
        if hit:
            flags.append(f"rule:{name}")
            if _RANK[hit] > _RANK[decision]:
                decision = hit
    return decision, flags


class Scorer:
    """Scores batches of validated transactions; one per replica or consumer."""

    def __init__(
        self,
        features: FeatureSource,
        config: ScoringConfig | None = None,
        velocity: VelocityState | None = None,
        fx: Fx | None = None,
        erasures: Any = None,
    ) -> None:
        self.features = features
        self.config = config or ScoringConfig()
        self.velocity = velocity or VelocityState()
        # serve.erasures.ErasureWatch: GDPR erasures reach the in-memory windows
        self.erasures = erasures
        self.fx = fx or Fx(default_rates())
        self.budget = AlertBudget()

    def matrix(self, txns: Sequence[Transaction]) -> tuple[np.ndarray, list[list[str]]]:
        """The model's input rows for ``txns`` (columns :data:`MODEL_FEATURES`) and flags.

        Updates the velocity state as it goes, so a later transaction of the same card in the
        batch sees the earlier ones.
        """
        if self.erasures is not None:
            self.erasures.apply(self.velocity)
        rows = [
            {"customer_id": t.customer_id, "card_id": t.card_id, "merchant_id": t.merchant_id,
             "device_id": t.device_id or ""}
            for t in txns
        ]  # fmt: skip
        stored = self.features.stored(rows)
        x = np.empty((len(txns), len(MODEL_FEATURES)), dtype=np.float64)
        flags = []
        for i, (t, s) in enumerate(zip(txns, stored, strict=True)):
            f: list[str] = []
            if s.get("home_country") is None and s.get("segment_code") is None:
                f.append("unknown_customer")
            if s.get("card_txn_count_24h") is None and not self.velocity.seen(t.card_id):
                f.append("no_card_history")
            amount = self.fx.to_reporting(float(t.amount), t.currency)
            if amount != amount:
                f.append("no_fx_rate")
            stream = self.velocity.features(t.card_id, t.customer_id, t.timestamp)
            rec = merge({k: s.get(k) for k in _STORED}, stream)
            for name in _STORED:
                v = rec.get(name)
                x[i, _COL[name]] = _DEFAULTS.get(name, math.nan) if v is None or v != v else v
            x[i, _ON_DEMAND_COLS] = on_demand(
                amount, t, s.get("home_country"), s.get("first_open_day"),
                x[i, _COL["cust_amount_mean_30d"]], x[i, _COL["cust_amount_std_30d"]],
                x[i, _COL["cm_txn_count"]], x[i, _COL["cd_txn_count"]],
            )  # fmt: skip
            self.velocity.record(t.card_id, t.customer_id, t.timestamp, amount, t.channel == "ecom")
            flags.append(f)
        return x, flags

    def score(self, txns: Sequence[Transaction], model: Model) -> list[Score]:
        """Score ``txns`` with ``model`` (the caller holds it for the whole batch)."""
        began = time.perf_counter()
        x64, flags = self.matrix(txns)
        x = x64.astype(np.float32)
        if self.config.top_k:
            probs, reasons = model.predict_explain(x, self.config.top_k)
        else:
            probs, reasons = model.predict(x), [[]] * len(txns)
        elapsed = (time.perf_counter() - began) * 1000
        metrics.observe_many("gbank_fraud_score", probs, model_version=model.version)
        out = []
        # the rules read the velocity columns: one conversion for the batch, not per element
        velocity = x64[:, _VELOCITY_COLS].tolist()
        for i, t in enumerate(txns):
            p = float(probs[i])
            row = dict(zip(_VELOCITY_NAMES, velocity[i], strict=True))
            decision, hits = apply_rules(decide(p, self.config), row, self.config)
            self.budget.add(decision)
            out.append(
                Score(
                    transaction_id=t.transaction_id,
                    fraud_probability=p,
                    decision=decision,  # type: ignore[arg-type]
                    reasons=[
                        Reason(feature=n, value=None if v != v else v, contribution=c)
                        for n, v, c in reasons[i]
                    ],
                    model_version=model.version,
                    latency_ms=elapsed,
                    flags=flags[i] + hits,
                )
            )
        return out


_COL = {n: i for i, n in enumerate(MODEL_FEATURES)}
_STORED = tuple(n for n in MODEL_FEATURES if n not in ON_DEMAND)
_ON_DEMAND_COLS = [_COL[n] for n in ON_DEMAND]
_VELOCITY_NAMES = tuple(n for n in VELOCITY_FEATURES if n in _COL)
_VELOCITY_COLS = [_COL[n] for n in _VELOCITY_NAMES]
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _stored_defaults() -> dict[str, float]:
    from features.online import DEFAULTS

    return dict(DEFAULTS)


_DEFAULTS = _stored_defaults()


def on_demand(
    amount: float,
    t: Transaction,
    home: str | None,
    first_open_day: Any,
    mean_30d: float,
    std_30d: float,
    cm_count: float,
    cd_count: float,
) -> list[float]:
    """``features.views.transaction_context`` for one transaction, without pandas.

    The same definitions value for value (a unit test compares the two on random inputs), in
    the order of ``features.views.ON_DEMAND``; pandas costs milliseconds per request.
    """
    z = (amount - mean_30d) / max(std_30d, 1.0) if std_30d == std_30d else math.nan
    if z != z or math.isinf(z):
        z = 0.0
    ts = t.timestamp.astimezone(dt.UTC)
    days = (ts - _EPOCH).days
    first = _num(first_open_day)
    mcc = _num(t.mcc)
    cm = 0.0 if cm_count != cm_count else cm_count
    cd = 0.0 if cd_count != cd_count else cd_count
    values = {
        "amount_eur": 0.0 if math.isinf(amount) else amount,
        "amount_zscore": z,
        "is_foreign": float(home is not None and t.merchant_country != home),
        "is_ip_foreign": float(home is not None and t.ip_country != home),
        "is_ecommerce": float(t.channel == "ecom"),
        "hour_of_day": float(ts.hour),
        "is_new_merchant": float(cm <= 0),
        "is_new_device": float(cd <= 0),
        "account_age_days": float(days - first) if first == first else -1.0,
        "mcc_code": mcc if mcc == mcc else -1.0,
    }
    return [values[n] for n in ON_DEMAND]


def _num(v: Any) -> float:
    try:
        return float(v) if v is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def default_rates() -> dict[str, float]:
    """Units per EUR for every currency the bank's feeds carry (the generator's reference).

    Serving needs an FX rate in the request path without reading the lake; these are the
    reference rates the synthetic feeds are built on. Production loads the day's rates from
    silver ``fx_rates`` into :class:`Fx` at start-up (``serve.app`` does when the table exists).
    """
    from ray_platform.generator.reference import EUR_RATES

    return dict(EUR_RATES)
