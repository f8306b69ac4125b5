from __future__ import annotations

import uuid

import pytest

from ray_platform.errors import ServiceError
from ray_platform.settings import load_settings
from ray_platform.streaming import consume, end_offsets, produce, read_from

pytestmark = pytest.mark.integration


def test_produce_then_consume_returns_every_payload_with_its_key(kafka_broker):
    topic = f"test-streaming-{uuid.uuid4().hex[:8]}"
    kafka_broker.ensure_topics([topic], partitions=2)
    try:
        _round_trip(topic)
    finally:
        _delete_topic(topic)


def _delete_topic(topic):
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=load_settings().kafka_bootstrap)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def _round_trip(topic):
    records = [(f"card-{i % 5}".encode(), f'{{"n": {i}}}'.encode()) for i in range(50)]
    assert produce(topic, records) == 50
    got = consume(topic, "test-streaming", 50, timeout_s=30)
    assert sorted((m.key, m.value) for m in got) == sorted(records)
    # Offsets were committed: the same group reads nothing more.
    assert consume(topic, "test-streaming", 1, timeout_s=3) == []


def test_no_broker_is_a_service_error():
    with pytest.raises(ServiceError, match="no Kafka broker"):
        produce("transactions", [(None, b"x")], load_settings(kafka_bootstrap="127.0.0.1:1"))


def test_read_from_returns_only_what_was_sent_after_the_offsets(kafka_broker):
    topic = f"test-streaming-{uuid.uuid4().hex[:8]}"
    kafka_broker.ensure_topics([topic], partitions=2)
    try:
        produce(topic, [(b"k", b"old")] * 5)
        start = end_offsets(topic)
        produce(topic, [(f"k{i}".encode(), f"new-{i}".encode()) for i in range(7)])
        got = read_from(topic, start, 100, timeout_s=5)
        assert sorted(m.value for m in got) == sorted(f"new-{i}".encode() for i in range(7))
    finally:
        _delete_topic(topic)
