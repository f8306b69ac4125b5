from __future__ import annotations

import pyarrow.compute as pc
import pytest

from ray_platform.jobs.risk_nightly import BACKTESTS, METRICS, STRESS
from ray_platform.lineage import events
from ray_platform.settings import get_settings
from ray_platform.tables import table_store
from tests.fixtures.ray import job_result, submit_job
from tests.unit.risk_inputs import generate, write_inputs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def risk_inputs(tmp_path_factory):
    # Until the silver zone lands, the test writes the silver-shaped inputs itself.
    landing = tmp_path_factory.mktemp("risk-landing")
    as_of = generate(landing, days=3, instruments=80)
    tables = table_store(get_settings())
    write_inputs(tables, landing)
    return as_of, tables


def _rows(tables, as_of):
    m = tables.read(METRICS)
    m = m.filter(pc.equal(m["as_of"], as_of))
    return sorted(
        (r["scope"], r["desk"] or "", r["method"], r["confidence"], r["horizon_days"],
         r["horizon_method"], r["window"] or 0, r["var"], r["es"])
        for r in m.to_pylist()
    )  # fmt: skip


def test_nightly_job_through_ray_job_submit(ray_cluster, risk_inputs):
    as_of, tables = risk_inputs
    args = ("--date", as_of.isoformat(), "--paths", "4000", "--block-size", "1000", "--seed", "9")
    out = submit_job(ray_cluster, "ray_platform.jobs.risk_nightly", *args, "--workers", "2")
    result = job_result(out)
    assert result["as_of"] == as_of.isoformat()
    assert result["mc"]["ray"] is True and result["mc"]["workers"] == 2
    assert all(v and v > 0 for v in result["var_99_1d"].values())
    two = _rows(tables, as_of)
    assert len(two) == result["metrics_rows"]
    methods = {r[2] for r in two}
    assert methods == {
        "historical",
        "parametric_ewma",
        "parametric_equal",
        "mc_normal",
        "mc_student_t",
    }
    assert all(r[8] >= r[7] for r in two)  # ES >= VaR
    desks = {r[1] for r in two if r[0] == "desk"}
    assert len(desks) >= 3
    for table in (STRESS, BACKTESTS):
        t = tables.read(table)
        assert t.filter(pc.equal(t["as_of"], as_of)).num_rows > 0
    assert any(
        e.job == "risk_nightly" and e.business_date == as_of.isoformat() for e in events(tables)
    )

    # Same run seed on one Ray worker: the same numbers, and the rerun replaces the date's rows.
    out = submit_job(ray_cluster, "ray_platform.jobs.risk_nightly", *args, "--workers", "1")
    assert job_result(out)["mc"]["workers"] == 1
    assert _rows(tables, as_of) == two
