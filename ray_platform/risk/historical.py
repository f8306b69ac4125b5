"""Historical simulation: today's portfolio revalued under each past day's factor moves.

The window is the last ``window`` daily moves (``window + 1`` dates). The 10-day horizon is
reported two ways: from the overlapping 10-day moves inside the same observation period
(``window - 9`` scenarios) and as the 1-day figures times sqrt(10).
"""

from __future__ import annotations

import numpy as np

from ray_platform.risk.factors import FactorPanel
from ray_platform.risk.pricing import PricingModel


def historical_pnl(
    model: PricingModel, panel: FactorPanel, window: int, horizon: int = 1
) -> np.ndarray:
    """P&L per desk (scenarios x desks) under the moves of the last ``window`` days."""
    usable = min(window, len(panel.dates) - 1)
    levels = panel.levels[-(usable + 1) :]
    sub = FactorPanel(panel.dates[-(usable + 1) :], panel.names, levels)
    moves = sub.moves(horizon)
    return np.asarray(model.pnl(moves))


def effective_window(panel: FactorPanel, window: int) -> int:
    """The daily moves actually available for ``window`` (fewer when history is short)."""
    return min(window, len(panel.dates) - 1)
