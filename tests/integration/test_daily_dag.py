"""The daily DAG through `ray job submit`: a clean run, then a run killed mid-step and resubmitted.

A small generated bank, one business date (a Monday), the DAG up to the reports
(``--to reports``: ingest, silver, gold, warehouse, risk with few Monte Carlo paths, reports).
Features and the retrain are left out to keep the suite short: the retrain needs weeks of
labelled data to train at all (``test_fraud_job.py`` covers those two on such a lake).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time

import pytest

from ray_platform.contracts.silver import CONTRACTS
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake import layout
from ray_platform.ops import RunLog
from ray_platform.ops.sla import ALERT_TOPIC
from ray_platform.settings import load_settings
from ray_platform.streaming import end_offsets, read_from
from ray_platform.tables import table_store
from tests.fixtures.ray import REPO, job_result, submit_job

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 1, 5)
CONFIG = GeneratorConfig(customers=150, days=1, start_date=DAY, seed=21, history_days=25)
ARGS = ("--date", DAY.isoformat(), "--to", "reports", "--no-kafka", "--risk-paths", "2000")
# The kill test stops after the warehouse: the tables it compares are all written by then.
KILL_ARGS = (*ARGS[:3], "warehouse", *ARGS[4:])
# Columns that name the run or the moment of a write, not the data.
VOLATILE = ("_run_id", "run_id", "_loaded_at", "loaded_at", "_ingested_at", "computed_at")


def _bank(tmp_path_factory, name: str):
    settings = load_settings(home=tmp_path_factory.mktemp(name))
    generate_bank(settings.landing_uri, CONFIG)
    return settings


def _tables(store) -> list[str]:
    names = [layout.silver_table(n) for n in CONTRACTS]
    names += [layout.gold_table(n) for n in ("daily_customer_summary", "daily_merchant_stats")]
    names += [
        layout.gold_table(f"warehouse/{n}")
        for n in ("fact_transactions", "fact_trades", "dim_customer", "dim_account")
    ]
    return [n for n in names if store.exists(n)]


def _snapshot(store) -> dict[str, list[tuple]]:
    out = {}
    for name in _tables(store):
        t = store.read(name)
        t = t.select([c for c in t.column_names if c not in VOLATILE])
        out[name] = sorted(tuple(str(v) for v in r.values()) for r in t.to_pylist())
    return out


def _submit_beside_clean(ray_cluster, clean_settings, tmp_path_factory, name: str):
    """The same bank in a new home, submitted with ``KILL_ARGS``: (settings, client, id)."""
    from ray.job_submission import JobSubmissionClient

    settings = _bank(tmp_path_factory, name)
    # Same token key as the clean lake, so tokenised columns compare equal too.
    key = settings.home / "keys" / "token.key"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_bytes((clean_settings.home / "keys" / "token.key").read_bytes())
    client = JobSubmissionClient(ray_cluster.settings.ray_dashboard_url)
    sid = client.submit_job(
        entrypoint=" ".join(["python", "-m", "ray_platform.jobs.daily", *KILL_ARGS]),
        runtime_env={"working_dir": str(REPO), "env_vars": settings.as_env()},
    )
    return settings, client, sid


@pytest.fixture(scope="module")
def clean(ray_cluster, kafka_broker, tmp_path_factory):
    kafka_broker.ensure_topics([ALERT_TOPIC])
    settings = _bank(tmp_path_factory, "dag-clean")
    before = end_offsets(ALERT_TOPIC, settings)
    started = time.monotonic()
    out = submit_job(ray_cluster, "ray_platform.jobs.daily", *ARGS, settings=settings)
    return settings, job_result(out), before, time.monotonic() - started


def test_the_dag_runs_every_step_in_order_and_records_it(clean):
    settings, result, _, seconds = clean
    assert result["ok"], result
    (day,) = result["days"]
    assert day["steps"] == dict.fromkeys(
        ("ingest", "silver", "gold", "warehouse", "risk", "reports"), "succeeded"
    )
    runs = RunLog(table_store(settings))
    records = [r for r in runs.records(DAY) if r.step != "sla"]
    done = [r for r in records if r.status == "succeeded"]
    assert [r.step for r in done] == list(day["steps"])  # in dependency order
    for earlier, later in itertools.pairwise(done):
        assert earlier.ended_at <= later.started_at
    by_step = {r.step: r for r in done}
    assert by_step["silver"].rows > 0 and by_step["warehouse"].rows > 0
    silver_tx = layout.silver_table("card_transactions")
    assert by_step["silver"].table_versions[silver_tx] == table_store(settings).version(silver_tx)
    print(f"clean DAG run: {seconds:.0f}s")


def test_a_missed_sla_alerts_on_ops_alerts(clean):
    # The business date is long past, so every region's 06:00 deadline was missed.
    settings, result, before, _ = clean
    sla = result["days"][0]["sla"]
    assert sla["status"] == "missed" and sorted(sla["alerted"]) == ["apac", "eu", "us"]
    got = read_from(ALERT_TOPIC, before, 3, 30, settings)
    alerts = [json.loads(m.value) for m in got]
    mine = [a for a in alerts if a["run_id"] == result["days"][0]["run_id"]]
    assert sorted(a["region"] for a in mine) == ["apac", "eu", "us"]


def test_killed_mid_step_and_resubmitted_ends_like_a_clean_run(
    ray_cluster, clean, tmp_path_factory
):
    clean_settings = clean[0]
    settings, client, sid = _submit_beside_clean(ray_cluster, clean_settings, tmp_path_factory,
                                                 "dag-killed")  # fmt: skip
    store = table_store(settings)
    runs = RunLog(store)
    silver_names = [layout.silver_table(n) for n in CONTRACTS]
    deadline, written = time.monotonic() + 300, []
    # Kill once silver is running and has committed some of its tables but not all: the worst
    # moment, a step half done.
    while time.monotonic() < deadline and not written:
        status = str(client.get_job_status(sid).value)
        assert status not in ("SUCCEEDED", "FAILED", "STOPPED"), client.get_job_logs(sid)[-3000:]
        latest = runs.latest(DAY).get("silver")
        if latest is not None and latest.status == "running":
            written = [n for n in silver_names if store.exists(n)]
        if not written:
            time.sleep(0.3)
    assert written, "the job never reached a half-written silver step"
    client.stop_job(sid)
    while str(client.get_job_status(sid).value) not in ("STOPPED", "FAILED", "SUCCEEDED"):
        time.sleep(0.5)
    assert str(client.get_job_status(sid).value) == "STOPPED"
    assert runs.latest(DAY)["silver"].status == "running"  # it died inside the step
    now = [n for n in silver_names if store.exists(n)]
    clean_silver = [n for n in silver_names if table_store(clean_settings).exists(n)]
    assert len(now) < len(clean_silver), "silver had finished its writes: not a mid-step kill"
    print(f"killed with {len(now)} of {len(clean_silver)} silver tables written")

    out = submit_job(ray_cluster, "ray_platform.jobs.daily", *KILL_ARGS, settings=settings)
    day = job_result(out)["days"][0]
    assert day["ok"] and day["steps"]["silver"] == "succeeded"
    assert day["steps"]["ingest"] == "succeeded (earlier run)"  # resumed, not restarted

    got, want = _snapshot(table_store(settings)), _snapshot(table_store(clean_settings))
    assert set(got) == set(want) and layout.silver_table("card_transactions") in got
    for name in want:
        assert len(got[name]) == len(want[name]), name
        assert got[name] == want[name], name
    tx = table_store(settings).read(layout.silver_table("card_transactions"), columns=[
        "transaction_id"])["transaction_id"].to_pylist()  # fmt: skip
    assert len(tx) == len(set(tx)) > 0


def test_worker_node_killed_during_etl_the_job_finishes_with_correct_tables(
    ray_cluster, clean, tmp_path_factory
):
    """A worker node is lost while silver runs; Ray retries its tasks, the step is idempotent."""
    clean_settings = clean[0]
    settings, client, sid = _submit_beside_clean(ray_cluster, clean_settings, tmp_path_factory,
                                                 "dag-node-lost")  # fmt: skip
    runs = RunLog(table_store(settings))
    deadline, killed = time.monotonic() + 300, None
    while time.monotonic() < deadline and killed is None:
        status = str(client.get_job_status(sid).value)
        assert status not in ("SUCCEEDED", "FAILED", "STOPPED"), client.get_job_logs(sid)[-3000:]
        latest = runs.latest(DAY).get("silver")
        if latest is not None and latest.status == "running":
            killed = ray_cluster.kill_worker_node()
        else:
            time.sleep(0.2)
    assert killed, "the job never reached the silver step"
    # The lost machine is replaced, as KubeRay's autoscaler would; the job is not touched.
    noticed = time.monotonic() + 120
    while ray_cluster.status().alive_nodes >= 2:  # until the head notices the death
        assert time.monotonic() < noticed, "the head never noticed the lost node"
        time.sleep(0.5)
    ray_cluster.add_worker_node()
    deadline = time.monotonic() + 600
    while str(client.get_job_status(sid).value) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        assert time.monotonic() < deadline, "the job did not finish after the node loss"
        time.sleep(1)
    logs = client.get_job_logs(sid)
    assert str(client.get_job_status(sid).value) == "SUCCEEDED", logs[-3000:]
    day = job_result(logs)["days"][0]
    assert day["ok"] and day["steps"]["silver"] == "succeeded"

    got, want = _snapshot(table_store(settings)), _snapshot(table_store(clean_settings))
    assert set(got) == set(want) and layout.silver_table("card_transactions") in got
    for name in want:
        assert got[name] == want[name], name
