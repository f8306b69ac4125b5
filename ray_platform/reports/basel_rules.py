"""The Basel III arithmetic, as pure functions over plain values (no lake, no I/O).

Kept apart from :mod:`ray_platform.reports.basel` (which reads the lake) so every figure can
be checked by hand against a tiny exposure table.

>>> w = {"exposure_classes": {"equity": 2.5}}
>>> risk_weight("equity", "n/a", w)
2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

UNRATED = "unrated"
CET1_MIN, TIER1_MIN, TOTAL_MIN = "cet1", "tier1", "total"

# Basel traffic-light plus factors for 250 backtesting days (BCBS, "Supervisory framework for
# the use of backtesting", 1996, Table 2): exceptions -> plus factor (10 or more: 1.0).
BACKTEST_PLUS = {5: 0.40, 6: 0.50, 7: 0.65, 8: 0.75, 9: 0.85}


@dataclass(frozen=True)
class Exposure:
    """One credit exposure after classification: EAD, its exposure class and risk weight."""

    source: str  # "position" (on balance sheet) or "derivative" (counterparty credit risk)
    desk: str | None
    isin: str | None
    asset_class: str
    exposure_class: str
    rating: str
    counterparty_lei: str | None
    ead: float
    risk_weight: float

    @property
    def rwa(self) -> float:
        """Risk-weighted amount: EAD x risk weight."""
        return self.ead * self.risk_weight


def risk_weight(exposure_class: str, rating: str, weights: dict[str, Any]) -> float:
    """The SA risk weight of an exposure class (and rating bucket, where the class has them)."""
    spec = weights["exposure_classes"][exposure_class]
    if isinstance(spec, dict):
        table = spec["by_rating"]
        return float(table.get(rating, table[UNRATED]))
    return float(spec)


def classify_position(row: dict[str, Any], weights: dict[str, Any]) -> Exposure | None:
    """The credit exposure of one valued position, or None when it carries none.

    ``row`` holds ``desk, isin, asset_class, mv`` (market value in the reporting currency),
    ``priced``, ``instrument_name``, ``country``, ``counterparty_lei`` and
    ``counterparty_type``. Short and unpriced positions carry no credit exposure here.
    """
    mv = row.get("mv")
    if not row.get("priced") or mv is None:
        return None
    asset = row.get("asset_class") or "unknown"
    ccr = weights["ccr"]
    base = {"desk": row.get("desk"), "isin": row.get("isin"), "asset_class": asset}
    if asset == "fx":  # PFE only: the forward's mark is not in the data
        ead = ccr["alpha"] * ccr["supervisory_factor"]["fx"] * abs(mv)
        return _counterparty_exposure(base, row, ead, weights) if ead > 0 else None
    if mv <= 0:
        return None
    if asset == "option":  # replacement cost only
        return _counterparty_exposure(base, row, ccr["alpha"] * mv, weights)
    if asset == "equity":
        cls, rating = "equity", "n/a"
    elif asset == "bond" and "treasury" in str(row.get("instrument_name") or "").lower():
        cls = "sovereign"
        rating = weights["sovereign_ratings"].get(row.get("country"), UNRATED)
    else:  # corporate bonds, and any asset class the weight table does not name
        cls, rating = "corporate", UNRATED
    return Exposure(
        "position",
        **base,
        exposure_class=cls,
        rating=rating,
        counterparty_lei=None,
        ead=float(mv),
        risk_weight=risk_weight(cls, rating, weights),
    )


def _counterparty_exposure(
    base: dict[str, Any], row: dict[str, Any], ead: float, weights: dict[str, Any]
) -> Exposure:
    kind = row.get("counterparty_type")
    cls = weights["counterparty_classes"].get(kind) or weights["ccr"]["default_counterparty_class"]
    return Exposure(
        "derivative",
        **base,
        exposure_class=cls,
        rating=UNRATED,
        counterparty_lei=row.get("counterparty_lei"),
        ead=float(ead),
        risk_weight=risk_weight(cls, UNRATED, weights),
    )


def backtest_plus_factor(exceptions: int | None) -> float:
    """The plus factor added to m_c for a year's backtesting exceptions (0 when unknown)."""
    if exceptions is None or exceptions < 5:
        return 0.0
    return BACKTEST_PLUS.get(exceptions, 1.0)


def market_risk_capital(
    var_by_day: Sequence[tuple[Any, float]],
    multiplier: float,
    plus: float = 0.0,
    average_days: int = 60,
) -> dict[str, Any]:
    """Internal-models capital: ``max(VaR_t-1, (m_c + plus) x mean of the last 60 VaRs)``.

    ``var_by_day`` are (as_of, 10-day 99 % VaR) pairs; the latest is ``VaR_t-1``.
    """
    ordered = sorted(var_by_day, key=lambda p: p[0])
    last = ordered[-average_days:]
    latest = float(last[-1][1])
    average = math.fsum(float(v) for _, v in last) / len(last)
    m = multiplier + plus
    return {
        "var_latest": latest,
        "var_latest_as_of": str(last[-1][0]),
        "var_average": average,
        "average_days_used": len(last),
        "multiplier": multiplier,
        "plus_factor": plus,
        "capital": max(latest, m * average),
    }


def capital_figures(
    exposures: Iterable[Exposure], market_capital: float | None, capital: dict[str, Any]
) -> dict[str, Any]:
    """RWA, the three capital ratios and the leverage ratio against their requirements."""
    exps = list(exposures)
    credit_rwa = math.fsum(e.rwa for e in exps)
    market_rwa = 12.5 * market_capital if market_capital is not None else 0.0
    rwa = credit_rwa + market_rwa
    funds = capital["own_funds"]
    cet1 = float(funds["cet1"])
    tier1 = cet1 + float(funds["at1"])
    total = tier1 + float(funds["tier2"])
    b = capital["buffers"]
    combined = float(b["conservation"]) + float(b["countercyclical"]) + float(b["gsib"])
    ratios = {}
    for key, amount in ((CET1_MIN, cet1), (TIER1_MIN, tier1), (TOTAL_MIN, total)):
        minimum = float(capital["minimums"][key])
        ratio = amount / rwa if rwa > 0 else None
        required = minimum + combined
        ratios[key] = {
            "capital": amount,
            "ratio": ratio,
            "minimum": minimum,
            "required_with_buffers": required,
            "meets_minimum": ratio is None or ratio >= minimum,
            "meets_with_buffers": ratio is None or ratio >= required,
        }
    lev = capital["leverage"]
    exposure_measure = math.fsum(e.ead for e in exps)
    lev_required = float(lev["minimum"]) + float(lev["gsib_buffer_share"]) * float(b["gsib"])
    lev_ratio = tier1 / exposure_measure if exposure_measure > 0 else None
    return {
        "credit_rwa": credit_rwa,
        "market_risk_capital": market_capital,
        "market_rwa": market_rwa,
        "total_rwa": rwa,
        "combined_buffer": combined,
        "ratios": ratios,
        "leverage": {
            "tier1": tier1,
            "exposure_measure": exposure_measure,
            "ratio": lev_ratio,
            "required": lev_required,
            "meets": lev_ratio is None or lev_ratio >= lev_required,
        },
    }
