"""Fraud-model metrics on scores and 0/1 labels.

- ``roc_auc`` and ``pr_auc`` (average precision, the area under the precision-recall curve);
- ``recall_at_fpr``: the share of fraud caught when the threshold lets through at most ``fpr``
  of genuine transactions (0.1 % by default, the bank's tolerance for false alerts);
- ``precision_at_budget``: precision among the top ``budget`` share of transactions by score,
  i.e. what the fraud team sees when it reviews that many alerts;
- ``ece``: expected calibration error, the count-weighted mean gap between the mean score and
  the observed fraud rate over equal-width score bins.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ray_platform.errors import InvalidArgument


def _check(y: ArrayLike, s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y, dtype=np.int64)
    sc = np.asarray(s, dtype=np.float64)
    if yt.shape != sc.shape or yt.ndim != 1:
        raise InvalidArgument(f"labels {yt.shape} and scores {sc.shape} must be 1-D, same size")
    if yt.size == 0:
        raise InvalidArgument("no examples to score")
    return yt, sc


def roc_auc(y: ArrayLike, s: ArrayLike) -> float:
    """Area under the ROC curve (ties count one half), NaN with a single class."""
    yt, sc = _check(y, s)
    pos, neg = int(yt.sum()), int((1 - yt).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(sc, kind="mergesort")
    ranks = np.empty(len(sc))
    sorted_s = sc[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[yt == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def pr_auc(y: ArrayLike, s: ArrayLike) -> float:
    """Average precision: sum over thresholds of precision times the recall gained."""
    yt, sc = _check(y, s)
    pos = int(yt.sum())
    if pos == 0:
        return float("nan")
    order = np.argsort(-sc, kind="mergesort")
    ys, ss = yt[order], sc[order]
    tp = np.cumsum(ys)
    # one point per distinct threshold: the last index of each run of equal scores
    last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]
    tp_at, n_at = tp[last], last + 1
    precision = tp_at / n_at
    recall_gain = np.diff(np.r_[0, tp_at]) / pos
    return float((precision * recall_gain).sum())


def recall_at_fpr(y: ArrayLike, s: ArrayLike, fpr: float = 0.001) -> float:
    """Recall at the lowest threshold whose false-positive rate is at most ``fpr``."""
    yt, sc = _check(y, s)
    neg_scores = np.sort(sc[yt == 0])[::-1]
    pos_scores = sc[yt == 1]
    if len(neg_scores) == 0 or len(pos_scores) == 0:
        return float("nan")
    allowed = int(np.floor(fpr * len(neg_scores)))  # negatives allowed strictly above threshold
    # alert when score > threshold; threshold = the (allowed)-th highest negative score
    threshold = neg_scores[allowed] if allowed < len(neg_scores) else -np.inf
    return float((pos_scores > threshold).mean())


def precision_at_budget(y: ArrayLike, s: ArrayLike, budget: float = 0.001) -> float:
    """Precision among the top ``budget`` share of transactions by score (at least one)."""
    yt, sc = _check(y, s)
    k = max(1, round(budget * len(sc)))
    top = np.argsort(-sc, kind="mergesort")[:k]
    return float(yt[top].mean())


def ece(y: ArrayLike, s: ArrayLike, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width score bins."""
    yt, sc = _check(y, s)
    idx = np.clip((sc * bins).astype(int), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(sc[m].mean() - yt[m].mean())
    return float(total / len(sc))


def evaluate(
    y: ArrayLike, s: ArrayLike, *, fpr: float = 0.001, budget: float = 0.001
) -> dict[str, float]:
    """Every metric, by the name MLflow logs it under."""
    return {
        "roc_auc": roc_auc(y, s),
        "pr_auc": pr_auc(y, s),
        "recall_at_0_1pct_fpr" if fpr == 0.001 else f"recall_at_{fpr}_fpr": recall_at_fpr(
            y, s, fpr
        ),
        "precision_at_budget": precision_at_budget(y, s, budget),
        "ece": ece(y, s),
        "positives": float(np.asarray(y).sum()),
        "examples": float(np.asarray(y).size),
    }


def pr_curve(y: ArrayLike, s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each distinct threshold, highest threshold first."""
    yt, sc = _check(y, s)
    order = np.argsort(-sc, kind="mergesort")
    ys, ss = yt[order], sc[order]
    tp = np.cumsum(ys)
    last = np.r_[np.nonzero(np.diff(ss))[0], len(ss) - 1]
    return tp[last] / (last + 1), tp[last] / max(int(yt.sum()), 1)
