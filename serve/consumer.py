"""Kafka scoring: one Ray actor per partition of ``transactions``, group ``fraud-scoring``.

Each :class:`PartitionConsumer` is assigned one input partition (so "one consumer per
partition" holds by construction, and a restarted actor resumes its own partition at the
group's committed offset). It polls small batches, sends malformed records to
``transactions.dlq`` (original bytes as the value, the error and source position in headers),
scores the rest with the same core as HTTP (:class:`serve.scoring.Scorer`), produces every
result to ``fraud-scores`` and review/decline results to ``fraud-alerts`` keyed by transaction
id with an idempotent producer, waits for every produce future, records the ids
(:mod:`serve.dedupe`) and only then commits the input offsets. Results for input partition
``p`` go to output partition ``p mod n``, so the restart recovery reads one partition.

Lag (log end offset minus committed position) is exported as the Ray metric
``fraud_consumer_lag`` tagged by partition.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.settings import Settings, get_settings
from serve.schemas import Transaction

log = logging.getLogger(__name__)

NAMESPACE = "gbank-fraud"
CARD_SOURCES = CARD_TRANSACTIONS.stream_topics
"""The card topics a deployment scores: Avro from card switches, JSON from simple clients."""
ALERT_DECISIONS = ("review", "decline")


class ConsumerConfig(BaseModel):
    """Topics, group and batching of the scoring consumers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str = Field(CARD_SOURCES[0], description="Topic of transactions to score.")
    scores: str = Field("fraud-scores", description="Every result.")
    alerts: str = Field("fraud-alerts", description="Review and decline results.")
    dlq: str = Field("", description="Malformed input, bytes as received (default <source>.dlq).")
    group: str = Field("fraud-scoring", description="Consumer group (offsets).")
    batch_size: int = Field(500, ge=1, description="Most records scored per batch.")
    poll_ms: int = Field(50, ge=1, description="Poll wait when the partition is idle.")
    dedupe_days: float = Field(7.0, gt=0, description="How long produced ids are remembered.")
    scoring: dict[str, Any] = Field(default_factory=dict, description="ScoringConfig values.")

    @model_validator(mode="before")
    @classmethod
    def _dlq_follows_source(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("dlq"):
            return {**data, "dlq": f"{data.get('source', 'transactions')}.dlq"}
        return data


@dataclass
class Stats:
    """What one consumer did since it started."""

    partition: int
    consumed: int = 0
    scored: int = 0
    alerts: int = 0
    dlq: int = 0
    skipped_duplicates: int = 0
    recovered: int = 0
    lag: int | None = None
    committed: int | None = None
    errors: list[str] = field(default_factory=list)


def parse(value: bytes, settings: Settings | None = None) -> Transaction:
    """A record's value as a validated transaction (raises ValueError / ValidationError).

    Avro in the Confluent wire format (magic byte 0, then the schema id) is decoded with the
    writer's schema from the registry (:mod:`ray_platform.avro_codec`); anything else is taken
    as JSON, parsed and validated in one pass. A schema id the registry does not know, after
    retries, is a ValueError like any undecodable value, so the record is dead-lettered.
    """
    if value[:1] == b"\x00":
        from ray_platform.avro_codec import decode_any

        return Transaction.model_validate(decode_any(value, settings))
    return Transaction.model_validate_json(value)


def dlq_headers(error: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    """Headers of a dead-lettered record: the error and where the bytes came from."""
    return [
        ("error", error[:2000].encode()),
        ("source.topic", topic.encode()),
        ("source.partition", str(partition).encode()),
        ("source.offset", str(offset).encode()),
    ]


def describe_error(exc: Exception) -> str:
    """A one-line error, field by field for validation errors."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
    return f"{type(exc).__name__}: {exc}"


class PartitionWorker:
    """The consume-score-produce-commit loop of one partition (plain Python; the actor runs it)."""

    def __init__(
        self,
        partition: int,
        config: ConsumerConfig | None = None,
        settings: Settings | None = None,
        scorer: Any = None,
        models: Any = None,
    ) -> None:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        from serve.dedupe import ProducedIds

        self.settings = settings or get_settings()
        self.config = config or ConsumerConfig()
        self.partition = partition
        self.stats = Stats(partition)
        c = self.config
        boot = self.settings.kafka_bootstrap
        self.tp = TopicPartition(c.source, partition)
        self.consumer = KafkaConsumer(
            bootstrap_servers=boot,
            group_id=c.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=c.batch_size,
        )
        self.consumer.assign([self.tp])
        self.producer = KafkaProducer(
            bootstrap_servers=boot,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            retries=10,
            max_in_flight_requests_per_connection=5,
        )
        self.out: dict[str, int] = {}
        for topic in (c.scores, c.alerts):
            parts = sorted(self.consumer.partitions_for_topic(topic) or {0})
            self.out[topic] = parts[partition % len(parts)]
        home = self.settings.home / "serve" / "consumer"
        self.ids = ProducedIds(home / f"{c.group}-{c.source}-{partition}.db")
        self.ids.prune(c.dedupe_days * 86400)
        if scorer is None:
            from serve.erasures import ErasureWatch
            from serve.features import FeastFeatures
            from serve.model_store import MlflowSource, ModelStore, journal_path
            from serve.scoring import Scorer, ScoringConfig

            sc = ScoringConfig(**c.scoring)
            features = FeastFeatures(self.settings)
            # Before the first poll, like the HTTP replica: loading imports Feast and opens the
            # store (tens of seconds on a busy node), which would otherwise stall the first batch.
            features.load()
            scorer = Scorer(features, sc, erasures=ErasureWatch(self.settings))
            models = ModelStore(MlflowSource(self.settings), journal_path(self.settings))
            models.refresh()
            models.start(sc.model_poll_s)
        self.scorer, self.models = scorer, models
        self.recover()
        committed = self.consumer.committed(self.tp)
        if committed is None:
            self.consumer.seek_to_beginning(self.tp)
        else:
            self.consumer.seek(self.tp, committed)
        self.stats.committed = committed
        self._gauge: Any = None

    # -- restart recovery ---------------------------------------------------------------------
    def recover(self) -> None:
        """Record results that reached the output topics after the last recorded batch."""
        from kafka import KafkaConsumer, TopicPartition

        marks = self.ids.marks()
        if not marks:
            return
        reader = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            enable_auto_commit=False,
            group_id=None,
            consumer_timeout_ms=2000,
        )
        found: list[tuple[str, str]] = []
        bodies: dict[str, bytes] = {}
        try:
            for (topic, part), start in marks.items():
                tp = TopicPartition(topic, part)
                reader.assign([tp])
                end = reader.end_offsets([tp])[tp]
                reader.seek(tp, start)
                while reader.position(tp) < end:
                    for recs in reader.poll(timeout_ms=1000).values():
                        for r in recs:
                            if r.key:
                                found.append((r.key.decode(), topic))
                                if topic == self.config.scores:
                                    bodies[r.key.decode()] = r.value
        finally:
            reader.close()
        # a score that went out without its alert: send the alert from the score itself
        alerted = {i for i, t in found if t == self.config.alerts}
        alerted |= self.ids.produced(bodies, self.config.alerts)
        futures = []
        for tid, body in bodies.items():
            if tid not in alerted and json.loads(body).get("decision") in ALERT_DECISIONS:
                futures.append(
                    self.producer.send(
                        self.config.alerts,
                        key=tid.encode(),
                        value=body,
                        partition=self.out[self.config.alerts],
                    )
                )
                found.append((tid, self.config.alerts))
        for f in futures:
            f.get(timeout=30)
        if found:
            self.ids.add(found)
        self.stats.recovered = len(found)

    # -- the loop -----------------------------------------------------------------------------
    def step(self) -> int:
        """Poll, score, produce, wait, record, commit one batch; returns records consumed."""
        from kafka.structs import OffsetAndMetadata

        c = self.config
        polled = self.consumer.poll(timeout_ms=c.poll_ms, max_records=c.batch_size)
        records = [r for recs in polled.values() for r in recs]
        if not records:
            self._report_lag()
            return 0
        valid: list[tuple[Any, Transaction]] = []
        futures = []
        for r in records:
            try:
                valid.append((r, parse(r.value, self.settings)))
            except (ValueError, ValidationError) as exc:
                futures.append(
                    self.producer.send(
                        c.dlq,
                        key=r.key,
                        value=r.value,
                        headers=dlq_headers(describe_error(exc), r.topic, r.partition, r.offset),
                    )
                )
                self.stats.dlq += 1
        ids = [t.transaction_id for _, t in valid]
        done_scores = self.ids.produced(ids, c.scores)
        fresh, seen = [], set()
        for r, t in valid:
            if t.transaction_id in seen or t.transaction_id in done_scores:
                self.stats.skipped_duplicates += 1
                if t.transaction_id not in seen:  # keep the velocity windows whole
                    amount = self.scorer.fx.to_reporting(float(t.amount), t.currency)
                    self.scorer.velocity.record(
                        t.card_id, t.customer_id, t.timestamp, amount, t.channel == "ecom"
                    )
                continue
            seen.add(t.transaction_id)
            fresh.append((r, t))
        sent: list[tuple[str, str]] = []
        if fresh:
            self._mark()
            model = self.models.current
            scores = self.scorer.score([t for _, t in fresh], model)
            now = time.time()
            for (r, _), s in zip(fresh, scores, strict=True):
                body = s.model_dump(mode="json") | {
                    "source_partition": r.partition,
                    "source_offset": r.offset,
                    "produced_at_ms": r.timestamp,
                    "scored_at_ms": int(now * 1000),
                }
                value, key = json.dumps(body).encode(), s.transaction_id.encode()
                futures.append(
                    self.producer.send(c.scores, key=key, value=value, partition=self.out[c.scores])
                )
                sent.append((s.transaction_id, c.scores))
                if s.decision in ALERT_DECISIONS:
                    futures.append(
                        self.producer.send(
                            c.alerts, key=key, value=value, partition=self.out[c.alerts]
                        )
                    )
                    sent.append((s.transaction_id, c.alerts))
                    self.stats.alerts += 1
            self.stats.scored += len(scores)
        self.producer.flush()
        for f in futures:
            f.get(timeout=30)  # raises: nothing is recorded or committed
        if sent:
            self.ids.add(sent)
        last = max(r.offset for r in records)
        self.consumer.commit({self.tp: OffsetAndMetadata(last + 1, "", -1)})
        self.stats.committed = last + 1
        self.stats.consumed += len(records)
        self._report_lag()
        return len(records)

    def _mark(self) -> None:
        """Record the output partitions' end offsets before producing (for :meth:`recover`)."""
        from kafka import TopicPartition

        tps = [TopicPartition(t, p) for t, p in self.out.items()]
        ends = self.consumer.end_offsets(tps)
        self.ids.set_marks({(tp.topic, tp.partition): o for tp, o in ends.items()})

    def _report_lag(self) -> None:
        try:
            end = self.consumer.end_offsets([self.tp])[self.tp]
            self.stats.lag = max(0, end - (self.stats.committed or 0))
        except Exception as exc:  # metrics must never stop scoring
            self.stats.errors = [*self.stats.errors[-9:], f"lag: {exc!r}"]
            return
        try:
            if self._gauge is None:
                from ray.util.metrics import Gauge

                self._gauge = Gauge(
                    "fraud_consumer_lag",
                    description="Records in transactions not yet scored and committed.",
                    tag_keys=("partition",),
                )
            self._gauge.set(self.stats.lag, tags={"partition": str(self.partition)})
        except Exception:  # outside Ray (unit use) there is no metrics agent
            self._gauge = False

    def close(self) -> None:
        """Close the clients and the id store."""
        for fn in (self.producer.close, self.consumer.close, self.ids.close):
            try:
                fn()
            except Exception:
                log.exception("closing consumer partition %s", self.partition)


def _actor_class() -> Any:
    import ray

    @ray.remote(num_cpus=0, max_restarts=0)
    class PartitionConsumer:
        """A Ray actor running one :class:`PartitionWorker` in a thread until stopped."""

        def __init__(self, partition: int, config: dict[str, Any]) -> None:
            self.worker = PartitionWorker(partition, ConsumerConfig(**config))
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

        def _run(self) -> None:
            while not self._stop.is_set():
                try:
                    self.worker.step()
                except Exception as exc:  # keep consuming; the batch was not committed
                    log.exception("scoring batch failed")
                    self.worker.stats.errors = [*self.worker.stats.errors[-9:], repr(exc)]
                    self.worker.consumer.seek(self.worker.tp, self.worker.stats.committed or 0)
                    time.sleep(1)

        def stats(self) -> dict[str, Any]:
            sc = self.worker.scorer
            budget = sc.budget.report(sc.config.alert_budget)
            return self.worker.stats.__dict__.copy() | {"alert_budget": budget}

        def stack(self) -> str:
            """Where the consuming thread is now (for a consumer that seems stuck)."""
            import sys
            import traceback

            frame = sys._current_frames().get(self._thread.ident)  # type: ignore[arg-type]
            return "".join(traceback.format_stack(frame)) if frame else "not running"

        def stop(self) -> None:
            self._stop.set()
            self._thread.join(timeout=30)
            self.worker.close()

    return PartitionConsumer


class ConsumerGroup:
    """Starts, inspects and stops the per-partition actors (``<group>-<source>-<p>``).

    The name carries the consumer group and topic, so a group left running on the cluster (the
    demo's, say) is never mistaken for another configuration's.
    """

    def __init__(self, config: ConsumerConfig | None = None, settings: Settings | None = None):
        self.config = config or ConsumerConfig()
        self.settings = settings or get_settings()

    def actor_name(self, partition: int) -> str:
        """The detached actor consuming ``partition`` for this group and source topic."""
        return f"{self.config.group}-{self.config.source}-{partition}"

    def partitions(self) -> list[int]:
        """The source topic's partitions."""
        from kafka import KafkaConsumer

        c = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            return sorted(c.partitions_for_topic(self.config.source) or [])
        finally:
            c.close()

    def start(self, partitions: list[int] | None = None) -> list[int]:
        """Start one actor per partition (those not already running); returns the partitions."""
        import ray

        cls = _actor_class()
        started = []
        env = {"env_vars": self.settings.as_env()}
        for p in self.partitions() if partitions is None else partitions:
            name = self.actor_name(p)
            try:
                ray.get_actor(name, namespace=NAMESPACE)
                continue
            except ValueError:
                pass
            cls.options(
                name=name, namespace=NAMESPACE, lifetime="detached", runtime_env=env
            ).remote(p, self.config.model_dump())
            started.append(p)
        return started

    def stats(self) -> dict[int, dict[str, Any]]:
        """Each running actor's stats."""
        import ray

        out = {}
        for p in self.partitions():
            try:
                a = ray.get_actor(self.actor_name(p), namespace=NAMESPACE)
                out[p] = ray.get(a.stats.remote(), timeout=60)
            except (ValueError, ray.exceptions.RayError):
                continue
        return out

    def kill(self, partition: int) -> None:
        """Kill one actor abruptly (no flush, no commit): what a crash does."""
        import ray

        ray.kill(ray.get_actor(self.actor_name(partition), namespace=NAMESPACE))

    def stop(self) -> None:
        """Stop every actor cleanly."""
        import ray

        for p in self.partitions():
            try:
                a = ray.get_actor(self.actor_name(p), namespace=NAMESPACE)
            except ValueError:
                continue
            try:
                ray.get(a.stop.remote(), timeout=60)
            finally:
                ray.kill(a)
