"""The same silver run through Ray Data (a private local Ray, two CPUs)."""

from __future__ import annotations

import json

import pytest

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.silver import run_silver
from ray_platform.settings import load_settings
from tests.unit.test_silver_run import _quarantined, land

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, object_store_memory=300 * 1024**2,
             include_dashboard=False)  # fmt: skip
    yield ray
    ray.shutdown()


def test_ray_pipeline_matches_manifest(local_ray, tmp_path):
    landing = tmp_path / "landing"
    generate_bank(
        str(landing), GeneratorConfig(customers=100, days=1, seed=5, bad_rate=0.05, history_days=5)
    )
    land(landing, tmp_path / "home")
    settings = load_settings(home=tmp_path / "home")
    report = run_silver("2026-01-05", settings, use_ray=True)
    assert all(r.balanced for r in report.tables.values())
    entries = [
        json.loads(x) for x in (landing / "_manifest/bad_records.jsonl").read_text().splitlines()
    ]
    expected = {(e["file"], e.get("line", e.get("element")), e["kind"]) for e in entries}
    from ray_platform.tables import table_store

    assert _quarantined(table_store(settings), report.tables) == expected
