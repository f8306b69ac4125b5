from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtr
from scipy.stats import norm

from ray_platform.risk.covariance import ewma_covariance
from ray_platform.risk.measures import from_sample, parametric, var_es
from ray_platform.risk.montecarlo import MCSpec, simulate
from ray_platform.risk.pricing import black_scholes

pytestmark = pytest.mark.unit


def test_historical_var_is_the_empirical_quantile():
    rng = np.random.default_rng(3)
    pnl = rng.standard_t(4, 250) * 1e5
    losses = np.sort(-pnl)
    for c in (0.99, 0.975):
        var, es = var_es(pnl, c)
        k = math.ceil(c * (len(losses) - 1))  # the documented order statistic
        assert var == losses[k]
        assert es == pytest.approx(losses[k:].mean())


@pytest.mark.parametrize("seed", range(20))
def test_es_is_never_below_var(seed):
    rng = np.random.default_rng(seed)
    pnl = rng.normal(size=(int(rng.integers(20, 600)), 3)) * rng.uniform(1, 10, 3)
    for c in (0.99, 0.975, 0.5):
        fig = from_sample(pnl, c)
        assert fig.es >= fig.var
        assert np.all(fig.desk_es >= fig.desk_var)


def test_component_var_adds_up_to_total():
    rng = np.random.default_rng(5)
    pnl = rng.normal(size=(5000, 4)) @ rng.normal(size=(4, 4))
    fig = from_sample(pnl, 0.99)
    assert fig.component_var.sum() == pytest.approx(fig.var, rel=1e-12)
    delta = rng.normal(size=(6, 3))
    a = rng.normal(size=(6, 6))
    cov = a @ a.T / 6
    p = parametric(delta, cov, 0.975)
    assert p.component_var.sum() == pytest.approx(p.var, rel=1e-12)
    assert p.es >= p.var


class _Linear:
    """P&L linear in the factor moves: what delta-normal assumes exactly."""

    def __init__(self, delta):
        self.delta = delta
        self.desks = [f"D{i}" for i in range(delta.shape[1])]
        self.n_factors = delta.shape[0]

    def pnl(self, moves, backend=None):
        return moves @ self.delta


def test_monte_carlo_of_a_linear_book_converges_to_parametric():
    rng = np.random.default_rng(11)
    moves = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5)) * 0.01
    cov = ewma_covariance(moves, 0.94)
    delta = rng.normal(size=(5, 2)) * 1e6
    spec = MCSpec(
        paths=1_000_000, block_size=250_000, seed=1, distributions=("normal",), horizons=(1,)
    )
    mc = simulate(_Linear(delta), np.linalg.cholesky(cov), spec, use_ray=False)
    sample = mc.pnl[("normal", 1)]
    for c in (0.99, 0.975):
        want = parametric(delta, cov, c)
        got = from_sample(sample, c)
        assert got.var == pytest.approx(want.var, rel=0.01)
        assert got.es == pytest.approx(want.es, rel=0.01)


def test_black_scholes_matches_the_closed_form():
    # Hull's textbook case: S=K=100, T=1, r=5 %, sigma=20 %.
    call = black_scholes(np, ndtr, 100.0, 100.0, 1.0, 0.05, 0.2, True)
    put = black_scholes(np, ndtr, 100.0, 100.0, 1.0, 0.05, 0.2, False)
    assert call == pytest.approx(10.450584, abs=1e-6)
    assert put == pytest.approx(5.573526, abs=1e-6)
    s, k, t, r, v = 120.0, 100.0, 0.5, 0.03, 0.3
    d1 = (math.log(s / k) + (r + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    closed = s * norm.cdf(d1) - k * math.exp(-r * t) * norm.cdf(d2)
    assert black_scholes(np, ndtr, s, k, t, r, v, True) == pytest.approx(closed, rel=1e-12)
    # put-call parity
    c, p = (black_scholes(np, ndtr, s, k, t, r, v, f) for f in (True, False))
    assert c - p == pytest.approx(s - k * math.exp(-r * t), rel=1e-12)
