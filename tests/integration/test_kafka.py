from __future__ import annotations

import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer

from ray_platform.cli import run
from ray_platform.services.kafka import PLATFORM_TOPICS, KafkaBroker

pytestmark = pytest.mark.integration

N = 200


def test_keyed_messages_round_trip(kafka_broker: KafkaBroker) -> None:
    # Other tests in the session may write to `transactions` too: this run's keys carry its id.
    run_id = uuid.uuid4().hex[:8]
    sent = [
        (f"{run_id}-acct-{i % 17}".encode(), f'{{"txn": {i}, "amount": {i * 3.5}}}'.encode())
        for i in range(N)
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    try:
        partition_of: dict[bytes, set[int]] = {}
        for key, value in sent:
            meta = producer.send("transactions", key=key, value=value).get(timeout=30)
            partition_of.setdefault(key, set()).add(meta.partition)
    finally:
        producer.close()
    assert all(len(parts) == 1 for parts in partition_of.values()), "a key spans partitions"

    consumer = KafkaConsumer(
        "transactions",
        bootstrap_servers=kafka_broker.bootstrap,
        group_id=f"test-round-trip-{run_id}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    received: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while len(received) < N and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                received += [
                    (r.key, r.value) for r in records if r.key and r.key.startswith(run_id.encode())
                ]
    finally:
        consumer.close()

    assert sorted(received) == sorted(sent)
    for key in partition_of:  # within a key (one partition) order is kept
        assert [v for k, v in received if k == key] == [v for k, v in sent if k == key]


def test_platform_topics_exist_with_configured_partitions(kafka_broker: KafkaBroker) -> None:
    topics = kafka_broker.topics()
    partitions = kafka_broker.settings.kafka_partitions
    assert {name: topics.get(name) for name in PLATFORM_TOPICS} == dict.fromkeys(
        PLATFORM_TOPICS, partitions
    )


def test_start_when_running_is_a_no_op(kafka_broker: KafkaBroker) -> None:
    before = kafka_broker.status()
    began = time.monotonic()
    assert KafkaBroker(kafka_broker.settings).start() is False
    assert time.monotonic() - began < 10
    assert kafka_broker.status() == before


def test_ensure_topics_is_idempotent(kafka_broker: KafkaBroker) -> None:
    name = f"test-ensure-{uuid.uuid4().hex[:8]}"
    assert kafka_broker.ensure_topics([name, "transactions"], partitions=2) == [name]
    assert kafka_broker.ensure_topics([name]) == []
    assert kafka_broker.topics()[name] == 2


def test_cli_status_and_topics(kafka_broker: KafkaBroker, capsys: pytest.CaptureFixture) -> None:
    assert run(["kafka", "topics"]) == 0
    listed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert listed["transactions"] == str(kafka_broker.settings.kafka_partitions)
    if kafka_broker.status().running:
        assert run(["kafka", "status"]) == 0
        assert "running on" in capsys.readouterr().out
