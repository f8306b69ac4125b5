"""Full revaluation of the portfolio under factor shocks, vectorised over scenarios.

The conventions (``docs/risk.md`` has the long form):

- Values are in the base currency (EUR); ``FX:<ccy>`` is units of ``ccy`` per EUR.
- Equity: ``quantity`` shares at the price ``EQ:<isin>``.
- FX forward EUR/<quote>: ``quantity`` EUR bought against ``quote`` at today's rate, so its
  P&L under a shocked rate F' is ``quantity * (1 - F/F')``.
- Bond: ``quantity`` face; annual coupons ``coupon`` percent to ``maturity``; discounted on
  the zero curve of its currency (continuously compounded, linear in the tenor, flat beyond
  the ends) plus a constant spread calibrated so that today's model price equals today's close.
  Currencies without a curve use a proxy curve (``curve_proxy``) and are reported as such.
- Option: Black-Scholes on ``quantity`` units of the underlying, rate from the curve and vol
  from the underlying's implied-vol term structure at the option's expiry (both linear in time).
- Shocks are instantaneous: the valuation date does not move (no theta, no carry).

:class:`PricingModel` is compiled once from a portfolio and the factor panel; its
:meth:`PricingModel.pnl` takes a matrix of factor moves (scenarios x factors) on any array
backend and returns P&L per desk (scenarios x desks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ray_platform.risk.data import MarketData, Portfolio
from ray_platform.risk.factors import FactorPanel, available_factors, build_panel, tenor_years
from ray_platform.risk.gpu import Backend, numpy_backend

DEFAULT_CURVE_PROXY = {
    "AUD": "USD",
    "CAD": "USD",
    "HKD": "USD",
    "SGD": "USD",
    "CNY": "USD",
    "SEK": "EUR",
    "NOK": "EUR",
    "DKK": "EUR",
}


def black_scholes(xp: Any, ndtr: Any, s: Any, k: Any, tau: Any, r: Any, sigma: Any, call: Any):
    """Black-Scholes price (no dividends) of calls (``call`` true) and puts, elementwise."""
    sq = sigma * xp.sqrt(tau)
    d1 = (xp.log(s / k) + (r + 0.5 * sigma * sigma) * tau) / sq
    d2 = d1 - sq
    disc = k * xp.exp(-r * tau)
    c = s * ndtr(d1) - disc * ndtr(d2)
    p = disc * ndtr(-d2) - s * ndtr(-d1)
    return xp.where(call, c, p)


def interp_weights(t: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (n, 2) into ``grid`` and weights (n, 2) for linear interpolation, flat outside."""
    t = np.clip(np.asarray(t, dtype=np.float64), grid[0], grid[-1])
    hi = np.clip(np.searchsorted(grid, t, side="left"), 1, max(len(grid) - 1, 1))
    lo = hi - 1
    if len(grid) == 1:
        return np.zeros((len(t), 2), int), np.column_stack([np.ones(len(t)), np.zeros(len(t))])
    w_hi = (t - grid[lo]) / (grid[hi] - grid[lo])
    return np.column_stack([lo, hi]), np.column_stack([1 - w_hi, w_hi])


@dataclass(frozen=True)
class Unpriced:
    """A position the engine could not value, with the reason; it is reported, not dropped."""

    desk: str
    isin: str
    quantity: float
    asset_class: str | None
    reason: str


