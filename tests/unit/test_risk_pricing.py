from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from ray_platform.risk.factors import build_panel
from ray_platform.risk.pricing import DEFAULT_CURVE_PROXY, compile_model, needed_factors
from tests.unit.risk_inputs import small_book

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def book():
    pf, mk, _raw = small_book()
    panel = build_panel(mk, needed_factors(pf, mk, DEFAULT_CURVE_PROXY), 300)
    return pf, mk, panel, compile_model(pf, mk, panel)


def test_every_position_is_priced_and_zero_moves_give_zero_pnl(book):
    _, _, _panel, model = book
    assert model.unpriced == []
    assert model.counts == {"equity": 3, "fx": 1, "option": 1, "bond": 1}
    assert np.allclose(model.pnl(np.zeros((1, model.n_factors))), 0, atol=1e-6)


def test_option_revaluation_matches_the_closed_form(book):
    _pf, _mk, panel, model = book
    lv = panel.current
    s0 = lv[panel.index("EQ:EQEUR0000001")]
    x = np.zeros((1, model.n_factors))
    x[0, panel.index("EQ:EQEUR0000001")] = math.log(0.9)
    for t in ("1M", "3M", "6M", "1Y"):
        x[0, panel.index(f"VOL:EQEUR0000001:{t}")] = 0.05
    tau = 200 / 365
    # vol: linear between the 6M and 1Y quotes; rate: between the EUR 3M and 1Y
    v6, v1 = lv[panel.index("VOL:EQEUR0000001:6M")], lv[panel.index("VOL:EQEUR0000001:1Y")]
    sig = v6 + (v1 - v6) * (tau - 0.5) / 0.5
    r3, r1 = lv[panel.index("IR:EUR:3M")], lv[panel.index("IR:EUR:1Y")]
    r = r3 + (r1 - r3) * (tau - 0.25) / 0.75

    def bs(s, v):
        d1 = (math.log(s / 100) + (r + v * v / 2) * tau) / (v * math.sqrt(tau))
        return s * norm.cdf(d1) - 100 * math.exp(-r * tau) * norm.cdf(d1 - v * math.sqrt(tau))

    equity_pnl = 1000 * s0 * (0.9 - 1)  # EQ_CASH holds 1000 of the underlying
    deriv = model.pnl(x)[0][model.desks.index("EQ_DERIV")]
    assert deriv == pytest.approx(300 * (bs(0.9 * s0, sig + 0.05) - bs(s0, sig)), rel=1e-9)
    assert model.pnl(x)[0][model.desks.index("EQ_CASH")] == pytest.approx(equity_pnl, rel=1e-9)


def test_bond_is_revalued_from_the_curve(book):
    pf, mk, panel, model = book
    x = np.zeros((1, model.n_factors))
    for t in ("3M", "1Y", "2Y", "5Y", "10Y", "30Y"):
        x[0, panel.index(f"IR:EUR:{t}")] = 0.01
    pnl = model.pnl(x)[0][model.desks.index("RATES")]
    import pyarrow.compute as pc

    price = float(
        mk.prices.filter(pc.equal(mk.prices["isin"], "BOND00000004"))["close"][-1].as_py()
    )
    value = 1_000_000 * price / 100
    # a parallel +100 bp: loss near duration x 1 %, and exactly the repriced cash flows
    assert -0.08 * value < pnl < -0.04 * value
    as_of = pf.as_of
    import datetime as dt

    mat = dt.date(as_of.year + 7, 6, 15)
    dates = [
        mat.replace(year=mat.year - k) for k in range(8) if mat.replace(year=mat.year - k) > as_of
    ]
    t = np.array([(d - as_of).days / 365 for d in dates])
    cf = np.full(len(t), 3.0)
    cf[0] += 100
    grid = np.array([0.25, 1, 2, 5, 10, 30])
    curve = np.array(
        [panel.current[panel.index(f"IR:EUR:{k}")] for k in ("3M", "1Y", "2Y", "5Y", "10Y", "30Y")]
    )
    y = np.interp(t, grid, curve)
    from scipy.optimize import brentq

    s = brentq(lambda s: (cf * np.exp(-(y + s) * t)).sum() - price, -1, 1)
    shocked = (cf * np.exp(-(y + 0.01 + s) * t)).sum()
    assert pnl == pytest.approx(1_000_000 * (shocked - price) / 100, rel=1e-7)


def test_fx_forward_and_foreign_equity(book):
    _, _, panel, model = book
    x = np.zeros((1, model.n_factors))
    x[0, panel.index("FX:USD")] = math.log(1.1)  # EUR strengthens 10 %
    pnl = model.pnl(x)[0]
    assert pnl[model.desks.index("FX")] == pytest.approx(500_000 * (1 - 1 / 1.1))
    usd = panel.current[panel.index("EQ:EQUSD0000002")] / panel.current[panel.index("FX:USD")]
    assert pnl[model.desks.index("EQ_CASH")] == pytest.approx(2000 * usd * (1 / 1.1 - 1))
