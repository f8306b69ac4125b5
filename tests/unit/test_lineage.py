from __future__ import annotations

import pytest

from ray_platform import lineage
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.storage import storage_for
from ray_platform.tables import DeltaTableStore

pytestmark = pytest.mark.unit


@pytest.fixture
def tables(tmp_path):
    return DeltaTableStore(storage_for(str(tmp_path)))


def _event(run, step, inputs, outputs, day="2026-01-01"):
    return RunEvent(
        run_id=run,
        job="lake_etl",
        step=step,
        status="COMPLETE",
        inputs=tuple(DatasetRef(n, v) for n, v in inputs),
        outputs=tuple(DatasetRef(n, v) for n, v in outputs),
        business_date=day,
    )


def test_upstream_walks_back_to_bronze_files(tables):
    bronze = "bronze/cards/ingest_date=2026-01-01/card_transactions.jsonl"
    lineage.record(
        [
            _event("r1", "silver", [(bronze, None)], [("silver/card_transactions", 3)]),
            _event("r1", "gold", [("silver/card_transactions", 3)], [("gold/daily_mcc", 1)]),
        ],
        tables,
    )
    tree = lineage.upstream("gold/daily_mcc", tables)
    ((run, inputs),) = tree.runs
    assert run.step == "gold" and run.code_version
    assert inputs[0].dataset == "silver/card_transactions"
    assert inputs[0].runs[0][1][0].dataset == bronze
    text = "\n".join(lineage.render(tree))
    assert bronze in text and "run r1" in text


def test_a_rerun_replaces_the_earlier_run_for_its_date(tables):
    lineage.record([_event("r1", "silver", [("bronze/a", None)], [("silver/t", 1)])], tables)
    lineage.record([_event("r2", "silver", [("bronze/a", None)], [("silver/t", 2)])], tables)
    lineage.record(
        [_event("r3", "silver", [("bronze/b", None)], [("silver/t", 3)], day="2026-01-02")],
        tables,
    )
    runs = {r.run_id for r, _ in lineage.upstream("silver/t", tables).runs}
    assert runs == {"r2", "r3"}


def test_unknown_table_has_no_runs(tables):
    assert lineage.upstream("gold/nothing", tables).runs == []
