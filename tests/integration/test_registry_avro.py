"""Avro topics under the real schema registry (Apicurio, started by the project) and real Kafka."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from ray_platform.avro_codec import (
    AvroDecoder,
    AvroSerializer,
    RegistryClient,
    card_transaction_schema,
    frame,
    subject_for,
)
from ray_platform.errors import SchemaIncompatible
from ray_platform.lake import kafka_landing
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.streaming import produce, read_from

pytestmark = pytest.mark.integration


def tx(i: int, **extra: object) -> dict:
    return {
        "transaction_id": f"T{i}",
        "card_id": f"C{i % 3}",
        "account_id": "A1",
        "customer_id": "CU1",
        "merchant_id": "M1",
        "merchant_name": "Café Zürich",
        "mcc": "5411",
        "merchant_country": "CH",
        "amount": f"{i}.50",
        "currency": "CHF",
        "timestamp": "2026-01-02T03:04:05Z",
        "channel": "pos",
        "device_id": "D1",
        "ip_country": "CH",
        "is_fraud": 0,
        "fraud_pattern": None,
        **extra,
    }


def with_field(schema: dict, field: dict) -> dict:
    out = copy.deepcopy(schema)
    out["fields"].append(field)
    return out


def without_field(schema: dict, name: str) -> dict:
    out = copy.deepcopy(schema)
    out["fields"] = [f for f in out["fields"] if f["name"] != name]
    return out


def dead_letters(settings, dlq: str, count: int) -> list:
    """The DLQ's records (every partition: they are keyed) in source-offset order, headers kept."""
    from kafka import KafkaConsumer, TopicPartition

    cons = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(dlq, p) for p in cons.partitions_for_topic(dlq)]
        cons.assign(tps)
        cons.seek_to_beginning()
        recs = []
        for _ in range(40):
            recs += [r for batch in cons.poll(timeout_ms=500).values() for r in batch]
            if len(recs) >= count:
                break
    finally:
        cons.close()
    return sorted(recs, key=lambda r: int(dict(r.headers)["source.offset"]))


@pytest.fixture
def topic(kafka_broker, schema_registry):
    name = f"test-avro-{uuid.uuid4().hex[:8]}"
    kafka_broker.ensure_topics([name], partitions=1)
    return name


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


def test_new_optional_field_is_accepted_and_an_old_consumer_still_decodes(topic):
    v1 = card_transaction_schema()
    v2 = with_field(v1, {"name": "wallet", "type": ["null", "string"], "default": None})
    old_producer = AvroSerializer(topic, v1)
    new_producer = AvroSerializer(topic, v2)
    records = [(b"k", old_producer.encode(tx(1))), (b"k", new_producer.encode(tx(2, wallet="pay")))]
    assert new_producer.schema_id != old_producer.schema_id
    assert RegistryClient().compatibility(subject_for(topic)) == "FULL"
    produce(topic, records)
    got = [m.value for m in read_from(topic, {0: 0}, 2, timeout_s=20)]
    old_consumer = AvroDecoder(reader_schema=v1)
    assert [old_consumer.decode(v) for v in got] == [tx(1), tx(2)]
    new_consumer = AvroDecoder()
    assert new_consumer.decode(got[1])["wallet"] == "pay"
    assert new_consumer.decode(got[0]) == tx(1)  # no reader schema: the writer's own fields


def test_removing_a_required_field_is_refused_and_the_producer_says_so(topic):
    v1 = card_transaction_schema()
    AvroSerializer(topic, v1).encode(tx(1))
    shrunk = AvroSerializer(topic, without_field(v1, "merchant_id"))
    with pytest.raises(SchemaIncompatible, match=rf"{topic}-value.*merchant_id"):
        shrunk.encode(tx(2))


def test_backward_alone_would_accept_the_removal_which_is_why_subjects_are_full(schema_registry):
    # Documents the registry behaviour behind DEFAULT_COMPATIBILITY = "FULL".
    subject = f"test-backward-{uuid.uuid4().hex[:8]}-value"
    client = RegistryClient()
    client.set_compatibility(subject, "BACKWARD")
    v1 = card_transaction_schema()
    first = client.register(subject, v1)
    assert client.register(subject, without_field(v1, "merchant_id")) != first


def test_undecodable_and_unknown_id_messages_go_to_the_dlq_with_reason(topic, settings):
    ser = AvroSerializer(topic, card_transaction_schema())
    good = ser.encode(tx(1))
    truncated = good[:-4]
    unknown = frame(2_000_000_000, good[5:])
    plain_json = json.dumps(tx(3)).encode()
    produce(topic, [(b"a", good), (b"b", truncated), (b"c", unknown), (b"d", plain_json)])

    batches = kafka_landing.land_topic(topic, settings=settings)

    lake = storage_for(settings.lake_uri)
    with lake.open(batches[0].bronze_path) as handle:
        lines = handle.read().splitlines()
    assert [json.loads(line) for line in lines] == [tx(1), tx(3)]  # Avro decoded; JSON as is
    assert lines[1] == plain_json
    assert (batches[0].start_offset, batches[0].end_offset) == (0, 3)  # all four covered
    recs = dead_letters(settings, f"{topic}.dlq", 2)
    assert [r.value for r in recs] == [truncated, unknown]
    assert [r.key for r in recs] == [b"b", b"c"]
    headers = [dict(r.headers) for r in recs]
    assert b"does not decode with schema id" in headers[0]["error"]
    assert b"UnknownSchemaId" in headers[1]["error"]
    assert b"2000000000" in headers[1]["error"]
    assert [h["source.offset"] for h in headers] == [b"1", b"2"]
    assert {h["source.topic"] for h in headers} == {topic.encode()}


def test_card_producer_sends_what_fits_as_avro_and_the_rest_unchanged_as_json(
    kafka_broker, topic, settings
):
    from ray_platform.avro_codec import decode_any
    from ray_platform.streaming import end_offsets, produce_card_transactions

    json_topic = f"{topic}.json"
    kafka_broker.ensure_topics([json_topic], partitions=1)
    good = [json.dumps(tx(i)).encode() for i in range(3)]
    odd = [
        b"not json at all",
        json.dumps({k: v for k, v in tx(7).items() if k != "card_id"}).encode(),  # required gone
        json.dumps(tx(8, is_fraud="no")).encode(),  # mistyped
        json.dumps(tx(9, loyalty_tier="gold")).encode(),  # a field Avro would drop
    ]
    start = end_offsets(json_topic, settings)
    sent = produce_card_transactions(
        [good[0], *odd, *good[1:]], settings, topic=topic, json_topic=json_topic
    )
    assert (sent.avro, sent.json, sent.sent) == (3, 4, 7)
    assert len(sent.not_avro) == 3 and "loyalty_tier" in sent.not_avro[-1]
    avro = read_from(topic, {0: 0}, 3, 30, settings)
    assert all(m.value[0] == 0 for m in avro)  # Confluent framing, the registered id inside
    assert RegistryClient(settings).schema(sent.schema_id) == card_transaction_schema()
    assert [decode_any(m.value, settings) for m in avro] == [json.loads(g) for g in good]
    assert [m.key for m in avro] == [b"C0", b"C1", b"C2"]
    plain = read_from(json_topic, start, 4, 30, settings)
    assert [m.value for m in plain] == odd  # byte for byte, nothing lost
