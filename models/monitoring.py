"""Drift monitoring: population stability index per feature and of the scores.

``PSI = sum((a - e) * ln(a / e))`` over bins fixed on the expected (training) sample: deciles of
its values (fewer bins where values repeat), with a small floor so empty bins stay finite.
Above :data:`ALERT_PSI` (0.2, the usual "significant shift" line) a feature is flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

ALERT_PSI = 0.2
_FLOOR = 1e-4


def psi(expected: ArrayLike, actual: ArrayLike, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (NaNs form their own bin)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.size == 0 or a.size == 0:
        return float("nan")
    finite = e[~np.isnan(e)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1))) if finite.size else []
    inner = np.asarray(edges[1:-1]) if len(edges) > 2 else np.asarray([])

    def shares(x: np.ndarray) -> np.ndarray:
        nan = np.isnan(x)
        counts = np.bincount(
            np.searchsorted(inner, x[~nan], side="right"), minlength=len(inner) + 1
        )
        return np.maximum(np.r_[counts, nan.sum()] / x.size, _FLOOR)

    pe, pa = shares(e), shares(a)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


@dataclass
class DriftReport:
    """PSI per feature and of the scores, with what crossed the alert line."""

    features: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    threshold: float = ALERT_PSI

    @property
    def alerts(self) -> list[str]:
        """Features (and ``score``) whose PSI is above the threshold."""
        out = [n for n, v in self.features.items() if v > self.threshold]
        if self.score is not None and self.score > self.threshold:
            out.append("score")
        return out

    def metrics(self) -> dict[str, float]:
        """Flat ``psi_<feature>`` metrics for MLflow."""
        m = {f"psi_{n}": v for n, v in self.features.items() if np.isfinite(v)}
        if self.score is not None:
            m["psi_score"] = self.score
        m["psi_alerts"] = float(len(self.alerts))
        return m


def drift_report(
    train: Mapping[str, ArrayLike],
    latest: Mapping[str, ArrayLike],
    features: Sequence[str],
    *,
    train_scores: ArrayLike | None = None,
    latest_scores: ArrayLike | None = None,
    threshold: float = ALERT_PSI,
) -> DriftReport:
    """PSI of each feature (and of the scores) between the training window and the latest day."""
    report = DriftReport(threshold=threshold)
    for name in features:
        report.features[name] = psi(train[name], latest[name])
    if train_scores is not None and latest_scores is not None:
        report.score = psi(train_scores, latest_scores)
    return report
