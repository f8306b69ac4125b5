"""Features job and daily retrain through `ray job submit` on a small lake."""

from __future__ import annotations

import datetime as dt

import pytest

from models import registry
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.silver import run_silver
from ray_platform.settings import load_settings
from tests.fixtures.ray import job_result, submit_job

pytestmark = pytest.mark.integration
START, DAYS = dt.date(2026, 1, 5), 14
END = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("fraud_job_home"))
    generate_bank(s.landing_uri, GeneratorConfig(customers=1200, days=DAYS, seed=5,
                                                 history_days=5))  # fmt: skip
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        land_landing_date(day, ingest_date=day, settings=s)
        run_silver(day.isoformat(), s, use_ray=False)
    return s


def test_features_then_retrain_jobs(ray_cluster, lake):
    out = submit_job(ray_cluster, "ray_platform.jobs.features", "--date", END.isoformat(),
                     "--start", START.isoformat(), settings=lake)  # fmt: skip
    feats = job_result(out)
    assert feats["rows"]["customer_spend"] > 1000
    out = submit_job(ray_cluster, "ray_platform.jobs.fraud_retrain", "--date", END.isoformat(),
                     "--training-days", str(DAYS), settings=lake)  # fmt: skip
    result = job_result(out)
    assert result["engine"] == "ray_train"
    assert result["metrics"]["positives"] > 0
    assert result["metrics"]["pr_auc"] < 0.99, "a perfect score signals leakage"
    c = registry.client(lake.mlflow_uri)
    assert registry.alias_version(c, registry.CHAMPION) == result["champion"] is not None
