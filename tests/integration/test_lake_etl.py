"""The daily lake job end to end, through `ray job submit`, on local disk and on S3."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from ray_platform import lineage
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake import layout
from ray_platform.lake.silver import RECONCILIATION
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.streaming import produce_card_transactions
from ray_platform.tables import table_store
from tests.fixtures.ray import job_result, submit_job

pytestmark = pytest.mark.integration

DAYS = [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
CONFIG = GeneratorConfig(customers=150, days=2, seed=11, bad_rate=0.03, history_days=10)


def _manifest(settings) -> set[tuple[str, int, str]]:
    storage = storage_for(settings.landing_uri, settings.s3_endpoint_url)
    with storage.open("_manifest/bad_records.jsonl") as f:
        entries = [json.loads(line) for line in f.read().splitlines()]
    return {(e["file"], e.get("line", e.get("element")), e["kind"]) for e in entries}


def _quarantined(store) -> set[tuple[str, int, str]]:
    out = set()
    for name in sorted(_silver_tables(store)):
        q = layout.quarantine_table(name)
        if store.exists(q):
            for r in store.read(q, columns=["source_file", "record", "rule"]).to_pylist():
                src, rest = r["source_file"].removeprefix("bronze/").split("/ingest_date=")
                out.add((f"{src}/{rest}", r["record"], r["rule"]))
    return out


def _silver_tables(store) -> list[str]:
    from ray_platform.contracts.silver import CONTRACTS

    return [n for n in CONTRACTS if store.exists(layout.silver_table(n))]


def _rows(store, name: str) -> list[tuple]:
    t = store.read(name)
    keep = [c for c in t.column_names if c not in ("_run_id",)]
    t = t.select(keep)
    return sorted(tuple(str(v) for v in row.values()) for row in t.to_pylist())


@pytest.fixture(scope="module")
def lake_run(ray_cluster, kafka_broker, schema_registry, tmp_path_factory):
    home = tmp_path_factory.mktemp("lake-home")
    settings = load_settings(home=home)
    generate_bank(settings.landing_uri, CONFIG)
    # Part of day two's transactions also arrive on Kafka, as Avro on the card topic and as
    # JSON on its simple-client twin: both must land and count as redeliveries.
    topic = f"test-lake-{uuid.uuid4().hex[:8]}"
    topics = {"avro": topic, "json": f"{topic}.json"}  # role -> topic
    kafka_broker.ensure_topics(list(topics.values()))
    path = Path(settings.landing_uri.removeprefix("file://"))
    name = f"cards/{DAYS[1]}/card_transactions.jsonl"
    lines = (path / name).read_bytes().splitlines()
    bad = {line for f, line, _ in _manifest(settings) if f == name}
    good = [ln for i, ln in enumerate(lines, start=1) if i not in bad][:100]
    avro = produce_card_transactions(good[:70], settings, topic=topic, json_topic=topics["json"])
    plain = produce_card_transactions(good[70:], settings, as_json=True, json_topic=topics["json"])
    assert (avro.avro, avro.json, plain.json) == (70, 0, 30), avro.not_avro
    out = submit_job(
        ray_cluster, "ray_platform.jobs.lake_etl", "--date", str(DAYS[0]), "--end",
        str(DAYS[1]), "--topic", topic, "--topic", topics["json"], settings=settings,
    )  # fmt: skip
    return settings, job_result(out), topics, len(good)


def test_quarantine_matches_the_generator_manifest_and_counts_reconcile(lake_run):
    settings, result, _, _ = lake_run
    store = table_store(settings)
    assert _quarantined(store) == _manifest(settings)
    recon = store.read(RECONCILIATION).to_pylist()
    assert recon and all(r["balanced"] for r in recon)
    assert [d["business_date"] for d in result["days"]] == [str(d) for d in DAYS]


def test_avro_and_json_batches_land_once_and_count_as_redeliveries(lake_run):
    settings, result, topics, produced = lake_run
    # The first date's run lands both topics; the later file copy is then a redelivery.
    assert [d["kafka_records"] for d in result["days"]] == [produced, 0]
    dropped = sum(d["silver"]["card_transactions"]["duplicates_dropped"] for d in result["days"])
    assert dropped == produced
    offsets = table_store(settings).read(layout.KAFKA_OFFSETS).to_pylist()
    landed = {
        t: sum(r["record_count"] for r in offsets if r["topic"] == t) for t in topics.values()
    }
    assert landed == {topics["avro"]: 70, topics["json"]: 30}
    # Bronze holds the Avro records decoded by schema id, as the JSON objects they were sent as.
    from ray_platform.governance.crypto import read_bronze

    storage = storage_for(settings.lake_uri)
    path = next(r["bronze_path"] for r in offsets if r["topic"] == topics["avro"])
    first = json.loads(read_bronze(storage, path, settings).splitlines()[0])
    assert first["transaction_id"].startswith("T") and first["is_fraud"] in (0, 1)


def test_gold_tables_are_written_and_lineage_reaches_bronze(lake_run):
    settings = lake_run[0]
    store = table_store(settings)
    for name in ("daily_customer_summary", "daily_merchant_stats", "positions_valued"):
        assert store.exists(layout.gold_table(name)), name
    text = "\n".join(lineage.render(lineage.upstream("gold/daily_merchant_stats", store)))
    assert "silver/card_transactions" in text
    assert "bronze/cards/ingest_date=2026-01-05/card_transactions.jsonl" in text


def test_rerunning_a_date_leaves_every_table_with_the_same_rows(ray_cluster, lake_run):
    settings, _, topics, _ = lake_run
    store = table_store(settings)
    names = [layout.silver_table(n) for n in _silver_tables(store)] + [
        layout.gold_table(n) for n in ("daily_customer_summary", "daily_merchant_stats")
    ]
    before = {n: _rows(store, n) for n in names}
    versions = {n: store.version(n) for n in names}
    submit_job(
        ray_cluster, "ray_platform.jobs.lake_etl", "--date", str(DAYS[1]),
        "--topic", topics["avro"], "--topic", topics["json"], settings=settings,
    )  # fmt: skip
    assert any(store.version(n) > versions[n] for n in names)  # it really ran again
    for n in names:
        assert _rows(store, n) == before[n], n


def test_the_same_job_runs_against_s3(ray_cluster, s3_server, tmp_path):
    bucket = s3_server.create_bucket()
    settings = load_settings(
        home=tmp_path,
        lake_uri=f"s3://{bucket}/lake",
        landing_uri=f"s3://{bucket}/landing",
        s3_endpoint_url=s3_server.endpoint_url,
    )
    generate_bank(
        settings.landing_uri,
        GeneratorConfig(customers=60, days=1, seed=4, bad_rate=0.03, history_days=5),
        s3_endpoint_url=settings.s3_endpoint_url,
    )
    creds = {k: os.environ[k] for k in os.environ if k.startswith("AWS_")}
    out = submit_job(
        ray_cluster, "ray_platform.jobs.lake_etl", "--date", str(DAYS[0]), "--no-kafka",
        settings=settings, extra_env=creds,
    )  # fmt: skip
    assert job_result(out)["days"][0]["silver"]["card_transactions"]["written"] > 0
    store = table_store(settings)
    assert store.uri(layout.silver_table("card_transactions")).startswith("s3://")
    q = _quarantined(store)
    assert q and q == _manifest(settings)
    assert isinstance(store.read(layout.gold_table("daily_customer_summary")), pa.Table)
