from __future__ import annotations

import math

import numpy as np
import pytest

from ray_platform.errors import InvalidArgument
from ray_platform.risk.backtest import (
    backtest,
    christoffersen_independence,
    kupiec_pof,
    traffic_light,
)

pytestmark = pytest.mark.unit


def _series(exceptions: int, days: int = 250, spread: bool = True):
    """A hand-made year: VaR of 100 every day, losses of 150 on the exception days."""
    var = np.full(days, 100.0)
    pnl = np.full(days, -10.0)
    step = days // max(exceptions, 1)
    idx = np.arange(exceptions) * step if spread else np.arange(exceptions)
    pnl[idx] = -150.0
    return var, pnl


@pytest.mark.parametrize(
    ("exceptions", "zone", "plus"),
    [(0, "green", 0.0), (4, "green", 0.0), (5, "yellow", 0.40), (6, "yellow", 0.50),
     (7, "yellow", 0.65), (8, "yellow", 0.75), (9, "yellow", 0.85), (10, "red", 1.0),
     (14, "red", 1.0)],
)  # fmt: skip
def test_basel_traffic_light_on_hand_made_series(exceptions, zone, plus):
    var, pnl = _series(exceptions)
    r = backtest(var, pnl, 0.99)
    assert r.exceptions == exceptions
    assert (r.zone, r.plus_factor) == (zone, plus)


def test_binomial_zones_agree_with_the_basel_table():
    # the Committee's table is the binomial rule: green below 95 %, red from 99.99 %
    for x in range(0, 16):
        standard = traffic_light(x)[0]
        assert traffic_light(x, 250, 0.9900000001)[0] == standard


def test_kupiec_matches_values_computed_by_hand():
    # no exceptions: LR = -2 * 250 * ln(0.99)
    assert kupiec_pof(250, 0, 0.99)[0] == pytest.approx(-2 * 250 * math.log(0.99))
    assert kupiec_pof(250, 0, 0.99)[0] == pytest.approx(5.0252, abs=1e-4)
    # exactly the expected rate: LR = 0
    assert kupiec_pof(200, 2, 0.99)[0] == pytest.approx(0.0, abs=1e-12)
    # 10 exceptions in 250 days at 99 %
    hand = -2 * (240 * math.log(0.99) + 10 * math.log(0.01)) + 2 * (
        240 * math.log(0.96) + 10 * math.log(0.04)
    )
    lr, p = kupiec_pof(250, 10, 0.99)
    assert lr == pytest.approx(hand) and lr == pytest.approx(12.9555, abs=1e-4)
    assert p == pytest.approx(math.erfc(math.sqrt(lr / 2)))  # chi-square(1) tail
    # 4 exceptions: inside the 95 % acceptance region; 9: rejected
    assert kupiec_pof(250, 4, 0.99)[1] > 0.05
    assert kupiec_pof(250, 9, 0.99)[1] < 0.01
    with pytest.raises(InvalidArgument):
        kupiec_pof(10, 11, 0.99)


def test_christoffersen_flags_clustered_exceptions():
    spread = np.zeros(250, bool)
    spread[::50] = True
    clustered = np.zeros(250, bool)
    clustered[100:105] = True
    _lr_s, p_s = christoffersen_independence(spread)
    lr_c, p_c = christoffersen_independence(clustered)
    assert p_s > 0.05 and p_c < 0.01
    # by hand for the clustered series (249 transitions): n00=243, n01=1, n10=1, n11=4
    pi0, pi1, pi = 1 / 244, 4 / 5, 5 / 249
    hand = -2 * (244 * math.log(1 - pi) + 5 * math.log(pi)) + 2 * (
        243 * math.log(1 - pi0) + math.log(pi0) + math.log(1 - pi1) + 4 * math.log(pi1)
    )
    assert lr_c == pytest.approx(hand)
    r = backtest(np.full(250, 100.0), np.where(clustered, -150.0, 0.0), 0.99)
    assert r.cc_lr == pytest.approx(r.kupiec_lr + r.christoffersen_lr)