@dataclass
class PricingModel:
    """A compiled portfolio: everything :meth:`pnl` needs, as flat arrays."""

    desks: list[str]
    factor_names: list[str]
    base: np.ndarray  # (F,) current factor levels
    arrays: dict[str, np.ndarray]
    bond_groups: list[tuple[int, float, str]]  # (fx factor or F, fx level, weight array key)
    n_instruments: int
    counts: dict[str, int]
    unpriced: list[Unpriced] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def n_factors(self) -> int:
        """Number of risk factors."""
        return len(self.factor_names)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}  # device arrays never travel to Ray workers
        return state

    def _on(self, be: Backend) -> dict[str, Any]:
        if be.name not in self._cache:
            self._cache[be.name] = {k: be.asarray(v) for k, v in self.arrays.items()}
        return self._cache[be.name]

    def pnl(self, moves: Any, backend: Backend | None = None) -> Any:
        """P&L per desk (scenarios x desks) for factor ``moves`` (scenarios x factors)."""
        be = backend or numpy_backend()
        xp, a = be.xp, self._on(be)
        n = moves.shape[0]
        x = be.concat([moves, be.zeros((n, 1))], axis=1)  # column F: "no factor" (EUR)
        out = be.zeros((n, len(self.desks)))
        if self.counts["equity"]:
            rel = xp.exp(x[:, a["eq_f"]] - x[:, a["eq_fx"]]) - 1.0
            out = out + (rel * a["eq_v0"]) @ a["eq_q"]
        if self.counts["fx"]:
            out = out + (1.0 - xp.exp(-x[:, a["fx_f"]])) @ a["fx_q"]
        if self.counts["option"]:
            out = out + self._options(be, a, x)
        if self.counts["bond"]:
            out = out + self._bonds(be, a, x)
        return out

    def _options(self, be: Backend, a: dict[str, Any], x: Any) -> Any:
        xp = be.xp
        s = a["op_s0"] * xp.exp(x[:, a["op_sf"]])
        vi, vw = a["op_vi"], a["op_vw"]
        sig = a["op_sig0"] + x[:, vi[:, 0]] * vw[:, 0] + x[:, vi[:, 1]] * vw[:, 1]
        sig = xp.maximum(sig, a["op_floor"])
        ri, rw = a["op_ri"], a["op_rw"]
        r = a["op_r0"] + x[:, ri[:, 0]] * rw[:, 0] + x[:, ri[:, 1]] * rw[:, 1]
        price = black_scholes(xp, be.ndtr, s, a["op_k"], a["op_tau"], r, sig, a["op_call"])
        value = price * xp.exp(-x[:, a["op_fx"]]) / a["op_fx0"]
        return (value - a["op_v0"]) @ a["op_q"]

    def _bonds(self, be: Backend, a: dict[str, Any], x: Any) -> Any:
        xp = be.xp
        ni, nw = a["bn_i"], a["bn_w"]
        dy = x[:, ni[:, 0]] * nw[:, 0] + x[:, ni[:, 1]] * nw[:, 1]
        df = xp.exp(-(a["bn_y0"] + dy) * a["bn_t"])
        out = 0.0
        for fx_f, fx0, key in self.bond_groups:
            pv = df @ a[key]  # (n, desks) in the bond currency
            base = a[key + "_v0"]
            out = out + (pv * xp.exp(-x[:, fx_f : fx_f + 1]) - base) / fx0
        return out

    def values(self) -> dict[str, float]:
        """Today's value per desk (EUR) of the priced positions, as the model sees it."""
        return dict(zip(self.desks, self.arrays["desk_value"].tolist(), strict=True))


def _curve(panel: FactorPanel, ccy: str) -> tuple[np.ndarray, np.ndarray] | None:
    names = panel.names_of(f"IR:{ccy}")
    if not names:
        return None
    years = np.array([tenor_years(n.rsplit(":", 1)[1]) for n in names])
    order = np.argsort(years)
    idx = np.array([panel.index(names[i]) for i in order])
    return years[order], idx


def needed_factors(portfolio: Portfolio, market: MarketData, proxy: dict[str, str]) -> set[str]:
    """Every factor the portfolio's instruments could depend on."""
    avail = available_factors(market)
    base = market.base_currency
    want: set[str] = set()
    inst = portfolio.instruments.to_pylist()
    held = set(portfolio.positions.column("isin").to_pylist())
    for row in inst:
        if row["isin"] not in held:
            continue
        ccy = row["currency"] or base
        if ccy != base:
            want.add(f"FX:{ccy}")
        ac = row["asset_class"]
        if ac == "equity":
            want.add(f"EQ:{row['isin']}")
        elif ac == "fx":
            want.add(f"FX:{row['quote_currency'] or ccy}")
        elif ac in ("bond", "option"):
            c = ccy if f"IR:{ccy}" in avail else proxy.get(ccy, ccy)
            want.update(f"IR:{c}:{t}" for t in avail.get(f"IR:{c}", []))
            if ac == "option" and (u := row["underlying_isin"]):
                want.add(f"EQ:{u}")
                want.update(f"VOL:{u}:{t}" for t in avail.get(f"VOL:{u}", []))
    return want


