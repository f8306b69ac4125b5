"""Basel III report: the arithmetic by hand on a tiny exposure table, then on a small lake."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest

from ray_platform.reports import REPORT_RUNS
from ray_platform.reports._base import load_config
from ray_platform.reports.basel_rules import (
    backtest_plus_factor,
    capital_figures,
    classify_position,
    market_risk_capital,
)
from tests.unit import reports_lake as lake

pytestmark = pytest.mark.unit
W = load_config("risk_weights")


def _pos(asset, mv, **kw):
    return {
        "desk": "D",
        "isin": f"X{asset}{mv}",
        "asset_class": asset,
        "mv": mv,
        "priced": True,
    } | kw


TINY = [
    _pos("equity", 100.0),  # 250 %
    _pos("bond", 1000.0, instrument_name="Treasury 1.000 2030", country="DE"),  # AAA: 0 %
    _pos("bond", 200.0, instrument_name="Treasury 2.000 2031", country="IT"),  # BBB: 50 %
    _pos("bond", 300.0, instrument_name="Blue City Group 3.000 2032", country="DE"),  # 100 %
    _pos("fx", -500.0, counterparty_type="bank"),  # EAD 1.4*4%*500 = 28 at 40 %
    _pos("option", 50.0, counterparty_type="hedge_fund"),  # EAD 70 at 100 %
    _pos("option", -20.0, counterparty_type="bank"),  # sold option: no exposure
    _pos("equity", -80.0),  # short: no exposure
    _pos("equity", 90.0, priced=False),  # unpriced: excluded
]
CAPITAL = {
    "own_funds": {"cet1": 60, "at1": 10, "tier2": 20},
    "minimums": {"cet1": 0.045, "tier1": 0.06, "total": 0.08},
    "buffers": {"conservation": 0.025, "countercyclical": 0.01, "gsib": 0.01},
    "leverage": {"minimum": 0.03, "gsib_buffer_share": 0.5},
}


def test_rwa_and_ratios_by_hand():
    exps = [e for r in TINY if (e := classify_position(r, W))]
    assert [(e.exposure_class, e.risk_weight) for e in exps] == [
        ("equity", 2.5),
        ("sovereign", 0.0),
        ("sovereign", 0.5),
        ("corporate", 1.0),
        ("bank", 0.4),
        ("corporate", 1.0),
    ]
    f = capital_figures(exps, 4.0, CAPITAL)
    credit = 250 + 0 + 100 + 300 + 28 * 0.4 + 70
    assert f["credit_rwa"] == pytest.approx(credit)
    assert f["market_rwa"] == pytest.approx(50.0)
    rwa = credit + 50
    assert f["total_rwa"] == pytest.approx(rwa)
    assert f["ratios"]["cet1"]["ratio"] == pytest.approx(60 / rwa)
    assert f["ratios"]["tier1"]["ratio"] == pytest.approx(70 / rwa)
    assert f["ratios"]["total"]["ratio"] == pytest.approx(90 / rwa)
    assert f["ratios"]["cet1"]["required_with_buffers"] == pytest.approx(0.045 + 0.045)
    assert f["ratios"]["total"]["required_with_buffers"] == pytest.approx(0.08 + 0.045)
    assert f["ratios"]["cet1"]["meets_with_buffers"] is (60 / rwa >= 0.09)
    ead = 100 + 1000 + 200 + 300 + 28 + 70
    assert f["leverage"]["exposure_measure"] == pytest.approx(ead)
    assert f["leverage"]["ratio"] == pytest.approx(70 / ead)
    assert f["leverage"]["required"] == pytest.approx(0.035)


def test_ratio_below_requirement_is_flagged():
    exps = [e for r in TINY if (e := classify_position(r, W))]
    thin = CAPITAL | {"own_funds": {"cet1": 40, "at1": 0, "tier2": 0}}
    r = capital_figures(exps, None, thin)["ratios"]
    assert r["cet1"]["ratio"] == pytest.approx(40 / 731.2)
    assert r["cet1"]["meets_minimum"] and not r["cet1"]["meets_with_buffers"]
    assert not r["total"]["meets_minimum"]


def test_market_risk_rule():
    series = [(i, 10.0) for i in range(5)] + [(i, 1.0) for i in range(5, 65)]
    m = market_risk_capital(series, 3.0, 0.0, 60)
    assert m["average_days_used"] == 60 and m["var_average"] == 1.0
    assert m["capital"] == 3.0  # m_c x avg beats VaR t-1
    plus = market_risk_capital([(0, 1.0), (1, 1.0), (2, 9.0)], 3.0, 0.5)
    assert plus["var_latest"] == 9.0 and plus["capital"] == pytest.approx(3.5 * 11 / 3)
    spike = market_risk_capital([(i, 1.0) for i in range(59)] + [(99, 100.0)], 3.0)
    assert spike["capital"] == 100.0  # VaR t-1 beats m_c x avg (3 x 159 / 60)
    assert [backtest_plus_factor(x) for x in (None, 4, 5, 9, 12)] == [0, 0, 0.4, 0.85, 1.0]


def test_report_against_independent_computation():
    built = lake.build()
    store, settings = built["store"], built["settings"]
    summary = built["daily"]["reports"]["basel3"]["summary"]
    inst = {r["isin"]: r for r in store.read("silver/instruments").to_pylist()}
    cps = {r["lei"]: r["type"] for r in store.read("silver/counterparties").to_pylist()}
    last_cp = {}
    for t in sorted(store.read("silver/trades").to_pylist(), key=lambda t: t["execution_ts"]):
        if t["execution_ts"].date() <= lake.D2:
            last_cp[t["isin"]] = t["counterparty_lei"]
    bank_like = {"bank", "broker"}
    rwa = ead = 0.0
    for p in store.read("gold/positions_valued").to_pylist():
        if p["business_date"] != lake.D2 or not p["priced"]:
            continue
        mv, i = float(p["market_value_reporting"]), inst[p["isin"]]
        cp_w = 0.4 if cps.get(last_cp.get(p["isin"])) in bank_like else 1.0
        if p["asset_class"] == "fx":
            e, w = 1.4 * 0.04 * abs(mv), cp_w
        elif mv <= 0:
            continue
        elif p["asset_class"] == "option":
            e, w = 1.4 * mv, cp_w
        elif p["asset_class"] == "equity":
            e, w = mv, 2.5
        elif "Treasury" in i["name"]:
            e, w = mv, {"AAA_AA": 0, "A": 0.2, "BBB": 0.5}[W["sovereign_ratings"][i["country"]]]
        else:
            e, w = mv, 1.0
        rwa, ead = rwa + e * w, ead + e
    assert summary["credit_rwa"] == pytest.approx(rwa, rel=1e-9)
    assert summary["leverage"]["exposure_measure"] == pytest.approx(ead, rel=1e-9)
    # Market risk: 10-day firm historical 99 % VaR, worst window per day, mean of <= 60 days.
    var = lake.FIRM_VAR_10D
    mrc = max(var[lake.D2], 3.0 * sum(var.values()) / len(var))
    assert summary["market_risk"]["capital"] == pytest.approx(mrc)
    assert summary["total_rwa"] == pytest.approx(rwa + 12.5 * mrc, rel=1e-9)
    cap = load_config("capital")["own_funds"]
    assert summary["ratios"]["cet1"]["ratio"] == pytest.approx(
        cap["cet1"] / (rwa + 12.5 * mrc), rel=1e-9
    )
    files = built["daily"]["reports"]["basel3"]["files"]
    rows = list(csv.DictReader(io.StringIO(lake.read_file(settings, files[0]).decode())))
    assert math.fsum(float(r["rwa"]) for r in rows) == pytest.approx(rwa, rel=1e-6)
    saved = json.loads(lake.read_file(settings, files[-1]))
    assert saved["total_rwa"] == pytest.approx(summary["total_rwa"])


def test_without_var_market_risk_is_excluded_with_a_note():
    built = lake.build()
    res = built["basel_without_var"]
    assert res.summary["market_risk"]["available"] is False
    assert res.summary["market_rwa"] == 0 and res.summary["market_risk_capital"] is None
    assert res.summary["total_rwa"] == pytest.approx(res.summary["credit_rwa"])
    html = lake.read_file(built["settings"], f"reports/basel3/{lake.D2}/summary.html")
    assert b"<html" in html and b"http" not in html.split(b"</title>")[1]


def test_each_run_is_recorded_with_its_seconds():
    built = lake.build()
    runs = built["store"].read(REPORT_RUNS).to_pylist()
    mine = [r for r in runs if r["run_id"] == built["daily"]["run_id"]]
    assert {r["name"] for r in mine} == {"basel3", "mifid2", "sox"}
    assert all(r["status"] == "OK" and r["seconds"] > 0 and json.loads(r["files"]) for r in mine)
    assert built["daily"]["seconds"] < 60
