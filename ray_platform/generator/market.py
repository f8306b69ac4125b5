"""Market data: closing prices, FX rates, yield curves, implied vols and indicators.

Equity returns follow a factor model (global, region and sector factors plus idiosyncratic
noise), every shock Student-t with 4 degrees of freedom, so returns are correlated and
fat-tailed. FX forwards follow the simulated FX rates, bonds a mean-reverting price around
par, options Black-Scholes on their underlying with the simulated implied volatility.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr

from ray_platform.generator import reference as ref

_REGION_OF = {c.code: c.region for c in ref.COUNTRIES}
_RATE_LEVEL = {"EUR": 2.2, "USD": 4.2, "GBP": 4.0, "JPY": 0.6, "CHF": 0.8}


def business_days_before(day: dt.date, n: int) -> list[dt.date]:
    """The ``n`` weekdays strictly before ``day``, oldest first."""
    out: list[dt.date] = []
    d = day
    while len(out) < n:
        d -= dt.timedelta(days=1)
        if d.weekday() < 5:
            out.append(d)
    return out[::-1]


def _t(rng: np.random.Generator, size: Any, scale: float, df: float = 4.0) -> np.ndarray:
    # Student-t scaled to standard deviation ``scale``.
    return rng.standard_t(df, size=size) * scale * np.sqrt((df - 2) / df)


@dataclass
class Market:
    """Simulated series on ``dates`` (history then run trading days)."""

    dates: list[dt.date]
    close: np.ndarray  # (dates, instruments)
    fx: np.ndarray  # (dates, currencies): units of currency per EUR
    fx_ccys: tuple[str, ...]
    rates: np.ndarray  # (dates, yield currencies, tenors), percent
    vols: np.ndarray  # (dates, underlyings, vol tenors)
    underlyings: list[str]


def simulate(
    instruments: list[dict[str, Any]],
    dates: list[dt.date],
    start: dt.date,
    rng: np.random.Generator,
) -> Market:
    """Simulate every series; sets each option's ``strike`` from its underlying on ``start``."""
    t_n, n = len(dates), len(instruments)
    fx_ccys = tuple(c for c in ref.CURRENCIES if c != ref.FX_BASE)
    fx = np.array([ref.EUR_RATES[c] for c in fx_ccys]) * np.exp(
        np.cumsum(_t(rng, (t_n, len(fx_ccys)), 0.005), axis=0)
    )
    fx_index = {c: i for i, c in enumerate(fx_ccys)}
    # factor model for equities
    glob = _t(rng, t_n, 0.009)
    region = {r: _t(rng, t_n, 0.005) for r in ref.REGIONS}
    sector = {s: _t(rng, t_n, 0.006) for s in ref.SECTORS}
    close = np.zeros((t_n, n))
    by_isin = {inst["isin"]: i for i, inst in enumerate(instruments)}
    for i, inst in enumerate(instruments):
        asset = inst["asset_class"]
        if asset == "equity":
            beta = rng.uniform(0.6, 1.4)
            r = (
                beta * glob
                + region[_REGION_OF[inst["country"]]]
                + sector[inst["sector"]]
                + _t(rng, t_n, rng.uniform(0.008, 0.02))
            )
            p0 = float(np.exp(rng.uniform(np.log(10), np.log(500))))
            if inst["currency"] in ("JPY",):
                p0 *= 100
            close[:, i] = p0 * np.exp(np.cumsum(r))
        elif asset == "bond":
            dev = np.zeros(t_n)
            shocks = _t(rng, t_n, 0.003)
            for k in range(1, t_n):  # mean-reverting around the issue premium
                dev[k] = 0.98 * dev[k - 1] + shocks[k]
            close[:, i] = np.clip(100 * np.exp(dev) + rng.uniform(-8, 8), 40, 160)
        elif asset == "fx":
            close[:, i] = fx[:, fx_index[inst["quote_currency"]]]
    underlyings = sorted(
        {inst["underlying_isin"] for inst in instruments if inst["underlying_isin"]}
    )
    vol_level = np.zeros((t_n, len(underlyings)))
    for j in range(len(underlyings)):
        v = np.zeros(t_n)
        shocks = _t(rng, t_n, 0.01)
        v[0] = rng.uniform(0.15, 0.45)
        for k in range(1, t_n):
            v[k] = v[k - 1] + 0.05 * (0.28 - v[k - 1]) + shocks[k]
        vol_level[:, j] = np.clip(v, 0.08, 1.5)
    term = np.array([0.02, 0.01, 0.0, -0.005])
    vols = np.clip(vol_level[:, :, None] + term[None, None, :], 0.05, 2.0)
    start_k = max(k for k, d in enumerate(dates) if d <= start) if dates[0] <= start else 0
    ordinals = np.array([d.toordinal() for d in dates])
    for i, inst in enumerate(instruments):
        if inst["asset_class"] != "option":
            continue
        u = by_isin[inst["underlying_isin"]]
        spot = close[:, u]
        strike = round(float(spot[start_k] * inst.pop("moneyness", 1.0)), 4)
        inst["strike"] = f"{strike:.4f}"
        sigma = vol_level[:, underlyings.index(inst["underlying_isin"])]
        expiry = dt.date.fromisoformat(inst["expiry"]).toordinal()
        tau = np.maximum(expiry - ordinals, 1) / 365.0
        d1 = (np.log(spot / strike) + (0.02 + sigma**2 / 2) * tau) / (sigma * np.sqrt(tau))
        d2 = d1 - sigma * np.sqrt(tau)
        disc = strike * np.exp(-0.02 * tau)
        if inst["option_type"] == "call":
            close[:, i] = spot * ndtr(d1) - disc * ndtr(d2)
        else:
            close[:, i] = disc * ndtr(-d2) - spot * ndtr(-d1)
    close = np.maximum(close, 0.000001)
    # yield curves: level and slope factors, fat-tailed daily moves in percentage points
    years = np.array(ref.TENOR_YEARS)
    shape = 1 - np.exp(-years / 3.0)
    rates = np.zeros((t_n, len(ref.YIELD_CURRENCIES), len(years)))
    for j, ccy in enumerate(ref.YIELD_CURRENCIES):
        level = _RATE_LEVEL[ccy] + np.cumsum(_t(rng, t_n, 0.04))
        slope = 0.6 + np.cumsum(_t(rng, t_n, 0.02))
        rates[:, j, :] = level[:, None] - 0.8 + slope[:, None] * shape[None, :] * 1.5
    return Market(dates, close, fx, fx_ccys, rates, vols, underlyings)


def indicator_values(region: str, day: dt.date, rng: np.random.Generator) -> dict[str, float]:
    """Slowly moving macro indicators for a region (monthly values, repeated daily)."""
    base = {"us": (2.2, 3.1, 4.1, 4.5), "eu": (1.1, 2.4, 6.3, 3.0), "apac": (3.8, 2.0, 3.6, 2.5)}
    noise = rng.normal(0, (0.3, 0.2, 0.2, 0.1))
    return {
        name: float(b + e) for name, b, e in zip(ref.INDICATORS, base[region], noise, strict=True)
    }
