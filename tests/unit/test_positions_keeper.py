"""The live position keeper: valuation, P&L, limit checks and held trades, without Kafka."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from ray_platform.errors import ConfigError
from ray_platform.risk.live_positions import (
    Book,
    DeskLimits,
    Instrument,
    Limits,
    PositionKeeper,
    load_limits,
)

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 2, 3)


def book() -> Book:
    instruments = {
        "EQ1": Instrument("EQ1", "equity", "USD"),
        "BD1": Instrument("BD1", "bond", "EUR"),
        "OP1": Instrument(
            "OP1", "option", "USD", "EQ1", 100.0, DAY + dt.timedelta(days=365), "call"
        ),
    }
    positions = {("EQ", "EQ1"): 1000.0, ("RATES", "BD1"): 1_000_000.0, ("EQ", "OP1"): 10.0}
    prices = {"EQ1": 100.0, "BD1": 98.0, "OP1": 12.0}
    return Book(DAY, instruments, positions, prices, {"USD": 2.0}, {"EQ1": 0.2}, {"EQ": 0.05})


def limits(**eq: float) -> Limits:
    return Limits(default=DeskLimits(), desks={"EQ": DeskLimits(**eq)}, default_var_intensity=0.01)


def test_values_are_in_eur_with_bond_prices_per_100_and_options_on_their_underlying() -> None:
    k = PositionKeeper(book(), limits())
    rates = k.desk_figures("RATES")
    assert rates["notional"] == pytest.approx(1_000_000 * 98 / 100)
    assert rates["var"] == pytest.approx(rates["notional"] * 0.01)  # default intensity
    eq = k.desk_figures("EQ")
    # option: 10 x underlying 100 / 2 (USD per EUR) of notional; delta at the money, 1y, 20% vol
    d1 = (0.5 * 0.2 * 0.2) / 0.2
    call_delta = 0.5 * (1 + math.erf(d1 / math.sqrt(2)))
    assert eq["notional"] == pytest.approx(1000 * 100 / 2 + 10 * 100 / 2)
    assert eq["delta"] == pytest.approx(1000 * 100 / 2 + 10 * call_delta * 100 / 2)
    assert eq["var"] == pytest.approx(eq["notional"] * 0.05)
    assert eq["pnl"] == 0


def test_trade_and_price_move_pnl_from_start_of_day() -> None:
    k = PositionKeeper(book(), limits())
    k.apply_trade(
        {
            "trade_id": "T1",
            "desk": "EQ",
            "isin": "EQ1",
            "side": "BUY",
            "quantity": 100,
            "price": "101",
        },
        0,
    )
    # bought 100 at 101 against a mark of 100: -100 USD = -50 EUR
    assert k.desk_figures("EQ")["pnl"] == pytest.approx(-50)
    k.apply_market({"type": "price", "isin": "EQ1", "price": 110}, 0)
    # 1100 held at 110 vs 1000 at 100 and 100 paid at 101; option P&L stays 0 (own price unchanged)
    expected = (1100 * 110 - 1000 * 100 - 100 * 101) / 2
    assert k.desk_figures("EQ")["pnl"] == pytest.approx(expected)
    k.apply_market({"type": "fx", "quote": "USD", "rate": 4.0}, 0)
    assert k.desk_figures("EQ")["pnl"] == pytest.approx(expected / 2)


def test_a_trade_over_the_notional_limit_breaches_once_until_back_within() -> None:
    k = PositionKeeper(book(), limits(notional=60_000))
    assert k.desk_figures("EQ")["notional"] == pytest.approx(50_500)
    big = {
        "trade_id": "T9",
        "desk": "EQ",
        "isin": "EQ1",
        "side": "BUY",
        "quantity": 200,
        "price": 100,
    }
    found = k.apply_trade(big, 123.0)
    assert [(b.kind, b.desk, b.metric, b.limit, b.cause, b.event_ts) for b in found] == [
        ("limit_breach", "EQ", "notional", 60_000, "trade T9", 123.0)
    ]
    assert found[0].value == pytest.approx(60_500)
    assert k.apply_trade({**big, "trade_id": "T10", "quantity": 1}, 0) == []  # still over: silent
    assert k.apply_trade({**big, "trade_id": "T11", "side": "SELL", "quantity": 300}, 0) == []
    again = k.apply_trade({**big, "trade_id": "T12", "quantity": 300}, 0)
    assert [b.metric for b in again] == ["notional"]
    assert k.snapshot()["desks"]["EQ"]["breaches"] == ["notional"]


def test_a_price_move_can_breach_delta_and_var() -> None:
    k = PositionKeeper(book(), limits(delta=80_000, var=4_000))
    found = k.apply_market({"type": "price", "isin": "EQ1", "price": 160}, 7.0)
    assert sorted(b.metric for b in found) == ["delta", "var"]
    assert {b.cause for b in found} == {"price EQ1"}


def test_unknown_instrument_is_held_reported_and_released_once_known() -> None:
    k = PositionKeeper(book(), limits())
    trade = {
        "trade_id": "T5",
        "desk": "EQ",
        "isin": "NEW1",
        "side": "BUY",
        "quantity": 5,
        "price": 10,
    }
    found = k.apply_trade(trade, 1.0)
    assert [(b.kind, b.cause) for b in found] == [("held_trade", "trade T5")]
    assert "NEW1" in found[0].detail
    before = k.desk_figures("EQ")
    assert k.snapshot()["held_trades"] == [trade]
    k.add_instrument(Instrument("NEW1", "equity", "EUR"))
    k.release_held(2.0)
    assert k.snapshot()["held_trades"] == []
    assert k.snapshot()["desks"]["EQ"]["positions"]["NEW1"] == 5
    assert k.desk_figures("EQ")["notional"] == pytest.approx(before["notional"] + 50)


def test_packaged_limits_load_and_bad_files_say_which(tmp_path) -> None:
    lim = load_limits()
    assert lim.default.notional and lim.for_desk("NOT_A_DESK") == lim.default
    bad = tmp_path / "limits.yaml"
    bad.write_text("default: {notional: -1}\n")
    with pytest.raises(ConfigError, match=r"limits\.yaml"):
        load_limits(bad)
