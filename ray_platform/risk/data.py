"""The risk engine's inputs: the one module that reads the lake.

:func:`load_portfolio` and :func:`load_market` read the silver tables (``silver/positions``,
``silver/instruments``, ``silver/prices``, ``silver/fx_rates``, ``silver/rates``,
``silver/implied_vols``) and hand back plain, typed Arrow tables: dates as ``date32``, amounts
as ``float64`` (silver may store decimals), lineage columns (``_*``) and partition columns
dropped, one row per key (the last one read wins, so history files landed beside daily files
do not double count). Tests and benchmarks build :class:`Portfolio` and :class:`MarketData`
directly with :meth:`Portfolio.from_arrow` and :meth:`MarketData.from_arrow`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.errors import InvalidArgument, NotFound
from ray_platform.lake.layout import silver_table
from ray_platform.lineage import DatasetRef
from ray_platform.tables import TableStore

POSITIONS = silver_table("positions")
INSTRUMENTS = silver_table("instruments")
PRICES = silver_table("prices")
FX_RATES = silver_table("fx_rates")
RATES = silver_table("rates")
IMPLIED_VOLS = silver_table("implied_vols")
INPUT_TABLES = (POSITIONS, INSTRUMENTS, PRICES, FX_RATES, RATES, IMPLIED_VOLS)

_POSITION_COLS = {"desk": pa.string(), "isin": pa.string(), "quantity": pa.float64()}
_INSTRUMENT_COLS = {
    "isin": pa.string(),
    "asset_class": pa.string(),
    "currency": pa.string(),
    "country": pa.string(),
    "sector": pa.string(),
    "coupon": pa.float64(),
    "maturity": pa.date32(),
    "underlying_isin": pa.string(),
    "strike": pa.float64(),
    "expiry": pa.date32(),
    "option_type": pa.string(),
    "base_currency": pa.string(),
    "quote_currency": pa.string(),
}
_PRICE_COLS = {"date": pa.date32(), "isin": pa.string(), "close": pa.float64()}
_FX_COLS = {"date": pa.date32(), "base": pa.string(), "quote": pa.string(), "rate": pa.float64()}
_RATE_COLS = {
    "date": pa.date32(),
    "currency": pa.string(),
    "tenor": pa.string(),
    "rate": pa.float64(),
}
_VOL_COLS = {
    "date": pa.date32(),
    "underlying_isin": pa.string(),
    "tenor": pa.string(),
    "vol": pa.float64(),
}


def _cast(table: pa.Table, cols: dict[str, pa.DataType], what: str) -> pa.Table:
    """Keep ``cols`` (missing optional ones as nulls), cast each to its type."""
    out = {}
    for name, typ in cols.items():
        if name not in table.column_names:
            out[name] = pa.nulls(table.num_rows, typ)
            continue
        col = table.column(name)
        if pa.types.is_date(typ) and pa.types.is_string(col.type):
            col = pc.strptime(col, format="%Y-%m-%d", unit="s")
        try:
            out[name] = col.cast(typ)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidArgument(f"{what}: column {name!r} is not {typ}: {exc}") from None
    return pa.table(out)


def _last_per_key(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """One row per key: the last occurrence wins (stable, keeps first-seen key order)."""
    if table.num_rows == 0:
        return table
    idx = pa.array(range(table.num_rows), pa.int64())
    t = table.append_column("__i", idx)
    last = t.group_by(list(keys), use_threads=False).aggregate([("__i", "max")])
    keep = pc.sort_indices(last.column("__i_max"))
    return table.take(pc.take(last.column("__i_max"), keep))


@dataclass(frozen=True)
class Portfolio:
    """Desk positions on one date and the instruments they reference.

    ``positions``: desk, isin, quantity (units; bonds and FX forwards: face / EUR notional).
    ``instruments``: isin, asset_class (equity|bond|fx|option), currency, country, sector,
    coupon (percent), maturity, underlying_isin, strike, expiry, option_type,
    base_currency, quote_currency.
    """

    as_of: dt.date
    positions: pa.Table
    instruments: pa.Table

    @classmethod
    def from_arrow(cls, as_of: dt.date, positions: pa.Table, instruments: pa.Table) -> Portfolio:
        """Normalise raw Arrow tables (strings, decimals, extra columns are all fine)."""
        pos = _cast(positions, _POSITION_COLS, "positions")
        # Several rows for one desk and instrument are summed: they are one exposure.
        pos = pos.group_by(["desk", "isin"], use_threads=False).aggregate([("quantity", "sum")])
        pos = pos.rename_columns(["desk", "isin", "quantity"]).sort_by(
            [("desk", "ascending"), ("isin", "ascending")]
        )
        inst = _last_per_key(_cast(instruments, _INSTRUMENT_COLS, "instruments"), ["isin"])
        return cls(as_of, pos, inst)

    @property
    def desks(self) -> list[str]:
        """The desks holding positions, sorted."""
        return sorted(set(self.positions.column("desk").to_pylist()))


@dataclass(frozen=True)
class MarketData:
    """Market data up to and including ``as_of``, in long (date, key, value) form.

    ``fx`` rates are units of ``quote`` per one unit of ``base_currency`` (EUR); ``rates`` are
    zero rates in percent per (currency, tenor); ``vols`` implied volatilities as decimals per
    (underlying_isin, tenor).
    """

    as_of: dt.date
    prices: pa.Table
    fx: pa.Table
    rates: pa.Table
    vols: pa.Table
    base_currency: str = "EUR"

    @classmethod
    def from_arrow(
        cls,
        as_of: dt.date,
        prices: pa.Table,
        fx: pa.Table,
        rates: pa.Table,
        vols: pa.Table,
        base_currency: str = "EUR",
    ) -> MarketData:
        """Normalise raw Arrow tables and keep dates up to ``as_of``."""

        def clean(t: pa.Table, cols: dict[str, pa.DataType], keys: list[str], what: str):
            t = _cast(t, cols, what)
            t = t.filter(pc.less_equal(t.column("date"), pa.scalar(as_of, pa.date32())))
            return _last_per_key(t, keys)

        fx_t = clean(fx, _FX_COLS, ["date", "base", "quote"], "fx_rates")
        if fx_t.num_rows:
            base = pc.fill_null(fx_t.column("base"), base_currency)
            fx_t = fx_t.filter(pc.equal(base, base_currency))
        return cls(
            as_of,
            clean(prices, _PRICE_COLS, ["date", "isin"], "prices"),
            fx_t,
            clean(rates, _RATE_COLS, ["date", "currency", "tenor"], "rates"),
            clean(vols, _VOL_COLS, ["date", "underlying_isin", "tenor"], "implied_vols"),
            base_currency,
        )


def _read(tables: TableStore, name: str) -> pa.Table:
    if not tables.exists(name):
        raise NotFound(f"risk input table {name!r} is missing from the lake")
    t = tables.read(name)
    keep = [
        c for c in t.column_names if not c.startswith("_") and c not in ("year", "month", "day")
    ]
    return t.select(keep)


def load_portfolio(as_of: dt.date, tables: TableStore) -> Portfolio:
    """Positions on ``as_of`` (the latest position date on or before it) and instruments."""
    pos = _read(tables, POSITIONS)
    dates = _cast(pos, {"as_of": pa.date32()}, "positions").column("as_of")
    on_or_before = pc.less_equal(dates, pa.scalar(as_of, pa.date32()))
    latest = pc.max(pc.filter(dates, on_or_before)).as_py()
    if latest is None:
        raise NotFound(f"no positions on or before {as_of} in {POSITIONS}")
    pos = pos.filter(pc.equal(dates, pa.scalar(latest, pa.date32())))
    return Portfolio.from_arrow(as_of, pos, _read(tables, INSTRUMENTS))


def load_market(as_of: dt.date, tables: TableStore, base_currency: str = "EUR") -> MarketData:
    """Every market data point on or before ``as_of`` (history and daily rows alike)."""
    return MarketData.from_arrow(
        as_of,
        _read(tables, PRICES),
        _read(tables, FX_RATES),
        _read(tables, RATES),
        _read(tables, IMPLIED_VOLS),
        base_currency,
    )


def input_refs(tables: TableStore) -> tuple[DatasetRef, ...]:
    """The input tables with the versions read, for the lineage event."""
    return tuple(DatasetRef(n, tables.version(n)) for n in INPUT_TABLES if tables.exists(n))
