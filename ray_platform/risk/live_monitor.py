"""The live position monitor: Kafka in, limit breaches out, state readable from a Ray actor.

:class:`MonitorLoop` reads ``trades`` and ``market-data`` (JSON or Avro values, through
:func:`ray_platform.avro_codec.AvroDecoder.decode_any`), applies each record to a
:class:`~ray_platform.risk.live_positions.PositionKeeper` in arrival order, and publishes every
breach and held trade to ``risk-alerts`` (keyed by desk) before it polls again, flushing the
producer so an alert leaves within one poll of its cause. Records that do not decode, or lack a
field, go to ``<topic>.dlq`` with the reason.

:class:`PositionMonitor` is the Ray actor (named ``risk-positions`` in namespace ``gbank-risk``)
that runs the loop on a thread and answers ``positions()`` / ``limits()``; the Serve app
``risk`` (:mod:`serve.risk_app`) starts it if missing and serves those two as HTTP::

    handle = start_monitor()  # the book from the lake, limits from risk/limits.yaml
    ray.get(handle.positions.remote())["desks"]["EQ_CASH"]["var"]
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from ray_platform.avro_codec import AvroDecoder
from ray_platform.errors import UndecodableMessage
from ray_platform.risk.live_positions import Book, Limits, PositionKeeper, load_limits
from ray_platform.settings import Settings, get_settings

log = logging.getLogger(__name__)

TRADES_TOPIC = "trades"
MARKET_TOPIC = "market-data"
ALERTS_TOPIC = "risk-alerts"
ACTOR_NAME = "risk-positions"
NAMESPACE = "gbank-risk"


class MonitorLoop:
    """Consume trades and market data into a keeper; publish what it reports."""

    def __init__(
        self,
        keeper: PositionKeeper,
        settings: Settings | None = None,
        *,
        trades_topic: str = TRADES_TOPIC,
        market_topic: str = MARKET_TOPIC,
        alerts_topic: str = ALERTS_TOPIC,
        from_beginning: bool = False,
        poll_ms: int = 20,
        max_records: int = 5000,
    ) -> None:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        self.settings = s = settings or get_settings()
        self.keeper = keeper
        self.trades_topic, self.market_topic = trades_topic, market_topic
        self.alerts_topic = alerts_topic
        self.poll_ms, self.max_records = poll_ms, max_records
        self.decoder = AvroDecoder(settings=s)
        self.consumer = KafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=poll_ms,
        )
        tps = [
            TopicPartition(t, p)
            for t in (trades_topic, market_topic)
            for p in sorted(self.consumer.partitions_for_topic(t) or ())
        ]
        self.consumer.assign(tps)
        if from_beginning:
            self.consumer.seek_to_beginning(*tps)
        else:
            self.consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the lazy seeks now, so "from now" means from this call
            self.consumer.position(tp)
        from ray_platform.services.kafka import KafkaBroker

        # The broker creates no topic on first use: a send to a missing DLQ would block.
        KafkaBroker(s).ensure_topics([f"{trades_topic}.dlq", f"{market_topic}.dlq"])
        self.producer = KafkaProducer(
            bootstrap_servers=s.kafka_bootstrap, acks=1, linger_ms=0, max_block_ms=10_000
        )
        self.stats = {"trades": 0, "market": 0, "alerts": 0, "dlq": 0, "polls": 0}

    def step(self) -> int:
        """One poll: apply every record, publish the alerts, flush; returns records applied."""
        polled = self.consumer.poll(timeout_ms=self.poll_ms, max_records=self.max_records)
        self.stats["polls"] += 1
        applied = 0
        alerts = []
        for tp, records in polled.items():
            is_trade = tp.topic == self.trades_topic
            for r in records:
                try:
                    body = self.decoder.decode_any(r.value)
                    if is_trade:
                        found = self.keeper.apply_trade(body, r.timestamp / 1000.0)
                    else:
                        found = self.keeper.apply_market(body, r.timestamp / 1000.0)
                except (UndecodableMessage, KeyError, TypeError, ValueError) as exc:
                    self._dead_letter(r, f"{type(exc).__name__}: {exc}")
                    continue
                applied += 1
                self.stats["trades" if is_trade else "market"] += 1
                alerts += found
        now = time.time()
        for a in alerts:
            body = {**a.to_dict(), "published_ts": now}
            self.producer.send(
                self.alerts_topic, key=a.desk.encode(), value=json.dumps(body).encode()
            )
        if alerts:
            self.producer.flush()
            self.stats["alerts"] += len(alerts)
        return applied

    def run(self, stop: threading.Event) -> None:
        """Step until ``stop`` is set; a failing step is logged and retried, never fatal."""
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # a broker hiccup must not end monitoring
                log.exception("position monitor step failed; retrying")
                time.sleep(0.5)

    def close(self) -> None:
        """Close the Kafka clients."""
        self.consumer.close()
        self.producer.close()

    def _dead_letter(self, r: Any, reason: str) -> None:
        self.stats["dlq"] += 1
        headers = [
            ("error", reason[:2000].encode()),
            ("source.topic", r.topic.encode()),
            ("source.partition", str(r.partition).encode()),
            ("source.offset", str(r.offset).encode()),
        ]
        self.producer.send(f"{r.topic}.dlq", key=r.key, value=r.value, headers=headers)


class _Monitor:
    """Actor body: builds the keeper, runs the loop on a thread, answers reads."""

    def __init__(
        self,
        book: Book | None = None,
        limits: Limits | dict | None = None,
        settings: Settings | None = None,
        **loop_options: Any,
    ) -> None:
        from ray_platform.risk.live_book import book_from_lake

        s = settings or get_settings()
        self.limits = (
            Limits.model_validate(limits) if isinstance(limits, dict) else limits or load_limits()
        )
        self.keeper = PositionKeeper(book or book_from_lake(self.limits, settings=s), self.limits)
        self.loop = MonitorLoop(self.keeper, s, **loop_options)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="position-monitor", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.lock:
                    self.loop.step()
            except Exception:
                log.exception("position monitor step failed; retrying")
                time.sleep(0.5)

    def positions(self) -> dict[str, Any]:
        """Every desk's live figures, limits, breaches and positions, plus held trades."""
        with self.lock:
            return self.keeper.snapshot()

    def limits_doc(self) -> dict[str, Any]:
        """The limits as loaded."""
        return self.limits.model_dump()

    def stats(self) -> dict[str, int]:
        """Records applied, alerts and dead letters since start."""
        with self.lock:
            return dict(self.loop.stats)

    def stop(self) -> None:
        """Stop the loop and close the clients."""
        self.stopping.set()
        self.thread.join(timeout=10)
        self.loop.close()


def monitor_actor_class() -> Any:
    """The Ray actor class (built lazily: importing this module needs no Ray)."""
    import ray

    return ray.remote(num_cpus=0, max_concurrency=8)(_Monitor)


def start_monitor(
    *,
    name: str = ACTOR_NAME,
    namespace: str = NAMESPACE,
    detached: bool = True,
    **options: Any,
) -> Any:
    """The named monitor actor, started (with ``options`` for :class:`_Monitor`) if missing."""
    cls = monitor_actor_class()
    opts: dict[str, Any] = {"name": name, "namespace": namespace, "get_if_exists": True}
    if detached:
        opts["lifetime"] = "detached"
    return cls.options(**opts).remote(**options)
