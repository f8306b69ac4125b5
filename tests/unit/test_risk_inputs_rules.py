from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ray_platform.risk.engine import EngineConfig, run_risk
from ray_platform.risk.factors import build_panel, tenor_years
from ray_platform.risk.montecarlo import MCSpec
from ray_platform.risk.pricing import DEFAULT_CURVE_PROXY, compile_model, needed_factors
from tests.unit.risk_inputs import build, small_book

pytestmark = pytest.mark.unit
AS_OF = dt.date(2026, 1, 7)


def _drop(raw, isin, dates):
    p = raw["prices"]
    keep = pc.invert(
        pc.and_(pc.equal(p["isin"], isin), pc.is_in(p["date"], pa.array(dates, pa.date32())))
    )
    return {**raw, "prices": p.filter(keep)}


def _panel(pf, mk, obs=300, stale=5):
    return build_panel(mk, needed_factors(pf, mk, DEFAULT_CURVE_PROXY), obs, stale)


def test_short_gap_is_carried_forward_and_reported():
    pf, mk, raw = small_book()
    dates = sorted(set(raw["prices"]["date"].to_pylist()))
    gap = dates[-10:-8]  # two holidays for one stock
    pf, mk = build(AS_OF, _drop(raw, "EQUSD0000002", gap))
    panel = _panel(pf, mk)
    filled = [i for i in panel.issues if i.kind == "filled" and i.factor == "EQ:EQUSD0000002"]
    assert [i.date for i in filled] == gap
    col = panel.levels[:, panel.index("EQ:EQUSD0000002")]
    row = panel.dates.index(gap[0])
    assert col[row] == col[row - 1] == col[row + 1 - 1]  # carried forward, never zero
    assert np.all(col > 0)


def test_long_gap_excludes_the_factor_and_lists_positions_unpriced():
    pf, mk, raw = small_book()
    dates = sorted(set(raw["prices"]["date"].to_pylist()))
    pf, mk = build(AS_OF, _drop(raw, "EQEUR0000001", dates[-8:]))  # stale through today
    panel = _panel(pf, mk)
    assert "EQ:EQEUR0000001" in panel.excluded
    model = compile_model(pf, mk, panel)
    unpriced = {(u.desk, u.isin): u.reason for u in model.unpriced}
    # the equity and the option on it: listed with the reason, not dropped
    assert set(unpriced) == {("EQ_CASH", "EQEUR0000001"), ("EQ_DERIV", "OPT000000005")}
    assert "no price" in unpriced[("EQ_CASH", "EQEUR0000001")]


def test_zero_price_is_missing_not_zero_and_stale_quotes_are_caught():
    pf, mk, raw = small_book()
    p = raw["prices"]
    last = p["date"][-1].as_py()
    close = pc.if_else(
        pc.and_(
            pc.equal(p["isin"], "EQEUR0000003"), pc.equal(p["date"], pa.scalar(last, pa.date32()))
        ),
        0.0,
        p["close"],
    )
    p = p.set_column(p.column_names.index("close"), "close", close)
    pf, mk = build(AS_OF, {**raw, "prices": p})
    panel = _panel(pf, mk)
    i = panel.index("EQ:EQEUR0000003")
    assert panel.current[i] == panel.levels[-2, i] > 0
    assert any(x.kind == "filled" and x.date == last for x in panel.issues)
    # a quote frozen for 8 days is stale: excluded
    p = raw["prices"]
    frozen = pc.if_else(
        pc.and_(
            pc.equal(p["isin"], "EQEUR0000003"),
            pc.greater(p["date"], pa.scalar(p["date"][-9].as_py(), pa.date32())),
        ),
        20.0,
        p["close"],
    )
    pf, mk = build(
        AS_OF, {**raw, "prices": p.set_column(p.column_names.index("close"), "close", frozen)}
    )
    assert "stale" in _panel(pf, mk).excluded["EQ:EQEUR0000003"]


def test_position_without_market_data_or_instrument_is_unpriced():
    pf, mk, raw = small_book()
    extra = pa.table(
        {"desk": ["EQ_CASH", "FX"], "isin": ["NODATA000001", "UNKNOWN00001"], "quantity": [10, 5]}
    )
    inst = pa.concat_tables(
        [
            raw["instruments"],
            pa.table({"isin": ["NODATA000001"], "asset_class": ["equity"], "currency": ["EUR"]}),
        ],
        promote_options="permissive",
    )
    pos = pa.concat_tables(
        [
            raw["positions"].cast(
                pa.schema([("desk", pa.string()), ("isin", pa.string()), ("quantity", pa.int64())])
            ),
            extra,
        ]
    )
    pf, mk = build(AS_OF, {**raw, "positions": pos, "instruments": inst})
    run = run_risk(
        pf,
        mk,
        EngineConfig(windows=(250,), backtest_days=30, mc=MCSpec(paths=2000, block_size=1000)),
    )
    got = {r["isin"]: r["reason"] for r in run.unpriced.to_pylist()}
    assert got["NODATA000001"].startswith("no price (no market data")
    assert got["UNKNOWN00001"].startswith("unknown instrument")
    assert run.report["positions_unpriced"] == 2


def test_tenors():
    assert [tenor_years(t) for t in ("1M", "3M", "1Y", "30Y")] == [1 / 12, 0.25, 1.0, 30.0]
    with pytest.raises(ValueError):
        tenor_years("3Q")
