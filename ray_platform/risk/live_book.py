"""The live monitor's start-of-day book, read from the lake and the last nightly risk run.

Positions are silver ``positions`` on their latest date on or before ``as_of``; marks are each
instrument's latest close, FX the latest rates, vols the latest 1Y implied vol per underlying
(the nearest tenor when 1Y is missing). Each desk's VaR intensity is the last nightly run's
1-day VaR (method and confidence from the limits file) divided by the desk's gross notional
valued on that run's date with these same rules.
"""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc

from ray_platform.lake.layout import gold_table
from ray_platform.risk.data import load_market, load_portfolio
from ray_platform.risk.live_positions import Book, Instrument, Limits, PositionKeeper
from ray_platform.settings import Settings
from ray_platform.tables import TableStore, table_store

METRICS = gold_table("warehouse/fact_risk_metrics")


def book_from_lake(
    limits: Limits, as_of: dt.date | None = None, settings: Settings | None = None
) -> Book:
    """The book on ``as_of`` (default: the latest nightly risk date, else today)."""
    tables = table_store(settings)
    nightly = _nightly_var(tables, limits)
    day = as_of or (max(nightly[0]) if nightly[0] else dt.datetime.now(dt.UTC).date())
    portfolio = load_portfolio(day, tables)
    market = load_market(day, tables)
    instruments = {
        r["isin"]: Instrument(
            r["isin"], r["asset_class"], r["currency"], r.get("underlying_isin"),
            r.get("strike"), r.get("expiry"), r.get("option_type"),
        )
        for r in portfolio.instruments.to_pylist()
    }  # fmt: skip
    prices = _latest(market.prices.to_pylist(), ("isin",), "close")
    fx = _latest(market.fx.to_pylist(), ("quote",), "rate")
    vols: dict[str, float] = {}
    for row in sorted(market.vols.to_pylist(), key=lambda r: (r["date"], r["tenor"] == "1Y")):
        vols[row["underlying_isin"]] = float(row["vol"])
    positions: dict[tuple[str, str], float] = {}
    for r in portfolio.positions.to_pylist():
        positions[(r["desk"], r["isin"])] = float(r["quantity"])
    book = Book(day, instruments, positions, prices, fx, vols)
    if nightly[1]:
        gross = PositionKeeper(book, limits)
        for desk, var in nightly[1].items():
            notional = gross.desk_figures(desk)["notional"]
            if notional > 0:
                book.var_intensity[desk] = var / notional
    return book


def _nightly_var(tables: TableStore, limits: Limits) -> tuple[list[dt.date], dict[str, float]]:
    """(every nightly date, desk -> VaR on the latest) for the limits file's method."""
    if not tables.exists(METRICS):
        return [], {}
    m = tables.read(METRICS)
    m = m.filter(
        pc.and_(
            pc.and_(pc.equal(m["scope"], "desk"), pc.equal(m["method"], limits.var_method)),
            pc.and_(
                pc.equal(m["confidence"], limits.var_confidence), pc.equal(m["horizon_days"], 1)
            ),
        )
    )
    dates = sorted(set(m["as_of"].to_pylist()))
    if not dates:
        return [], {}
    last = m.filter(pc.equal(m["as_of"], dates[-1])).to_pylist()
    return dates, {r["desk"]: float(r["var"]) for r in last}


def _latest(rows: list[dict], keys: tuple[str, ...], value: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in sorted(rows, key=lambda r: r["date"]):
        if r[value] is not None:
            out[r[keys[0]]] = float(r[value])
    return out
