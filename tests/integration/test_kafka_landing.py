from __future__ import annotations

import json
import uuid

import pytest

from ray_platform.errors import NotFound
from ray_platform.lake import kafka_landing
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
def topic(kafka_broker):
    # A topic of its own: other tests produce to `transactions` too.
    name = f"test-landing-{uuid.uuid4().hex[:8]}"
    kafka_broker.ensure_topics([name], partitions=PARTITIONS)
    return name


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


@pytest.fixture
def produce(kafka_broker, topic):
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    sent: list[bytes] = []

    def send(n: int) -> list[bytes]:
        batch = []
        for i in range(len(sent), len(sent) + n):
            value = json.dumps({"txn_id": f"T{i}", "merchant": "Café Zürich"}).encode()
            producer.send(topic, key=f"card-{i}".encode(), value=value)
            batch.append(value)
        producer.flush()
        sent.extend(batch)
        return batch

    yield send
    producer.close()


def landed_lines(settings, batches) -> list[bytes]:
    lake = storage_for(settings.lake_uri)
    lines = []
    for batch in batches:
        with lake.open(batch.bronze_path) as handle:
            data = handle.read()
        assert data.count(b"\n") == batch.record_count
        lines += data.splitlines()
    return lines


def assert_each_offset_once(settings, topic, total: int) -> None:
    rows = kafka_landing.read_offsets(settings, topic).to_pylist()
    assert sum(r["record_count"] for r in rows) == total
    for p in range(PARTITIONS):
        ranges = sorted((r["start_offset"], r["end_offset"]) for r in rows if r["partition"] == p)
        expected_start = 0
        for start, end in ranges:  # contiguous, never overlapping
            assert start == expected_start and end >= start
            expected_start = end + 1


def test_lands_each_offset_once(settings, topic, produce):
    first = produce(30)
    batches = kafka_landing.land_topic(topic, settings=settings)
    assert len({b.partition for b in batches}) > 1  # keys spread over partitions
    assert sorted(landed_lines(settings, batches)) == sorted(first)
    for b in batches:
        name = f"{topic}-p{b.partition}-{b.start_offset}-{b.end_offset}.jsonl"
        assert b.bronze_path.endswith(f"/{name}")
        assert b.bronze_path.startswith(f"bronze/{kafka_landing.stream_source(topic)}/ingest_date=")

    assert kafka_landing.land_topic(topic, settings=settings) == []

    more = produce(12)
    again = kafka_landing.land_topic(topic, settings=settings)
    assert sorted(landed_lines(settings, again)) == sorted(more)
    assert_each_offset_once(settings, topic, 42)


def test_crash_before_commit_lands_each_offset_once(settings, topic, produce, monkeypatch):
    sent = produce(20)
    real_commit = kafka_landing._commit

    def crash(*args, **kwargs):
        raise RuntimeError("crash between the files and the offsets commit")

    monkeypatch.setattr(kafka_landing, "_commit", crash)
    with pytest.raises(RuntimeError):
        kafka_landing.land_topic(topic, settings=settings)
    assert len(kafka_landing.read_offsets(settings, topic)) == 0
    monkeypatch.setattr(kafka_landing, "_commit", real_commit)

    batches = kafka_landing.land_topic(topic, settings=settings)
    assert sorted(landed_lines(settings, batches)) == sorted(sent)
    assert_each_offset_once(settings, topic, 20)


def test_max_records_bounds_each_batch(settings, topic, produce):
    sent = produce(40)
    seen = []
    for _ in range(40):
        batches = kafka_landing.land_topic(topic, max_records=5, settings=settings)
        if not batches:
            break
        assert all(b.record_count <= 5 for b in batches)
        seen += landed_lines(settings, batches)
    assert sorted(seen) == sorted(sent)
    assert_each_offset_once(settings, topic, 40)


def test_unknown_topic(settings, kafka_broker):
    with pytest.raises(NotFound):
        kafka_landing.land_topic(f"missing-{uuid.uuid4().hex[:8]}", settings=settings)


def test_lands_into_an_s3_lake(s3_server, tmp_path, topic, produce):
    bucket = s3_server.create_bucket()
    s3 = load_settings(
        home=tmp_path, lake_uri=f"s3://{bucket}/lake", s3_endpoint_url=s3_server.endpoint_url
    )
    sent = produce(15)
    batches = kafka_landing.land_topic(topic, settings=s3)
    lake = storage_for(s3.lake_uri, s3.s3_endpoint_url)
    lines = []
    for b in batches:
        with lake.open(b.bronze_path) as handle:
            lines += handle.read().splitlines()
    assert sorted(lines) == sorted(sent)
    assert kafka_landing.land_topic(topic, settings=s3) == []
    assert_each_offset_once(s3, topic, 15)


def test_cli_ingest_kafka(tmp_path, monkeypatch, topic, produce):
    import typer
    from typer.testing import CliRunner

    from ray_platform.cli.ingest import ingest_kafka
    from ray_platform.settings import get_settings

    app = typer.Typer()
    app.command("ingest-kafka")(ingest_kafka)
    app.command("noop")(lambda: None)  # keep ingest-kafka a named subcommand
    produce(7)
    monkeypatch.setenv("GBANK_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["ingest-kafka", "--topic", topic])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    assert "landed 7 records in" in done.output