def compile_model(
    portfolio: Portfolio,
    market: MarketData,
    panel: FactorPanel,
    curve_proxy: dict[str, str] | None = None,
    max_stale_days: int = 5,
) -> PricingModel:
    """Compile the portfolio against today's factor levels; unpriceable positions are listed."""
    proxy = DEFAULT_CURVE_PROXY if curve_proxy is None else curve_proxy
    base_ccy = market.base_currency
    as_of = portfolio.as_of
    f_none = len(panel.names)
    lv = panel.current
    desks = portfolio.desks
    d_ix = {d: i for i, d in enumerate(desks)}
    instruments = {r["isin"]: r for r in portfolio.instruments.to_pylist()}
    unpriced: list[Unpriced] = []
    notes: list[str] = []
    # positions grouped per instrument: {isin: [(desk, qty)]}
    held: dict[str, list[tuple[str, float]]] = {}
    for d, i, q in zip(
        *(portfolio.positions.column(c).to_pylist() for c in ("desk", "isin", "quantity")),
        strict=True,
    ):
        held.setdefault(i, []).append((d, float(q)))
    bond_isins = [i for i in held if (instruments.get(i) or {}).get("asset_class") == "bond"]
    bond_px = build_panel(
        market, [f"EQ:{i}" for i in bond_isins], max_stale_days + 1, max_stale_days
    )

    def fx_of(ccy: str | None) -> int | None:
        if not ccy or ccy == base_ccy:
            return f_none
        name = f"FX:{ccy}"
        return panel.index(name) if panel.has(name) else None

    def lost(isin: str, ac: str | None, reason: str) -> None:
        for d, q in held[isin]:
            unpriced.append(Unpriced(d, isin, q, ac, reason))

    groups: dict[str, dict[str, list]] = {k: {} for k in ("equity", "fx", "option", "bond")}
    for isin in sorted(held):
        row = instruments.get(isin)
        if row is None:
            lost(isin, None, "unknown instrument (not in instruments)")
            continue
        ac, ccy = row["asset_class"], row["currency"] or base_ccy
        fx_f = fx_of(ccy)
        if ac not in groups:
            lost(isin, ac, f"unsupported asset class {ac!r}")
            continue
        if fx_f is None:
            lost(isin, ac, f"no FX rate for {ccy} ({panel.excluded.get(f'FX:{ccy}', 'missing')})")
            continue
        fx0 = 1.0 if fx_f == f_none else float(lv[fx_f])
        q = np.zeros(len(desks))
        for d, qty in held[isin]:
            q[d_ix[d]] += qty
        g = groups[ac]
        if ac == "equity":
            name = f"EQ:{isin}"
            if not panel.has(name):
                lost(isin, ac, f"no price ({panel.excluded.get(name, 'missing')})")
                continue
            f = panel.index(name)
            _add(g, f=f, fx=fx_f, v0=float(lv[f]) / fx0, q=q)
        elif ac == "fx":
            quote = row["quote_currency"] or ccy
            f = fx_of(quote)
            if f is None or f == f_none:
                lost(isin, ac, f"no FX rate for {quote}")
                continue
            _add(g, f=f, q=q)
        elif ac == "option":
            reason = _add_option(g, row, panel, as_of, proxy, fx_f, fx0, q, notes)
            if reason:
                lost(isin, ac, reason)
        else:
            px_name = f"EQ:{isin}"
            if not bond_px.has(px_name):
                lost(isin, ac, f"no bond price ({bond_px.excluded.get(px_name, 'missing')})")
                continue
            price = float(bond_px.current[bond_px.index(px_name)])
            reason = _add_bond(g, row, panel, as_of, proxy, fx_f, fx0, q, price, notes)
            if reason:
                lost(isin, ac, reason)
    counts = {k: len(v.get("q", v.get("bonds", []))) for k, v in groups.items()}
    arrays, bond_groups = _arrays(groups, desks, f_none)
    model = PricingModel(
        desks,
        list(panel.names),
        lv.copy(),
        arrays,
        bond_groups,
        sum(counts.values()),
        counts,
        unpriced,
        notes + [f"bond price {i.date} {i.factor[3:]}: {i.detail}" for i in bond_px.issues],
    )
    model.arrays["desk_value"] = _desk_values(model, arrays, groups, len(desks))
    return model


