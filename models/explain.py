"""Why a transaction scored as it did: TreeSHAP contributions from XGBoost itself.

``Booster.predict(pred_contribs=True)`` returns, per row, one contribution per feature plus the
bias; they sum to the row's margin (log-odds), so each contribution is how far that feature
moved this transaction's log-odds from the average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Contribution:
    """One feature's push on a prediction, in log-odds."""

    feature: str
    value: float
    contribution: float


def contributions(booster: Any, features: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Per-row contributions, shape ``(rows, len(names) + 1)``, the bias last."""
    import xgboost as xgb

    dm = xgb.DMatrix(np.asarray(features, dtype=np.float32), feature_names=list(names))
    return booster.predict(dm, pred_contribs=True)


def top_contributions(
    booster: Any, features: np.ndarray, names: Sequence[str], k: int = 5
) -> list[list[Contribution]]:
    """For each row, the ``k`` features with the largest absolute contribution, largest first."""
    x = np.atleast_2d(np.asarray(features, dtype=np.float64))
    contribs = contributions(booster, x, names)[:, :-1]
    out = []
    for row, c in zip(x, contribs, strict=True):
        order = np.argsort(-np.abs(c), kind="stable")[:k]
        out.append([Contribution(names[i], float(row[i]), float(c[i])) for i in order])
    return out
