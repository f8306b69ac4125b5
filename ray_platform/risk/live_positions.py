"""Live desk positions, P&L and limit checks, updated trade by trade and price by price.

:class:`PositionKeeper` is the in-memory book one monitor holds (no Kafka, no Ray: those are in
:mod:`ray_platform.risk.live_monitor`). It starts from a :class:`Book` (the start-of-day
positions and marks, from the lake by :func:`book_from_lake` or given directly) and the limits
of :func:`load_limits`. Every trade or market-data update changes the figures of the desks it
touches, incrementally, and returns the limit breaches it caused.

Figures per desk, all in EUR (the book's base currency):

- ``notional``: gross exposure, the sum of ``|value|`` of each position; options count their
  underlying's notional (quantity x underlying price).
- ``delta``: net signed exposure to price moves; options count ``quantity x BS delta x
  underlying price`` with the Black-Scholes delta at the last known implied volatility.
- ``var``: a one-day 99% VaR estimate, the desk's gross notional times its *VaR intensity*:
  the last nightly run's VaR for that desk (``fact_risk_metrics``, method from the limits file)
  divided by its gross notional on that night. That is a first-order, exposure-proportional
  rescaling of the nightly figure (its diversification and factor mix held fixed), cheap enough
  to re-evaluate on every update; the nightly run remains the measure of record.
- ``pnl``: since the start of day, ``quantity now x price now - quantity at start x price at
  start + trade cash``, per position, converted at the current FX rate.

A value is ``quantity x price x unit / fx``: bond prices are per 100 of face (unit 0.01),
everything else unit 1; ``fx`` is units of the instrument's currency per EUR.

A trade for an instrument the book does not know is *held*: kept, not applied, and reported
once in the returned events; :meth:`PositionKeeper.release_held` applies held trades whose
instrument has been added since.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ray_platform.errors import ConfigError

LIMITS_FILE = Path(__file__).with_name("limits.yaml")
METRICS = ("notional", "delta", "var")


class DeskLimits(BaseModel):
    """Limits of one desk, EUR; None means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    notional: float | None = Field(None, gt=0, description="Gross exposure.")
    delta: float | None = Field(None, gt=0, description="Absolute net delta exposure.")
    var: float | None = Field(None, gt=0, description="One-day 99% VaR estimate.")


class Limits(BaseModel):
    """The limits file: a default for every desk, overrides per desk, and the VaR source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    currency: Literal["EUR"] = "EUR"
    var_method: str = Field("parametric_ewma", description="Nightly VaR method scaled live.")
    var_confidence: float = Field(0.99, gt=0, lt=1)
    default_var_intensity: float = Field(
        0.01, ge=0, description="VaR per EUR of gross notional when no nightly run is found."
    )
    default_option_vol: float = Field(0.25, gt=0, description="Implied vol when none is known.")
    default: DeskLimits = DeskLimits()
    desks: dict[str, DeskLimits] = Field(default_factory=dict)

    def for_desk(self, desk: str) -> DeskLimits:
        """The desk's own limits, else the default."""
        return self.desks.get(desk, self.default)


def load_limits(path: Path | str | None = None) -> Limits:
    """Read a limits YAML file (the packaged ``limits.yaml`` when ``path`` is None)."""
    source = Path(path) if path else LIMITS_FILE
    try:
        return Limits.model_validate(yaml.safe_load(source.read_text()) or {})
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read limits file {source}: {exc}") from None


@dataclass
class Instrument:
    """What the book needs to value one instrument."""

    isin: str
    asset_class: str
    currency: str
    underlying_isin: str | None = None
    strike: float | None = None
    expiry: dt.date | None = None
    option_type: str | None = None

    @property
    def unit(self) -> float:
        """Value of one price point per unit held: bonds are quoted per 100 of face."""
        return 0.01 if self.asset_class == "bond" else 1.0


@dataclass
class Book:
    """Start-of-day state: instruments, positions and marks, plus the nightly VaR intensities."""

    as_of: dt.date
    instruments: dict[str, Instrument]
    positions: dict[tuple[str, str], float]  # (desk, isin) -> quantity
    prices: dict[str, float]  # isin -> price in the instrument's currency
    fx: dict[str, float]  # currency -> units per EUR
    vols: dict[str, float] = field(default_factory=dict)  # underlying isin -> implied vol
    var_intensity: dict[str, float] = field(default_factory=dict)  # desk -> VaR / EUR notional


