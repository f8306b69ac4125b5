"""VaR, Expected Shortfall and their allocation to desks, from P&L samples or a covariance.

Conventions: P&L is positive for a gain; VaR and ES are reported as positive losses.

- Simulated (historical, Monte Carlo) VaR at confidence ``c`` is the ``c``-quantile of the loss
  sample with NumPy's ``method="higher"``: an observed loss, the ``ceil(c * (n - 1))``-th
  smallest (0-based). ES is the mean of the losses at or beyond VaR, so ES >= VaR always.
- Simulated component VaR per desk is the desk's mean loss in the firm's tail (losses at or
  beyond the firm VaR), scaled by VaR / ES: the components add up to the firm VaR exactly.
- Parametric VaR is ``z * sigma``, ES ``sigma * phi(z) / (1 - c)``; component VaR is the Euler
  allocation ``z * (delta_d' S delta) / sigma``, which adds up to the firm VaR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class RiskFigures:
    """Firm and per-desk VaR and ES at one confidence and horizon."""

    confidence: float
    var: float
    es: float
    desk_var: np.ndarray
    desk_es: np.ndarray
    component_var: np.ndarray

    def scaled(self, factor: float) -> RiskFigures:
        """Every figure times ``factor`` (square-root-of-time scaling)."""
        return RiskFigures(
            self.confidence,
            self.var * factor,
            self.es * factor,
            self.desk_var * factor,
            self.desk_es * factor,
            self.component_var * factor,
        )


def var_es(pnl: np.ndarray, confidence: float) -> tuple[float, float]:
    """VaR and ES of one P&L sample (positive numbers are losses)."""
    loss = -np.asarray(pnl, dtype=np.float64)
    var = float(np.quantile(loss, confidence, method="higher"))
    es = float(loss[loss >= var].mean())
    return var, es


def from_sample(desk_pnl: np.ndarray, confidence: float) -> RiskFigures:
    """Firm and desk figures from a (scenarios x desks) P&L sample."""
    desk_pnl = np.asarray(desk_pnl, dtype=np.float64)
    firm = desk_pnl.sum(axis=1)
    var, es = var_es(firm, confidence)
    per = [var_es(desk_pnl[:, d], confidence) for d in range(desk_pnl.shape[1])]
    tail = -firm >= var
    tail_mean = -desk_pnl[tail].mean(axis=0)  # adds up to ES
    comp = tail_mean * (var / es) if es != 0 else np.zeros(desk_pnl.shape[1])
    return RiskFigures(
        confidence,
        var,
        es,
        np.array([p[0] for p in per]),
        np.array([p[1] for p in per]),
        comp,
    )


def parametric(delta: np.ndarray, cov: np.ndarray, confidence: float) -> RiskFigures:
    """Delta-normal figures for sensitivities ``delta`` (factors x desks) and ``cov``."""
    z = float(norm.ppf(confidence))
    es_mult = float(norm.pdf(z)) / (1 - confidence)
    firm = delta.sum(axis=1)
    sd = cov @ firm
    sigma = float(np.sqrt(max(firm @ sd, 0.0)))
    desk_sigma = np.sqrt(np.clip(np.einsum("fd,fg,gd->d", delta, cov, delta), 0, None))
    comp = z * (delta.T @ sd) / sigma if sigma > 0 else np.zeros(delta.shape[1])
    return RiskFigures(
        confidence, z * sigma, es_mult * sigma, z * desk_sigma, es_mult * desk_sigma, comp
    )