def _add(g: dict[str, list], **kw: Any) -> None:
    for k, v in kw.items():
        g.setdefault(k, []).append(v)


def _rate_interp(panel, ccy, proxy, t, notes, isin):
    curve = _curve(panel, ccy)
    if curve is None and ccy in proxy:
        curve = _curve(panel, proxy[ccy])
        if curve is not None:
            notes.append(f"{isin}: {ccy} has no curve; priced on the {proxy[ccy]} curve (proxy)")
    if curve is None:
        return None
    years, idx = curve
    ii, ww = interp_weights(np.atleast_1d(t), years)
    return idx[ii], ww, years, idx


def _add_option(g, row, panel, as_of, proxy, fx_f, fx0, q, notes) -> str | None:
    u, k, expiry = row["underlying_isin"], row["strike"], row["expiry"]
    if not u or k is None or expiry is None or row["option_type"] not in ("call", "put"):
        return "incomplete option terms (underlying, strike, expiry, type)"
    if expiry <= as_of:
        return f"expired on {expiry}"
    if not panel.has(f"EQ:{u}"):
        return f"no price for underlying {u} ({panel.excluded.get(f'EQ:{u}', 'missing')})"
    vols = panel.names_of(f"VOL:{u}")
    if not vols:
        return f"no implied vols for underlying {u}"
    tau = (expiry - as_of).days / 365.0
    rates = _rate_interp(panel, row["currency"], proxy, tau, notes, row["isin"])
    if rates is None:
        return f"no yield curve for {row['currency']}"
    ri, rw, _, _ = rates
    vyears = np.array([tenor_years(n.rsplit(":", 1)[1]) for n in vols])
    order = np.argsort(vyears)
    vidx = np.array([panel.index(vols[i]) for i in order])
    vi, vw = interp_weights(np.array([tau]), vyears[order])
    lv = panel.current
    s0 = float(lv[panel.index(f"EQ:{u}")])
    sig0 = float((lv[vidx[vi[0]]] * vw[0]).sum())
    r0 = float((lv[ri[0]] * rw[0]).sum())
    call = row["option_type"] == "call"
    from scipy.special import ndtr

    v0 = float(black_scholes(np, ndtr, s0, float(k), tau, r0, max(sig0, 1e-4), call)) / fx0
    _add(
        g, sf=panel.index(f"EQ:{u}"), s0=s0, k=float(k), tau=tau, call=call, vi=vidx[vi[0]],
        vw=vw[0], sig0=sig0, ri=ri[0], rw=rw[0], r0=r0, fx=fx_f, fx0=fx0, v0=v0, q=q,
    )  # fmt: skip
    return None


def _add_bond(g, row, panel, as_of, proxy, fx_f, fx0, q, price, notes) -> str | None:
    mat, coupon = row["maturity"], row["coupon"] or 0.0
    if mat is None:
        return "bond without maturity"
    if mat <= as_of:
        return f"matured on {mat}"
    dates = []
    y = 0
    while True:
        try:
            d = mat.replace(year=mat.year - y)
        except ValueError:  # 29 February
            d = mat.replace(year=mat.year - y, day=28)
        if d <= as_of:
            break
        dates.append(d)
        y += 1
    days = np.array([(d - as_of).days for d in dates], dtype=np.int64)
    amounts = np.full(len(days), float(coupon))
    amounts[0] += 100.0
    t = days / 365.0
    rates = _rate_interp(panel, row["currency"], proxy, t, notes, row["isin"])
    if rates is None:
        return f"no yield curve for {row['currency']}"
    ri, rw, _, _ = rates
    y0 = (panel.current[ri] * rw).sum(axis=1)
    spread = _calibrate_spread(amounts, t, y0, price)
    if spread is None:
        return f"cannot fit a spread to the price {price:.4f}"
    curve_key = tuple(ri[0].tolist())  # identifies the curve (its factor columns)
    for j in range(len(t)):
        w = amounts[j] * math.exp(-spread * t[j]) / 100.0 * q
        _add(
            g,
            key=(curve_key, int(days[j])),
            ri=ri[j],
            rw=rw[j],
            t=t[j],
            y0=y0[j],
            fx=fx_f,
            fx0=fx0,
            w=w,
        )
    _add(g, bonds=row["isin"])
    return None


