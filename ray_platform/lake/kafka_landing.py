"""Land a Kafka topic in bronze in bounded micro-batches, each offset exactly once.

A run reads, for every partition, the offsets ``[start, end]`` where ``start`` is one past the
last offset already landed (from the Delta table ``_system/kafka_offsets``, else the partition's
beginning) and ``end`` is the partition's high watermark observed when the run began, minus one.
It writes the message values, one per line and byte for byte, to::

    bronze/<stream source>/ingest_date=D/<topic>-p<partition>-<start>-<end>.jsonl

and then appends one row per file to ``_system/kafka_offsets``. Correctness rests on that table
alone, never on consumer-group commits: the consumer uses manual ``assign`` and ``seek``. A crash
between writing files and appending their rows leaves files no row covers; the rerun reads the
same offsets again and overwrites them, so no offset is ever registered twice. Readers of bronze
must take the files the offsets table lists, not every file in the folder.

Values in the Confluent Avro wire format (first byte 0) are decoded by their schema id
(:mod:`ray_platform.avro_codec`) and landed as one JSON object per line, the form the JSON
producers send and silver parses; every other value lands byte for byte. An Avro value that does
not decode, or whose schema id the registry still does not know after retries, goes to
``<topic>.dlq`` (original key and bytes, the reason in the ``error`` header, the source position
in ``source.*`` headers) before the offsets are recorded: never dropped, and a rerun after a crash
may dead-letter it a second time, never zero times.

Example::

    from ray_platform.lake.kafka_landing import land_topic
    for batch in land_topic("transactions"):
        print(batch.partition, batch.start_offset, batch.end_offset, batch.record_count)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.avro_codec import AvroDecoder
from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.errors import NotFound, ServiceError, UndecodableMessage
from ray_platform.lake import layout
from ray_platform.lake.bronze import new_run_id
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import storage_for
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

CARD_TOPICS: tuple[str, ...] = CARD_TRANSACTIONS.stream_topics
"""Card transactions: Avro under the schema registry, then plain JSON for simple clients."""
STREAM_SOURCES = dict.fromkeys(CARD_TOPICS, "card_transactions_stream")
"""The bronze source folder of each topic; other topics land under ``<topic>_stream``."""

OFFSETS_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("start_offset", pa.int64(), nullable=False),
        pa.field("end_offset", pa.int64(), nullable=False),
        pa.field("record_count", pa.int64(), nullable=False),
        pa.field("bronze_path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("ingest_date", pa.date32(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("landed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
"""Columns of ``_system/kafka_offsets``."""


@dataclass(frozen=True)
class LandedBatch:
    """One partition's micro-batch, as recorded in ``_system/kafka_offsets``."""

    topic: str
    partition: int
    start_offset: int
    end_offset: int
    record_count: int
    bronze_path: str
    sha256: str
    size_bytes: int
    ingest_date: dt.date
    run_id: str
    landed_at: dt.datetime


def stream_source(topic: str) -> str:
    """The bronze source folder that ``topic``'s batches land in."""
    return STREAM_SOURCES.get(topic) or topic.replace(".", "_").replace("-", "_") + "_stream"


def land_topic(
    topic: str = CARD_TOPICS[0],
    *,
    max_records: int | None = None,
    ingest_date: dt.date | None = None,
    run_id: str | None = None,
    timeout_s: float = 120.0,
    settings: Settings | None = None,
) -> list[LandedBatch]:
    """Land every offset of ``topic`` not landed yet, up to the watermark seen at the start.

    ``max_records`` caps each partition's batch (the rest waits for the next run). Returns one
    batch per partition that had new messages. Raises :class:`NotFound` for an unknown topic and
    :class:`ServiceError` when the broker cannot be reached or a read stalls past ``timeout_s``.
    """
    s = settings or get_settings()
    tables = table_store(s)
    run = run_id or new_run_id()
    day = ingest_date or dt.datetime.now(dt.UTC).date()
    lake = storage_for(s.lake_uri, s.s3_endpoint_url)
    from ray_platform.governance.crypto import bronze_writer  # lazily: governance imports lake

    consumer = _consumer(s)
    decoder = AvroDecoder(settings=s)
    dead: list[tuple[Any, str]] = []
    try:
        from kafka import TopicPartition

        partitions = sorted(consumer.partitions_for_topic(topic))
        if not partitions:
            raise NotFound(f"no Kafka topic {topic!r} on {s.kafka_bootstrap}")
        tps = [TopicPartition(topic, p) for p in partitions]
        first = consumer.beginning_offsets(tps)
        watermark = consumer.end_offsets(tps)
        landed = landed_offsets(tables, topic)
        rows = []
        for tp in tps:
            start = landed.get(tp.partition, -1) + 1
            if start < first[tp]:
                log.warning("%s: offsets %d..%d expired before landing", tp, start, first[tp] - 1)
                start = first[tp]
            end = watermark[tp] - 1
            if max_records is not None:
                end = min(end, start + max_records - 1)
            if start > end:
                continue
            path = layout.bronze_file(
                stream_source(topic), day, f"{topic}-p{tp.partition}-{start}-{end}.jsonl"
            )
            out = bronze_writer(lake, path, stream_source(topic), path, s)  # sealed if personal
            with out:  # overwrites only a file no offsets row covers
                count, size, sha = _copy_range(
                    consumer, tp, start, end, out, timeout_s, decoder, dead
                )
            rows.append(
                LandedBatch(
                    topic, tp.partition, start, end, count, path, sha, size, day, run,
                    dt.datetime.now(dt.UTC),
                )
            )  # fmt: skip
    finally:
        consumer.close()
    if dead:
        _dead_letter(topic, dead, s)
    if rows:
        _commit(tables, topic, rows)
    return rows


