"""Small, explicit Kafka clients for the platform's topics (kafka-python underneath).

Producers and consumers are context managers so they always close (and flush) on exit. Messages
are raw bytes: each topic's owner decides the encoding, and the lake lands the bytes as they are.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ray_platform.errors import ServiceError
from ray_platform.settings import Settings, get_settings


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
