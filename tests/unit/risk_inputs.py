"""Inputs for the risk tests: a generated bank read into the silver tables' shape.

Until the silver zone lands, tests build ``silver/positions`` and the market data tables
from the generator's landing files themselves (typed columns, history rows inside
``silver/prices`` and friends), so the risk job can run end to end.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

from ray_platform.risk import data as rd
from ray_platform.tables import TableStore

FILES = {
    rd.PRICES: ("prices_history.csv", "prices.csv"),
    rd.FX_RATES: ("fx_history.csv", "fx_rates.csv"),
    rd.RATES: ("rates_history.csv", "rates.csv"),
    rd.IMPLIED_VOLS: ("implied_vols.csv",),
}


def _csv(path: Path) -> pa.Table:
    return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))


def landing_tables(landing: Path) -> dict[str, pa.Table]:
    """Every risk input table from a generator landing folder (all dates concatenated)."""
    out: dict[str, list[pa.Table]] = {}
    for name, files in FILES.items():
        for f in files:
            for p in sorted(landing.glob(f"market_data/*/{f}")):
                out.setdefault(name, []).append(_csv(p))
    for p in sorted(landing.glob("trading/*/positions.csv")):
        out.setdefault(rd.POSITIONS, []).append(_csv(p))
    rows = []
    for p in sorted(landing.glob("trading/*/instruments.xml")):
        for el in ET.parse(p).getroot():
            rows.append({child.tag: child.text for child in el})
    cols = sorted({k for r in rows for k in r})
    out[rd.INSTRUMENTS] = [pa.table({c: [r.get(c) for r in rows] for c in cols})]
    tables = {k: pa.concat_tables(v, promote_options="permissive") for k, v in out.items()}
    # typed like silver: dates as date32, amounts as decimals, a lineage column
    for name, t in tables.items():
        for col in ("date", "as_of", "maturity", "expiry"):
            if col in t.column_names:
                i = t.column_names.index(col)
                t = t.set_column(i, col, t.column(col).cast(pa.string()).cast(pa.date32()))
        for col, typ in (("close", pa.decimal128(18, 6)), ("rate", pa.decimal128(18, 6))):
            if col in t.column_names:
                i = t.column_names.index(col)
                t = t.set_column(i, col, t.column(col).cast(typ))
        tables[name] = t.append_column("_ingested_by", pa.array(["test"] * t.num_rows))
    return tables


def write_inputs(tables: TableStore, landing: Path) -> dict[str, int]:
    """Write the risk input tables into the lake (overwrite); their row counts."""
    counts = {}
    for name, t in landing_tables(landing).items():
        tables.write(name, t, mode="overwrite")
        counts[name] = t.num_rows
    return counts


def generate(landing: Path, days: int = 3, instruments: int = 120, seed: int = 7) -> dt.date:
    """Generate a small bank into ``landing``; its last business date."""
    from ray_platform.generator import GeneratorConfig, generate_bank

    start = dt.date(2026, 1, 5)
    cfg = GeneratorConfig(
        customers=30,
        days=days,
        instruments=instruments,
        history_days=520,
        start_date=start,
        seed=seed,
        card_txns_per_day=0.5,
    )
    generate_bank(str(landing), cfg)
    return max(
        start + dt.timedelta(days=k)
        for k in range(days)
        if (start + dt.timedelta(days=k)).weekday() < 5
    )


def business_days(end: dt.date, n: int) -> list[dt.date]:
    """``n`` weekdays ending on ``end``, oldest first."""
    out, d = [], end
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d -= dt.timedelta(days=1)
    return out[::-1]


def small_book(as_of: dt.date = dt.date(2026, 1, 7), days: int = 300, seed: int = 1):
    """A hand-made portfolio and market: EUR and USD equities, an option, a bond, an FX forward.

    Returns (Portfolio, MarketData, raw) where raw holds the tables for tests to edit.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    dates = business_days(as_of, days)
    eq = {
        "EQEUR0000001": ("EUR", 100.0),
        "EQUSD0000002": ("USD", 50.0),
        "EQEUR0000003": ("EUR", 20.0),
    }
    prices = {"date": [], "isin": [], "close": []}
    for isin, (_, p0) in eq.items():
        path = p0 * np.exp(np.cumsum(rng.normal(0, 0.015, days)))
        prices["date"] += dates
        prices["isin"] += [isin] * days
        prices["close"] += path.tolist()
    prices["date"] += dates
    prices["isin"] += ["BOND00000004"] * days
    prices["close"] += (100 + np.cumsum(rng.normal(0, 0.1, days))).tolist()
    fxp = 1.09 * np.exp(np.cumsum(rng.normal(0, 0.005, days)))
    fx = {"date": dates, "base": ["EUR"] * days, "quote": ["USD"] * days, "rate": fxp.tolist()}
    tenors = ("3M", "1Y", "2Y", "5Y", "10Y", "30Y")
    rates = {"date": [], "currency": [], "tenor": [], "rate": []}
    for ccy, lvl in (("EUR", 2.0), ("USD", 4.0)):
        level = lvl + np.cumsum(rng.normal(0, 0.03, days))
        for k, t in enumerate(tenors):
            rates["date"] += dates
            rates["currency"] += [ccy] * days
            rates["tenor"] += [t] * days
            rates["rate"] += (level + 0.1 * k).tolist()
    vols = {"date": [], "underlying_isin": [], "tenor": [], "vol": []}
    v = np.clip(0.25 + np.cumsum(rng.normal(0, 0.005, days)), 0.1, 0.6)
    for k, t in enumerate(("1M", "3M", "6M", "1Y")):
        vols["date"] += dates
        vols["underlying_isin"] += ["EQEUR0000001"] * days
        vols["tenor"] += [t] * days
        vols["vol"] += (v + 0.01 * k).tolist()
    instruments = _rows(
        [
            {
                "isin": "EQEUR0000001",
                "asset_class": "equity",
                "currency": "EUR",
                "sector": "tech",
                "country": "DE",
            },
            {
                "isin": "EQUSD0000002",
                "asset_class": "equity",
                "currency": "USD",
                "sector": "financials",
                "country": "US",
            },
            {
                "isin": "EQEUR0000003",
                "asset_class": "equity",
                "currency": "EUR",
                "sector": "energy",
                "country": "FR",
            },
            {
                "isin": "OPT000000005",
                "asset_class": "option",
                "currency": "EUR",
                "underlying_isin": "EQEUR0000001",
                "strike": "100.0",
                "expiry": (as_of + dt.timedelta(days=200)).isoformat(),
                "option_type": "call",
            },
            {
                "isin": "BOND00000004",
                "asset_class": "bond",
                "currency": "EUR",
                "coupon": "3.000",
                "maturity": dt.date(as_of.year + 7, 6, 15).isoformat(),
            },
            {
                "isin": "FXFWD0000006",
                "asset_class": "fx",
                "currency": "USD",
                "base_currency": "EUR",
                "quote_currency": "USD",
            },
        ]
    )
    positions = pa.Table.from_pylist(
        [
            {"desk": "EQ_CASH", "isin": "EQEUR0000001", "quantity": 1000},
            {"desk": "EQ_CASH", "isin": "EQUSD0000002", "quantity": 2000},
            {"desk": "EQ_DERIV", "isin": "EQEUR0000003", "quantity": -500},
            {"desk": "EQ_DERIV", "isin": "OPT000000005", "quantity": 300},
            {"desk": "RATES", "isin": "BOND00000004", "quantity": 1_000_000},
            {"desk": "FX", "isin": "FXFWD0000006", "quantity": 500_000},
        ]
    )
    raw = {
        "prices": pa.table(prices),
        "fx": pa.table(fx),
        "rates": pa.table(rates),
        "vols": pa.table(vols),
        "instruments": instruments,
        "positions": positions,
    }
    return (*build(as_of, raw), raw)


def _rows(rows: list[dict]) -> pa.Table:
    keys = sorted({k for r in rows for k in r})
    return pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in keys})


def build(as_of: dt.date, raw: dict[str, pa.Table]):
    """(Portfolio, MarketData) from raw tables."""
    pf = rd.Portfolio.from_arrow(as_of, raw["positions"], raw["instruments"])
    mk = rd.MarketData.from_arrow(as_of, raw["prices"], raw["fx"], raw["rates"], raw["vols"])
    return pf, mk