def _calibrate_spread(cf: np.ndarray, t: np.ndarray, y0: np.ndarray, price: float) -> float | None:
    s = 0.0
    for _ in range(50):
        disc = cf * np.exp(-(y0 + s) * t)
        f = disc.sum() - price
        if abs(f) < 1e-10 * max(price, 1.0):
            return s
        s += f / float((t * disc).sum())
        if not np.isfinite(s) or abs(s) > 5:
            return None
    return s if abs((cf * np.exp(-(y0 + s) * t)).sum() - price) < 1e-6 * price else None


def _arrays(groups, desks, f_none) -> tuple[dict[str, np.ndarray], list[tuple[int, float, str]]]:
    n_d = len(desks)
    a: dict[str, np.ndarray] = {}

    def mat(rows) -> np.ndarray:
        return np.array(rows, dtype=np.float64).reshape(len(rows), n_d)

    eq = groups["equity"]
    if eq:
        a.update(
            eq_f=np.array(eq["f"]),
            eq_fx=np.array(eq["fx"]),
            eq_v0=np.array(eq["v0"]),
            eq_q=mat(eq["q"]),
        )
    fx = groups["fx"]
    if fx:
        a.update(fx_f=np.array(fx["f"]), fx_q=mat(fx["q"]))
    op = groups["option"]
    if op:
        for k in ("sf", "fx", "vi", "ri"):
            a[f"op_{k}"] = np.array(op[k], dtype=np.int64)
        for k in ("s0", "k", "tau", "sig0", "r0", "v0", "fx0", "vw", "rw"):
            a[f"op_{k}"] = np.array(op[k], dtype=np.float64)
        a["op_call"] = np.array(op["call"], dtype=bool)
        a["op_q"] = mat(op["q"])
        a["op_floor"] = np.array(1e-4)
    bond_groups: list[tuple[int, float, str]] = []
    bn = groups["bond"]
    if bn:
        # one node per (curve, day): bonds paying on the same day share one discount factor
        nodes = sorted(set(bn["key"]))
        n_ix = {k: i for i, k in enumerate(nodes)}
        first = {}
        for j, key in enumerate(bn["key"]):
            first.setdefault(key, j)
        a["bn_i"] = np.array([bn["ri"][first[k]] for k in nodes], dtype=np.int64)
        a["bn_w"] = np.array([bn["rw"][first[k]] for k in nodes], dtype=np.float64)
        a["bn_t"] = np.array([bn["t"][first[k]] for k in nodes], dtype=np.float64)
        a["bn_y0"] = np.array([bn["y0"][first[k]] for k in nodes], dtype=np.float64)
        df0 = np.exp(-a["bn_y0"] * a["bn_t"])
        by_fx: dict[tuple[int, float], np.ndarray] = {}
        for j, key in enumerate(bn["key"]):
            w = by_fx.setdefault((bn["fx"][j], bn["fx0"][j]), np.zeros((len(nodes), n_d)))
            w[n_ix[key]] += bn["w"][j]
        for g, ((fx_f, fx0), w) in enumerate(sorted(by_fx.items())):
            key = f"bn_w{g}"
            a[key] = w
            a[key + "_v0"] = df0 @ w
            bond_groups.append((int(fx_f), float(fx0), key))
    return a, bond_groups


def _desk_values(model: PricingModel, a, groups, n_d) -> np.ndarray:
    v = np.zeros(n_d)
    if "eq_v0" in a:
        v += a["eq_v0"] @ a["eq_q"]
    if "op_v0" in a:
        v += a["op_v0"] @ a["op_q"]
    for _, fx0, key in model.bond_groups:
        v += a[key + "_v0"] / fx0
    return v
