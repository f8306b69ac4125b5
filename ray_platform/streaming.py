"""Small, explicit Kafka clients for the platform's topics (kafka-python underneath).

Producers and consumers are context managers so they always close (and flush) on exit. Messages
are raw bytes: each topic's owner decides the encoding. Card transactions are the one shared
stream: :func:`produce_card_transactions` sends them as Avro under the schema registry.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.errors import ServiceError
from ray_platform.settings import Settings, get_settings

if TYPE_CHECKING:
    from ray_platform.avro_codec import AvroSerializer


@dataclass(frozen=True)
class Message:
    """One consumed record, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@contextlib.contextmanager
def producer(settings: Settings | None = None, **config: object) -> Iterator[object]:
    """A KafkaProducer that waits for all in-sync replicas and flushes on exit."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    s = settings or get_settings()
    try:
        # A broker that is down should say so in seconds, not after the 30 s default.
        options: dict[str, object] = {"acks": "all", "linger_ms": 5, "bootstrap_timeout_ms": 5000}
        prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, **{**options, **config})
    except KafkaError:
        raise ServiceError(f"no Kafka broker answers at {s.kafka_bootstrap}") from None
    try:
        yield prod
        prod.flush()
    finally:
        prod.close()


def produce(
    topic: str,
    records: Iterable[tuple[bytes | None, bytes]],
    settings: Settings | None = None,
) -> int:
    """Send ``(key, value)`` pairs to ``topic`` and wait until all are acknowledged."""
    sent = 0
    with producer(settings) as prod:
        futures = [prod.send(topic, key=k, value=v) for k, v in records]  # type: ignore[attr-defined]
        for fut in futures:
            fut.get(timeout=30)
            sent += 1
    return sent


CARD_TOPIC, CARD_JSON_TOPIC = CARD_TRANSACTIONS.stream_topics
"""Card transactions as Avro records (Confluent wire format, schema in the registry), and the
same records as plain JSON objects for clients without a registry client."""


@dataclass
class CardSend:
    """What :func:`produce_card_transactions` sent where."""

    avro: int = 0
    json: int = 0
    schema_id: int | None = None
    not_avro: list[str] = field(default_factory=list)  # first reasons a line went as JSON

    @property
    def sent(self) -> int:
        """Every line sent, on either topic."""
        return self.avro + self.json


def produce_card_transactions(
    lines: Iterable[bytes],
    settings: Settings | None = None,
    *,
    as_json: bool = False,
    topic: str = CARD_TOPIC,
    json_topic: str = CARD_JSON_TOPIC,
) -> CardSend:
    """Send card-transaction JSON lines, keyed by card, as Avro to ``topic``.

    The card schema is registered (subject ``transactions-value``) on the first record. A line
    that is not a JSON object, or does not fit the schema (a missing or mistyped required field),
    is sent unchanged to ``json_topic`` instead: the lake quarantines it there with its reason, so
    a bad record is never lost at the producer. ``as_json`` sends every line to ``json_topic``,
    as a simple client would. The defaults are :data:`CARD_TOPIC` and :data:`CARD_JSON_TOPIC`.
    """
    from ray_platform.avro_codec import AvroSerializer, card_transaction_schema

    s = settings or get_settings()
    ser = None if as_json else AvroSerializer(topic, card_transaction_schema(), settings=s)
    out = CardSend()
    with producer(s) as prod:
        futures = []
        for line in lines:
            record = json_object(line)
            key = str(record.get("card_id")).encode() if record is not None else None
            value, reason = _avro_value(ser, record) if ser and record else (None, None)
            if value is not None:
                futures.append(prod.send(topic, key=key, value=value))  # type: ignore[attr-defined]
                out.avro += 1
                continue
            futures.append(prod.send(json_topic, key=key, value=bytes(line)))  # type: ignore[attr-defined]
            out.json += 1
            if reason and len(out.not_avro) < 5:
                out.not_avro.append(reason)
        for fut in futures:
            fut.get(timeout=30)
    out.schema_id = ser.schema_id if ser is not None and out.avro else None
    return out


def json_object(line: bytes) -> dict | None:
    """``line`` parsed as a JSON object; None when it is not JSON or not an object."""
    import json

    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _avro_value(ser: AvroSerializer, record: dict) -> tuple[bytes | None, str | None]:
    """``record`` encoded, or None and the reason it does not fit the schema."""
    extra = set(record) - ser.field_names
    if extra:  # Avro would drop them silently: the JSON topic keeps them
        return None, f"ValueError: fields not in the card schema: {sorted(extra)}"
    try:
        return ser.encode(record), None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def consume(
    topic: str,
    group_id: str,
    max_messages: int,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
) -> list[Message]:
    """Read up to ``max_messages`` from ``topic`` as consumer group ``group_id``.

    Offsets are committed after the messages are returned to the caller's list, so a group that
    reads again continues where this call stopped.
    """
    from kafka import KafkaConsumer

    s = settings or get_settings()
    cons = KafkaConsumer(
        topic,
        bootstrap_servers=s.kafka_bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < max_messages and time.monotonic() < deadline:
            batch = cons.poll(timeout_ms=500, max_records=max_messages - len(out))
            for records in batch.values():
                out.extend(Message(r.topic, r.partition, r.offset, r.key, r.value) for r in records)
        if out:
            cons.commit()
    finally:
        cons.close()
    return out


def end_offsets(topic: str, settings: Settings | None = None) -> dict[int, int]:
    """The next offset of every partition of ``topic``: where a read of new records starts."""
    from kafka import KafkaConsumer, TopicPartition

    s = settings or get_settings()
    cons = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(cons.partitions_for_topic(topic) or ())]
        return {tp.partition: off for tp, off in cons.end_offsets(parts).items()}
    finally:
        cons.close()


def read_from(
    topic: str,
    offsets: dict[int, int],
    max_messages: int,
    timeout_s: float = 30.0,
    settings: Settings | None = None,
) -> list[Message]:
    """Read up to ``max_messages`` starting at ``offsets`` (no consumer group, no commits)."""
    from kafka import KafkaConsumer, TopicPartition

    s = settings or get_settings()
    cons = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    out: list[Message] = []
    try:
        parts = [TopicPartition(topic, p) for p in offsets]
        cons.assign(parts)
        for tp in parts:
            cons.seek(tp, offsets[tp.partition])
        deadline = time.monotonic() + timeout_s
        while len(out) < max_messages and time.monotonic() < deadline:
            batch = cons.poll(timeout_ms=500, max_records=max_messages - len(out))
            for records in batch.values():
                out.extend(Message(r.topic, r.partition, r.offset, r.key, r.value) for r in records)
    finally:
        cons.close()
    return out
