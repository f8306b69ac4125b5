"""Delta-normal VaR: first-order sensitivities of each desk to every factor, and a covariance.

Sensitivities come from the same full-revaluation code as the simulations (central
differences of size ``BUMP`` per factor kind), so the linear and full models cannot disagree
about what a position is.
"""

from __future__ import annotations

import numpy as np

from ray_platform.risk.pricing import PricingModel

BUMP = {"EQ": 1e-4, "FX": 1e-4, "IR": 1e-5, "VOL": 1e-4}


def sensitivities(model: PricingModel) -> np.ndarray:
    """D P&L / d move, (factors x desks)."""
    n = model.n_factors
    if n == 0:
        return np.zeros((0, len(model.desks)))
    h = np.array([BUMP[name.split(":", 1)[0]] for name in model.factor_names])
    bumps = np.diag(h)
    up = np.asarray(model.pnl(bumps))
    down = np.asarray(model.pnl(-bumps))
    return (up - down) / (2 * h[:, None])