def land_topics(
    topics: Sequence[str],
    *,
    ingest_date: dt.date,
    run_id: str,
    job: str,
    settings: Settings | None = None,
) -> tuple[list[LandedBatch], RunEvent]:
    """Land each of ``topics`` in turn; the batches and the run's lineage event for them."""
    batches = [
        b
        for topic in topics
        for b in land_topic(topic, ingest_date=ingest_date, run_id=run_id, settings=settings)
    ]
    event = RunEvent(
        run_id, job, "kafka", "COMPLETE",
        inputs=tuple(
            DatasetRef(f"kafka://{b.topic}/{b.partition}/{b.start_offset}-{b.end_offset}")
            for b in batches
        ),
        outputs=tuple(
            DatasetRef(b.bronze_path, rows=b.record_count, sha256=b.sha256) for b in batches
        ),
        business_date=ingest_date.isoformat(),
    )  # fmt: skip
    return batches, event


def _dead_letter(topic: str, dead: list[tuple[Any, str]], s: Settings) -> None:
    """Send undecodable records to ``<topic>.dlq`` and wait for every acknowledgement."""
    from ray_platform.services.kafka import KafkaBroker
    from ray_platform.streaming import producer

    dlq = f"{topic}.dlq"
    KafkaBroker(s).ensure_topics([dlq])
    with producer(s) as prod:
        futures = [
            prod.send(  # type: ignore[attr-defined]
                dlq,
                key=r.key,
                value=r.value,
                headers=[
                    ("error", reason[:2000].encode()),
                    ("source.topic", r.topic.encode()),
                    ("source.partition", str(r.partition).encode()),
                    ("source.offset", str(r.offset).encode()),
                ],
            )
            for r, reason in dead
        ]
        for fut in futures:
            fut.get(timeout=30)
    log.warning("%s: %d undecodable records sent to %s", topic, len(dead), dlq)


def landed_offsets(tables: TableStore, topic: str) -> dict[int, int]:
    """The last landed offset of each partition of ``topic`` (partitions never landed absent)."""
    if not tables.exists(layout.KAFKA_OFFSETS):
        return {}
    data = tables.dataset(layout.KAFKA_OFFSETS).to_table(
        columns=["partition", "end_offset"], filter=pc.field("topic") == topic
    )
    done = data.group_by("partition").aggregate([("end_offset", "max")])
    return dict(zip(done["partition"].to_pylist(), done["end_offset_max"].to_pylist(), strict=True))


def read_offsets(settings: Settings | None = None, topic: str | None = None) -> pa.Table:
    """The offsets table (of one topic, if given); empty with its schema when none yet."""
    tables = table_store(settings)
    if not tables.exists(layout.KAFKA_OFFSETS):
        return OFFSETS_SCHEMA.empty_table()
    data = tables.read(layout.KAFKA_OFFSETS)
    return data if topic is None else data.filter(pc.equal(data["topic"], topic))


def _commit(tables: TableStore, topic: str, rows: list[LandedBatch]) -> None:
    # A second lander that committed since this run began would make offsets land twice: refuse.
    now = landed_offsets(tables, topic)
    for row in rows:
        if now.get(row.partition, -1) >= row.start_offset:
            raise ServiceError(
                f"{topic}-{row.partition}: offsets from {row.start_offset} were landed by another "
                "run meanwhile; run one Kafka lander per topic at a time"
            )
    tables.write(
        layout.KAFKA_OFFSETS, pa.Table.from_pylist([asdict(r) for r in rows], OFFSETS_SCHEMA)
    )


def _consumer(s: Settings) -> Any:
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    try:
        return KafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            client_id="gbank-bronze-landing",
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=30000,
        )
    except KafkaError as exc:
        raise ServiceError(
            f"no Kafka broker answers on {s.kafka_bootstrap} ({exc}); run `gbank kafka start`"
        ) from None


def _copy_range(
    consumer: Any,
    tp: Any,
    start: int,
    end: int,
    out: Any,
    timeout_s: float,
    decoder: AvroDecoder,
    dead: list[tuple[Any, str]],
) -> tuple[int, int, str]:
    """Write the values of offsets ``[start, end]`` of ``tp``; returns (records, bytes, sha256).

    Avro values are written decoded, as JSON; those that do not decode are appended to ``dead``.
    """
    consumer.assign([tp])
    consumer.seek(tp, start)
    digest, count, size = hashlib.sha256(), 0, 0
    deadline = time.monotonic() + timeout_s
    # Position, not the last record's offset, decides when to stop: transaction markers and
    # compacted-away offsets have no record but still move the position on.
    while consumer.position(tp) <= end:
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{tp.topic}-{tp.partition}: read stalled at offset {consumer.position(tp)} "
                f"of {end} after {timeout_s:.0f} s"
            )
        for record in consumer.poll(timeout_ms=500).get(tp, []):
            if record.offset > end:
                break
            if record.value is None:  # a tombstone carries no payload to land
                continue
            line = record.value + b"\n"
            if record.value[:1] == b"\x00":
                try:
                    body = decoder.decode(record.value)
                except UndecodableMessage as exc:
                    dead.append((record, f"{type(exc).__name__}: {exc}"))
                    continue
                line = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
            out.write(line)
            digest.update(line)
            count, size = count + 1, size + len(line)
    return count, size, digest.hexdigest()
