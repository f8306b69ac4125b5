"""Residency on the local Ray cluster: the existing lake_etl job, submitted once per region.

`submit_regions_day` routes the landing zone and submits `ray_platform.jobs.lake_etl` with each
region's settings, as `gbank regions etl --ray` does. The cluster's result must equal the
in-process run of the same bank, and keep European customers' data in the eu root.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.tokens import token_key
from ray_platform.ops import residency as res
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from tests.unit.residency_scan import region_root, region_values, scan

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 1, 5)
CONFIG = GeneratorConfig(customers=40, days=1, seed=7, bad_rate=0.05, history_days=3,
                         instruments=15, counterparties=4)  # fmt: skip
KEYS = {"customers": "customer_id", "accounts": "account_id", "card_transactions": "transaction_id"}


def _ids(settings, region: str) -> dict[str, list[str]]:
    store = table_store(res.region_settings(settings, region))
    return {
        t: sorted(store.read(f"silver/{t}", columns=[k])[0].to_pylist()) for t, k in KEYS.items()
    }


def test_each_region_runs_the_lake_job_on_its_own_root(ray_cluster, tmp_path):
    on_cluster = load_settings(home=tmp_path / "cluster")
    in_process = load_settings(home=tmp_path / "local")
    for s in (on_cluster, in_process):
        generate_bank(s.landing_uri, CONFIG)
    runs = res.submit_regions_day(DAY, on_cluster, timeout_s=300)
    res.run_regions_day(DAY, in_process, use_ray=False)

    assert set(runs) == set(res.REGIONS)
    for region, run in runs.items():
        assert run.status == "SUCCEEDED"
        (day,) = run.result["days"]  # type: ignore[index]
        assert day["business_date"] == DAY.isoformat() and day["kafka_records"] == 0
        assert _ids(on_cluster, region) == _ids(in_process, region), region
        assert all(_ids(on_cluster, region).values()), region

    eu = region_values(tmp_path / "cluster" / "landing", token_key(on_cluster))["eu"]
    for region in ("us", "apac"):
        assert scan(region_root(on_cluster, region), eu) == {}, region
    assert scan(region_root(on_cluster, "eu"), eu)
