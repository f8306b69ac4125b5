from __future__ import annotations

import math

import numpy as np
import pytest

from ray_platform.errors import ConfigError
from ray_platform.risk.factors import build_panel
from ray_platform.risk.pricing import DEFAULT_CURVE_PROXY, compile_model, needed_factors
from ray_platform.risk.stress import load_scenarios, parse_scenarios, run_stress, shock_vector
from tests.unit.risk_inputs import small_book

pytestmark = pytest.mark.unit


def test_bundled_scenarios_load():
    names = {s.name: s.type for s in load_scenarios()}
    for hist in ("lehman_week_2008", "covid_crash_2020", "rates_shock_2022"):
        assert names[hist] == "historical"
    assert "hypothetical" in names.values()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "historical", "equity": -0.1}, "scenario #1: 'name' is required"),
        ({"name": "a", "type": "guess", "equity": -0.1}, "scenario #1 ('a'): 'type' must be"),
        ({"name": "a", "type": "hypothetical"}, "has no shocks"),
        ({"name": "a", "type": "hypothetical", "equity": "big"}, "equity: must be a number"),
        ({"name": "a", "type": "hypothetical", "equity": -1.5}, "equity: -1.5 is outside"),
        (
            {"name": "a", "type": "hypothetical", "rates_bp": {"USD": {"4Q": 10}}},
            "rates_bp.USD.4Q: unknown tenor",
        ),
        (
            {"name": "a", "type": "hypothetical", "equity": {"sector": {"tech": None}}},
            "equity.sector.tech: must be a number",
        ),
        ({"name": "a", "type": "hypothetical", "fx": {"usd": 0.1}}, "fx.usd: unknown key"),
        ({"name": "a", "type": "hypothetical", "shock": 1}, "unknown keys ['shock']"),
    ],
)
def test_bad_entries_are_named(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_scenarios({"scenarios": [entry]}, "my.yaml")
    assert message in str(err.value) and str(err.value).startswith("my.yaml: ")


def test_bad_yaml_and_duplicates(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("scenarios: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_scenarios(f)
    f.write_text(
        "scenarios:\n"
        "  - {name: x, type: hypothetical, equity: -0.1}\n"
        "  - {name: x, type: hypothetical, fx: 0.1}\n"
    )
    with pytest.raises(ConfigError, match=r"scenario #2 \('x'\): duplicate name"):
        load_scenarios(f)


def test_stress_pnl_per_desk_and_firm(tmp_path):
    pf, mk, _ = small_book()
    panel = build_panel(mk, needed_factors(pf, mk, DEFAULT_CURVE_PROXY), 300)
    model = compile_model(pf, mk, panel)
    f = tmp_path / "s.yaml"
    f.write_text(
        "scenarios:\n"
        "  - {name: tech_down, type: hypothetical, equity: {default: -0.1, sector: {tech: -0.5}}}\n"
        "  - {name: usd_up, type: hypothetical, fx: {USD: -0.2}}\n"
    )
    scenarios = load_scenarios(f)
    inst = {r["isin"]: r for r in pf.instruments.to_pylist()}
    x = shock_vector(scenarios[0], model.factor_names, inst)
    assert x[panel.index("EQ:EQEUR0000001")] == pytest.approx(math.log(0.5))  # tech
    assert x[panel.index("EQ:EQEUR0000003")] == pytest.approx(math.log(0.9))  # default
    rows = run_stress(model, scenarios, inst)
    firm = {r["scenario"]: r["pnl"] for r in rows if r["scope"] == "firm"}
    desk = {(r["scenario"], r["desk"]): r["pnl"] for r in rows if r["scope"] == "desk"}
    for s in ("tech_down", "usd_up"):
        assert firm[s] == pytest.approx(sum(v for (n, _), v in desk.items() if n == s))
    s0 = panel.current[panel.index("EQ:EQEUR0000001")]
    s3 = panel.current[panel.index("EQ:EQEUR0000003")]
    usd = panel.current[panel.index("EQ:EQUSD0000002")] / panel.current[panel.index("FX:USD")]
    want = 1000 * s0 * -0.5 + 2000 * usd * -0.1  # tech stock, then a financial at the default
    assert desk[("tech_down", "EQ_CASH")] == pytest.approx(want, rel=1e-9)
    assert desk[("tech_down", "RATES")] == 0.0
    assert desk[("usd_up", "FX")] == pytest.approx(500_000 * (1 - 1 / 0.8))
    # short 500 of a stock down 10 % gains; the long call on the tech stock loses
    assert desk[("tech_down", "EQ_DERIV")] < -500 * s3 * -0.1
    assert np.isfinite(list(firm.values())).all()
