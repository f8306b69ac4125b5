"""Backtesting: daily VaR against realised P&L, as the Basel Committee's framework sets out.

- An *exception* is a day whose loss exceeds that day's VaR (``-pnl > var``).
- Kupiec's proportion-of-failures test: ``LR_POF = -2 ln[(1-p)^(n-x) p^x]
  + 2 ln[(1-x/n)^(n-x) (x/n)^x]``, chi-square with 1 degree of freedom, ``p = 1 - confidence``.
- Christoffersen's independence test on the exception sequence's transitions (n00, n01, n10,
  n11): ``LR_ind``, chi-square(1); ``LR_cc = LR_POF + LR_ind``, chi-square(2).
- The traffic light (Basel Committee, "Supervisory framework for the use of backtesting in
  conjunction with the internal models approach", 1996): for 250 days at 99 %, green 0-4
  exceptions, yellow 5-9, red 10 or more, with the plus-factor of :data:`PLUS_FACTOR`. For other
  sample sizes and levels the zones come from the same binomial rule the Committee used: green
  while the cumulative probability of that many exceptions is below 95 %, red from 99.99 %.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binom, chi2

from ray_platform.errors import InvalidArgument

PLUS_FACTOR = {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}
"""Basel plus-factor by number of exceptions in 250 days at 99 %; 10 or more: 1.00."""


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_pof(n: int, exceptions: int, confidence: float) -> tuple[float, float]:
    """Kupiec LR_POF and its chi-square(1) p-value."""
    if n <= 0 or not 0 <= exceptions <= n:
        raise InvalidArgument(f"need 0 <= exceptions <= n and n > 0, got {exceptions} of {n}")
    p, x = 1 - confidence, exceptions
    null = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    phat = x / n
    alt = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    lr = max(-2 * (null - alt), 0.0)
    return lr, float(chi2.sf(lr, 1))


def christoffersen_independence(hits: np.ndarray) -> tuple[float, float]:
    """Christoffersen LR_ind on a boolean exception series, and its chi-square(1) p-value."""
    h = np.asarray(hits, dtype=bool)
    if h.size < 2:
        return 0.0, 1.0
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum(~prev & ~cur))
    n01 = int(np.sum(~prev & cur))
    n10 = int(np.sum(prev & ~cur))
    n11 = int(np.sum(prev & cur))
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    null = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    alt = _xlogy(n00, 1 - pi0) + _xlogy(n01, pi0) + _xlogy(n10, 1 - pi1) + _xlogy(n11, pi1)
    lr = max(-2 * (null - alt), 0.0)
    return lr, float(chi2.sf(lr, 1))


def traffic_light(
    exceptions: int, days: int = 250, confidence: float = 0.99
) -> tuple[str, float | None]:
    """Basel zone (green, yellow, red) and plus-factor (None off the 250-day, 99 % table)."""
    standard = days == 250 and abs(confidence - 0.99) < 1e-12
    if standard:
        zone = "green" if exceptions <= 4 else "yellow" if exceptions <= 9 else "red"
        return zone, PLUS_FACTOR.get(exceptions, 1.0)
    cdf = float(binom.cdf(exceptions, days, 1 - confidence))
    zone = "green" if cdf < 0.95 else "red" if cdf >= 0.9999 else "yellow"
    return zone, None


@dataclass(frozen=True)
class BacktestResult:
    """The outcome of one backtest."""

    days: int
    confidence: float
    exceptions: int
    exception_rate: float
    kupiec_lr: float
    kupiec_p: float
    christoffersen_lr: float
    christoffersen_p: float
    cc_lr: float
    cc_p: float
    zone: str
    plus_factor: float | None

    def as_dict(self) -> dict[str, object]:
        """The result as a plain dict."""
        return asdict(self)


def backtest(var: np.ndarray, pnl: np.ndarray, confidence: float) -> BacktestResult:
    """Compare daily ``var`` (positive losses) with the realised ``pnl`` of the same days."""
    var, pnl = np.asarray(var, dtype=np.float64), np.asarray(pnl, dtype=np.float64)
    if var.shape != pnl.shape or var.ndim != 1 or var.size == 0:
        raise InvalidArgument("var and pnl must be 1-D series of the same, non-zero length")
    hits = -pnl > var
    n, x = int(var.size), int(hits.sum())
    lr_pof, p_pof = kupiec_pof(n, x, confidence)
    lr_ind, p_ind = christoffersen_independence(hits)
    zone, plus = traffic_light(x, n, confidence)
    cc = lr_pof + lr_ind
    return BacktestResult(
        n, confidence, x, x / n, lr_pof, p_pof, lr_ind, p_ind, cc, float(chi2.sf(cc, 2)), zone, plus
    )