@dataclass(frozen=True)
class Breach:
    """A desk figure that went over its limit (or a trade held back), as published."""

    kind: str  # "limit_breach" | "held_trade"
    desk: str
    metric: str | None
    value: float | None
    limit: float | None
    cause: str  # "trade T123" or "price XS..." or "fx USD"
    event_ts: float  # when the causing event entered the monitor (epoch seconds)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass
class _Pos:
    qty: float
    qty_sod: float
    price_sod: float
    cash: float = 0.0  # minus the price paid per unit, summed over the day's trades
    contrib: tuple[float, float, float] = (0.0, 0.0, 0.0)  # notional, delta, pnl


class PositionKeeper:
    """Every desk's live positions and figures; each update returns the breaches it caused."""

    def __init__(self, book: Book, limits: Limits) -> None:
        self.book = book
        self.limits = limits
        self.as_of = book.as_of
        self.instruments = dict(book.instruments)
        self.prices = dict(book.prices)
        self.fx = {**book.fx, "EUR": 1.0}
        self.vols = dict(book.vols)
        self.pos: dict[tuple[str, str], _Pos] = {}
        self.totals: dict[str, list[float]] = {}  # desk -> [notional, delta, pnl]
        self.holders: dict[str, set[tuple[str, str]]] = {}  # isin -> positions valued with it
        self.held: list[dict[str, Any]] = []
        self.breached: set[tuple[str, str]] = set()
        self.updates = 0
        for (desk, isin), qty in book.positions.items():
            price = self.prices.get(isin)
            self._position(desk, isin, qty, price if price is not None else 0.0)
        for key in list(self.pos):
            self._revalue(key)

    # -- events ---------------------------------------------------------------------------------

    def apply_trade(self, trade: dict[str, Any], event_ts: float) -> list[Breach]:
        """Book one trade (``desk, isin, side, quantity, price``); returns the breaches."""
        self.updates += 1
        isin, desk = str(trade["isin"]), str(trade["desk"])
        if isin not in self.instruments:
            self.held.append(trade)
            return [
                Breach(
                    "held_trade", desk, None, None, None, f"trade {trade.get('trade_id')}",
                    event_ts, f"unknown instrument {isin}: trade held, not applied",
                )
            ]  # fmt: skip
        qty = float(trade["quantity"]) * (1.0 if str(trade["side"]).upper() == "BUY" else -1.0)
        price = float(trade["price"])
        key = (desk, isin)
        p = self.pos.get(key) or self._position(desk, isin, 0.0, self.prices.get(isin, price))
        p.qty += qty
        p.cash -= qty * price
        if isin not in self.prices:
            self.prices[isin] = price
        self._revalue(key)
        return self._check(desk, f"trade {trade.get('trade_id')}", event_ts)

    def apply_market(self, update: dict[str, Any], event_ts: float) -> list[Breach]:
        """Apply one market-data update; returns the breaches.

        ``{"type": "price", "isin", "price"}``, ``{"type": "fx", "quote", "rate"}`` (units per
        EUR) or ``{"type": "vol", "underlying_isin", "vol"}``; ``rate`` updates (yield curves)
        move no figure here and are only counted.
        """
        self.updates += 1
        kind = update.get("type")
        if kind == "price":
            isin = str(update["isin"])
            self.prices[isin] = float(update["price"])
            keys = self.holders.get(isin, set())
            cause = f"price {isin}"
        elif kind == "fx":
            ccy = str(update["quote"])
            self.fx[ccy] = float(update["rate"])
            keys = {k for k in self.pos if self.instruments[k[1]].currency == ccy}
            cause = f"fx {ccy}"
        elif kind == "vol":
            isin = str(update["underlying_isin"])
            self.vols[isin] = float(update["vol"])
            keys = {k for k in self.holders.get(isin, set()) if k[1] != isin}
            cause = f"vol {isin}"
        else:
            return []
        desks = set()
        for key in keys:
            self._revalue(key)
            desks.add(key[0])
        out: list[Breach] = []
        for desk in sorted(desks):
            out += self._check(desk, cause, event_ts)
        return out

    def add_instrument(self, inst: Instrument) -> None:
        """Make an instrument known (then :meth:`release_held` books its held trades)."""
        self.instruments[inst.isin] = inst

    def release_held(self, event_ts: float) -> list[Breach]:
        """Apply every held trade whose instrument is now known; returns their breaches."""
        ready = [t for t in self.held if t["isin"] in self.instruments]
        self.held = [t for t in self.held if t["isin"] not in self.instruments]
        out: list[Breach] = []
        for trade in ready:
            out += self.apply_trade(trade, event_ts)
        return out

    # -- views ----------------------------------------------------------------------------------

    def desk_figures(self, desk: str) -> dict[str, float]:
        """One desk's notional, delta, VaR estimate and P&L, EUR."""
        notional, delta, pnl = self.totals.get(desk, [0.0, 0.0, 0.0])
        intensity = self.book.var_intensity.get(desk, self.limits.default_var_intensity)
        return {"notional": notional, "delta": delta, "var": notional * intensity, "pnl": pnl}

    def snapshot(self) -> dict[str, Any]:
        """Every desk's figures, limits, breaches and positions, plus held trades."""
        desks = {}
        for desk in sorted(self.totals):
            figures = self.desk_figures(desk)
            lim = self.limits.for_desk(desk)
            desks[desk] = {
                **{k: round(v, 2) for k, v in figures.items()},
                "limits": lim.model_dump(),
                "breaches": sorted(m for d, m in self.breached if d == desk),
                "positions": {
                    isin: p.qty for (d, isin), p in sorted(self.pos.items()) if d == desk and p.qty
                },
            }
        return {
            "as_of": self.as_of.isoformat(),
            "currency": self.limits.currency,
            "updates": self.updates,
            "desks": desks,
            "held_trades": list(self.held),
        }

    # -- internals ------------------------------------------------------------------------------

    def _position(self, desk: str, isin: str, qty: float, price_sod: float) -> _Pos:
        p = _Pos(qty=qty, qty_sod=qty, price_sod=price_sod)
        self.pos[(desk, isin)] = p
        self.totals.setdefault(desk, [0.0, 0.0, 0.0])
        self.holders.setdefault(isin, set()).add((desk, isin))
        inst = self.instruments.get(isin)
        if inst is not None and inst.underlying_isin:
            self.holders.setdefault(inst.underlying_isin, set()).add((desk, isin))
        return p

    def _revalue(self, key: tuple[str, str]) -> None:
        p = self.pos[key]
        inst = self.instruments.get(key[1])
        if inst is None:
            return
        new = self._contrib(inst, p)
        old = p.contrib
        t = self.totals[key[0]]
        for i in range(3):
            t[i] += new[i] - old[i]
        p.contrib = new

    def _contrib(self, inst: Instrument, p: _Pos) -> tuple[float, float, float]:
        fx = self.fx.get(inst.currency)
        price = self.prices.get(inst.isin)
        if not fx or price is None:
            return (0.0, 0.0, 0.0)  # unpriced: counted once a price or rate arrives
        scale = inst.unit / fx
        pnl = (p.qty * price - p.qty_sod * p.price_sod + p.cash) * scale
        if inst.asset_class == "option" and inst.underlying_isin:
            spot = self.prices.get(inst.underlying_isin)
            if spot is None:
                return (abs(p.qty * price) * scale, p.qty * price * scale, pnl)
            d = self._option_delta(inst, spot)
            return (abs(p.qty * spot) * scale, p.qty * d * spot * scale, pnl)
        value = p.qty * price * scale
        return (abs(value), value, pnl)

    def _option_delta(self, inst: Instrument, spot: float) -> float:
        call = (inst.option_type or "call") == "call"
        tau = max(((inst.expiry or self.as_of) - self.as_of).days / 365.0, 1e-6)
        k = inst.strike or spot
        vol = self.vols.get(inst.underlying_isin or "", self.limits.default_option_vol)
        d1 = (math.log(spot / k) + 0.5 * vol * vol * tau) / (vol * math.sqrt(tau))
        n = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
        return n if call else n - 1.0

    def _check(self, desk: str, cause: str, event_ts: float) -> list[Breach]:
        figures = self.desk_figures(desk)
        lim = self.limits.for_desk(desk)
        out = []
        for metric in METRICS:
            limit = getattr(lim, metric)
            over = limit is not None and abs(figures[metric]) > limit
            key = (desk, metric)
            # Edge-triggered: one alert when a figure crosses its limit, again only after it
            # came back within and crossed again.
            if over and key not in self.breached:
                self.breached.add(key)
                out.append(
                    Breach(
                        "limit_breach", desk, metric, round(figures[metric], 2), limit, cause,
                        event_ts,
                    )
                )  # fmt: skip
            elif not over:
                self.breached.discard(key)
        return out
