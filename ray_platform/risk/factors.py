"""The risk-factor panel: one time series per factor, on one calendar, with the missing-price rule.

Factors are named ``EQ:<isin>`` (equity price), ``FX:<ccy>`` (units of ``ccy`` per EUR),
``IR:<ccy>:<tenor>`` (zero rate, decimal) and ``VOL:<underlying isin>:<tenor>`` (implied vol,
decimal). A factor *move* is a log return for EQ and FX and an absolute change for IR and VOL.

The missing-price rule (documented in ``docs/risk.md``):

1. The calendar is every date on which any market data was published, up to ``as_of``
   (``as_of`` itself is always on it). A date on which a factor has no quote (a holiday in its
   market, a feed gap), or a non-positive price, FX rate or vol, is a *missing* point.
2. A missing point is filled by carrying the last quote forward when the gap is at most
   ``max_stale_days`` calendar rows; every filled point is reported (``filled``), never
   silently, and never with zero. A carried-forward quote gives a zero move on that date.
3. An equity or FX quote that stays exactly unchanged for more than ``max_stale_days`` rows is
   *stale* and treated as a gap that is too long.
4. A factor with a gap too long to fill, or with no quote before the window starts, is
   excluded (``excluded``); every position that depends on it is listed as unpriced.
   The one exception: an implied vol quoted only recently (the feed has no vol history) is
   held at its first quote before that date (``no_history``): options stay priced, their vega
   is then left out of the simulated and parametric VaR (stress scenarios still move it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ray_platform.risk.data import MarketData

KINDS = ("EQ", "FX", "IR", "VOL")
_TENOR = re.compile(r"^(\d+)([DWMY])$")
_UNIT_YEARS = {"D": 1 / 365.0, "W": 7 / 365.0, "M": 1 / 12.0, "Y": 1.0}


def tenor_years(tenor: str) -> float:
    """``3M`` -> 0.25, ``10Y`` -> 10.0."""
    m = _TENOR.match(tenor.strip().upper())
    if not m:
        raise ValueError(f"unknown tenor {tenor!r}")
    return int(m.group(1)) * _UNIT_YEARS[m.group(2)]


@dataclass(frozen=True)
class DataIssue:
    """One reported market-data problem (a filled point, a stale run, an excluded factor)."""

    factor: str
    kind: str  # filled | no_history | excluded
    date: dt.date | None
    detail: str


@dataclass
class FactorPanel:
    """Levels of every factor on one calendar, after the missing-price rule."""

    dates: list[dt.date]
    names: list[str]
    levels: np.ndarray  # (dates, factors), filled
    issues: list[DataIssue] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {n: i for i, n in enumerate(self.names)}
        self.kinds = np.array([n.split(":", 1)[0] for n in self.names])

    def has(self, name: str) -> bool:
        """Whether ``name`` is a usable factor."""
        return name in self._index

    def index(self, name: str) -> int:
        """Column of factor ``name``."""
        return self._index[name]

    @property
    def current(self) -> np.ndarray:
        """Levels on the last date (``as_of``)."""
        return self.levels[-1]

    @property
    def log_kind(self) -> np.ndarray:
        """True where a factor moves by log return (EQ, FX), else by absolute change."""
        return np.isin(self.kinds, ("EQ", "FX"))

    def moves(self, horizon: int = 1, last: int | None = None) -> np.ndarray:
        """Overlapping ``horizon``-day moves, oldest first, optionally only the ``last`` rows."""
        lv = self.levels
        a, b = lv[horizon:], lv[:-horizon]
        out = a - b
        logk = self.log_kind
        out[:, logk] = np.log(a[:, logk] / b[:, logk])
        return out if last is None else out[-last:]

    def names_of(self, kind: str) -> list[str]:
        """Factor names of one kind."""
        return [n for n in self.names if n.startswith(kind + ":")]


def _series(market: MarketData) -> Iterable[tuple[str, pa.Table]]:
    """(factor name, table(date, value)) for every series in the market data."""

    def grouped(t: pa.Table, keys: list[str], value: str, fmt):
        if t.num_rows == 0:
            return
        cols = [t.column(k).to_pylist() for k in keys]
        dates = t.column("date").to_pylist()
        vals = t.column(value).to_numpy(zero_copy_only=False)
        acc: dict[str, tuple[list, list]] = {}
        for i, key in enumerate(zip(*cols, strict=True)):
            if any(k is None for k in key):
                continue
            d, v = acc.setdefault(fmt(*key), ([], []))
            d.append(dates[i])
            v.append(vals[i])
        yield from acc.items()

    yield from grouped(market.prices, ["isin"], "close", lambda i: f"EQ:{i}")
    yield from grouped(market.fx, ["quote"], "rate", lambda c: f"FX:{c}")
    yield from grouped(market.rates, ["currency", "tenor"], "rate", lambda c, t: f"IR:{c}:{t}")
    yield from grouped(
        market.vols, ["underlying_isin", "tenor"], "vol", lambda u, t: f"VOL:{u}:{t}"
    )


def available_factors(market: MarketData) -> dict[str, list[str]]:
    """Tenors quoted per curve (``IR:<ccy>``) and per vol surface (``VOL:<isin>``)."""
    out: dict[str, set[str]] = {}
    for t, keys, prefix in (
        (market.rates, ("currency", "tenor"), "IR"),
        (market.vols, ("underlying_isin", "tenor"), "VOL"),
    ):
        if t.num_rows == 0:
            continue
        for a, b in zip(t.column(keys[0]).to_pylist(), t.column(keys[1]).to_pylist(), strict=True):
            if a is not None and b is not None:
                out.setdefault(f"{prefix}:{a}", set()).add(b)
    return {k: sorted(v, key=tenor_years) for k, v in out.items()}


def build_panel(
    market: MarketData,
    wanted: Iterable[str],
    observations: int,
    max_stale_days: int = 5,
) -> FactorPanel:
    """The panel of ``wanted`` factors over the last ``observations`` calendar dates."""
    wanted = sorted(set(wanted))
    wanted_set = set(wanted)
    raw: dict[str, tuple[list, np.ndarray]] = {}
    for name, (d, v) in _series(market):
        if name in wanted_set:
            raw[name] = (d, np.asarray(v, dtype=np.float64))
    # kind of the price series: an EQ name also covers bonds and options priced in `prices`
    calendar = sorted({x for d, _ in raw.values() for x in d} | {market.as_of})
    calendar = [x for x in calendar if x <= market.as_of][-observations:]
    row = {d: i for i, d in enumerate(calendar)}
    n_t = len(calendar)
    issues: list[DataIssue] = []
    excluded: dict[str, str] = {}
    names: list[str] = []
    cols: list[np.ndarray] = []
    stale_limit = max(int(max_stale_days), 0)
    for name in wanted:
        if name not in raw:
            excluded[name] = "no market data"
            continue
        d, v = raw[name]
        col = np.full(n_t, np.nan)
        for day, val in zip(d, v, strict=True):
            i = row.get(day)
            if i is not None:
                col[i] = val
        kind = name.split(":", 1)[0]
        if kind == "IR":
            col = col / 100.0  # quoted in percent; the panel holds decimals
        bad = ~np.isfinite(col)
        if kind != "IR":
            bad |= col <= 0
        col[bad] = np.nan
        reason = _fill(name, kind, col, calendar, stale_limit, issues)
        if reason:
            excluded[name] = reason
            issues.append(DataIssue(name, "excluded", None, reason))
            continue
        names.append(name)
        cols.append(col)
    levels = np.column_stack(cols) if cols else np.zeros((n_t, 0))
    return FactorPanel(calendar, names, levels, issues, excluded)


def _fill(
    name: str,
    kind: str,
    col: np.ndarray,
    calendar: list[dt.date],
    limit: int,
    issues: list[DataIssue],
) -> str | None:
    """Carry quotes forward in place by the rule; the reason to exclude, or None."""
    if np.isnan(col[0]):
        first = int(np.argmax(~np.isnan(col))) if (~np.isnan(col)).any() else len(col)
        if kind != "VOL" or first == len(col):
            return f"no quote on {calendar[0]} (window start)"
        col[:first] = col[first]
        issues.append(
            DataIssue(
                name,
                "no_history",
                calendar[first],
                f"implied vol quoted only from {calendar[first]}: held at that quote before "
                "(no vega in historical, parametric and Monte Carlo VaR; stress only)",
            )
        )
    if kind in ("EQ", "FX"):
        run = 0
        for i in range(1, len(col)):
            run = run + 1 if col[i] == col[i - 1] else 0
            if run > limit:
                return f"stale quote: unchanged for {run} dates up to {calendar[i]}"
    gap = 0
    for i in range(1, len(col)):
        if np.isnan(col[i]):
            gap += 1
            if gap > limit:
                return f"no quote for {gap} dates up to {calendar[i]} (limit {limit})"
            col[i] = col[i - 1]
            issues.append(
                DataIssue(name, "filled", calendar[i], f"carried forward from {calendar[i - gap]}")
            )
        else:
            gap = 0
    return None
