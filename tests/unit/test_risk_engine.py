from __future__ import annotations

import numpy as np
import pyarrow.compute as pc
import pytest

from ray_platform.risk import EngineConfig, MCSpec, load_market, load_portfolio, run_risk
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from tests.unit.risk_inputs import generate, write_inputs

pytestmark = pytest.mark.unit
METHODS = {"historical", "parametric_ewma", "parametric_equal", "mc_normal", "mc_student_t"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("risk")
    as_of = generate(root / "landing", days=3, instruments=80)
    tables = table_store(load_settings(home=root / "home"))
    write_inputs(tables, root / "landing")
    pf, mk = load_portfolio(as_of, tables), load_market(as_of, tables)
    cfg = EngineConfig(mc=MCSpec(paths=6_000, block_size=2_000, seed=5))
    return pf, mk, cfg, run_risk(pf, mk, cfg, run_id="t", use_ray=False)


def test_lake_inputs_are_typed_and_deduplicated(run):
    pf, mk, _, _ = run
    assert pf.positions.num_rows > 0 and len(pf.desks) >= 3
    assert mk.prices.schema.field("close").type == "double"
    keys = mk.prices.select(["date", "isin"]).to_pylist()
    assert len(keys) == len({(k["date"], k["isin"]) for k in keys})


def test_every_desk_method_and_level_is_reported(run):
    pf, _, cfg, r = run
    m = r.metrics
    assert set(m["method"].to_pylist()) == METHODS
    for method in METHODS:
        for c in cfg.confidences:
            for h in (1, 10):
                sel = m.filter(
                    pc.and_(
                        pc.and_(pc.equal(m["method"], method), pc.equal(m["confidence"], c)),
                        pc.equal(m["horizon_days"], h),
                    )
                )
                desks = set(sel.filter(pc.equal(sel["scope"], "desk"))["desk"].to_pylist())
                assert desks == set(pf.desks), (method, c, h)
                assert sel.filter(pc.equal(sel["scope"], "firm")).num_rows >= 1
    horizons = set(zip(m["horizon_days"].to_pylist(), m["horizon_method"].to_pylist(), strict=True))
    assert {
        (10, "overlapping"),
        (10, "sqrt_time"),
        (10, "full_revaluation"),
        (1, "n/a"),
    } <= horizons
    assert (m["es"].to_numpy() >= m["var"].to_numpy() - 1e-9).all()
    assert (m["var"].to_numpy() > 0).all()


def test_component_var_adds_up_per_measure(run):
    r = run[3]
    rows = r.metrics.to_pylist()
    groups: dict = {}
    for row in rows:
        key = (
            row["method"],
            row["confidence"],
            row["horizon_days"],
            row["horizon_method"],
            row["window"],
        )
        groups.setdefault(key, {"firm": 0.0, "desk": 0.0})
        groups[key][row["scope"]] += row["component_var"] if row["scope"] == "desk" else row["var"]
    for key, g in groups.items():
        assert g["desk"] == pytest.approx(g["firm"], rel=1e-9), key


def test_stress_backtests_and_quality_tables(run):
    _pf, _, _, r = run
    firm = r.stress.filter(pc.equal(r.stress["scope"], "firm"))
    assert {"lehman_week_2008", "covid_crash_2020", "rates_shock_2022"} <= set(
        firm["scenario"].to_pylist()
    )
    b = r.backtests
    assert set(b["method"].to_pylist()) == {"historical", "parametric_ewma"}
    assert set(b["zone"].to_pylist()) <= {"green", "yellow", "red"}
    assert (b["days"].to_numpy() == 250).all()
    assert r.report["instruments_priced"] > 0
    # the generator publishes implied vols without history: held and reported, options priced
    assert any(k == "no_history" for k in r.issues["kind"].to_pylist())


def test_same_seed_same_numbers(run):
    pf, mk, cfg, r = run
    again = run_risk(pf, mk, cfg, run_id="t", use_ray=False, workers=3)
    assert np.array_equal(again.metrics["var"].to_numpy(), r.metrics["var"].to_numpy())
