"""Where the dashboard's fraud numbers come from: the scoring service's Kafka topics.

Scoring results are not persisted in the lake: the Kafka consumer (``serve/consumer.py``) writes
every result to ``fraud-scores`` and the review/decline results to ``fraud-alerts``, keyed by
transaction id, and Kafka keeps them for the topics' retention. :class:`FraudFeed` reads the
newest :data:`TAIL` records of each partition of both topics (no consumer group, nothing
committed) and caches them for a few seconds, so many dashboards cost one read. Whether a
reviewed alert was fraud comes from the warehouse's label (``fact_transactions.is_fraud``),
read through the governed SQL path by :mod:`.dashboard`.

The live model version is the MLflow ``champion`` alias (:mod:`models.registry`), and when the
registry cannot be reached, the version stamped on the newest score.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray_platform.settings import Settings

log = logging.getLogger(__name__)
TAIL = 5_000
"""Records read from the end of each partition."""
CACHE_S = 3.0
ERROR_RETRY_S = 30.0


@dataclass(frozen=True)
class FraudRecords:
    """The scores and alerts read; ``error`` says why none could be read.

    Each record is ``{transaction_id, fraud_probability, decision, model_version, ts_ms}``.
    """

    scores: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class FraudFeed:
    """Cached tail reads of the scores and alerts topics."""

    def __init__(
        self,
        settings: Settings,
        scores_topic: str = "fraud-scores",
        alerts_topic: str = "fraud-alerts",
    ) -> None:
        self.settings = settings
        self.scores_topic, self.alerts_topic = scores_topic, alerts_topic
        self._lock = threading.Lock()
        self._cached: tuple[float, FraudRecords] | None = None
        self._model: tuple[float, str | None] | None = None

    def records(self) -> FraudRecords:
        """The newest scores and alerts (at most :data:`CACHE_S` old)."""
        with self._lock:
            if self._cached:
                age, last = time.monotonic() - self._cached[0], self._cached[1]
                # a broker that is down costs a connection timeout: ask again less often
                if age < (ERROR_RETRY_S if last.error else CACHE_S):
                    return last
            try:
                got = FraudRecords(self._tail(self.scores_topic), self._tail(self.alerts_topic))
            except Exception as exc:  # the broker down must not take the dashboard down
                log.warning("fraud topics unreadable: %s", exc)
                got = FraudRecords(error=f"Kafka topics unreadable: {exc}")
            self._cached = (time.monotonic(), got)
            return got

    def _tail(self, topic: str) -> list[dict[str, Any]]:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
            group_id=None, consumer_timeout_ms=2000, request_timeout_ms=5000,
        )  # fmt: skip
        try:
            parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or [])]
            if not parts:
                return []
            c.assign(parts)
            ends = c.end_offsets(parts)
            begins = c.beginning_offsets(parts)
            todo = {}
            for tp in parts:
                if ends[tp] > begins[tp]:
                    c.seek(tp, max(begins[tp], ends[tp] - TAIL))
                    todo[tp] = ends[tp]
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + 5
            while todo and time.monotonic() < deadline:
                for tp, recs in c.poll(timeout_ms=300).items():
                    for r in recs:
                        if (row := _row(r.value, r.timestamp)) is not None:
                            out.append(row)
                        if r.offset + 1 >= todo.get(tp, 0):
                            todo.pop(tp, None)
            return out
        finally:
            c.close()

    def model_version(self, newest_score: str | None) -> dict[str, str | None]:
        """``{"version", "source"}``: the champion alias, else the newest score's version."""
        with self._lock:
            if self._model is None or time.monotonic() - self._model[0] > 30:
                self._model = (time.monotonic(), _champion(self.settings))
            champion = self._model[1]
        if champion is not None:
            return {"version": champion, "source": "MLflow alias champion"}
        return {"version": newest_score, "source": "newest score on the scores topic"}


def _row(value: bytes, ts_ms: int) -> dict[str, Any] | None:
    try:
        body = json.loads(value)
        return {
            "transaction_id": str(body["transaction_id"]),
            "fraud_probability": float(body["fraud_probability"]),
            "decision": str(body["decision"]),
            "model_version": str(body.get("model_version") or ""),
            "ts_ms": int(ts_ms),
        }
    except (ValueError, KeyError, TypeError):
        return None  # not a score: the dashboard counts only what it can read


def _champion(settings: Settings) -> str | None:
    uri = settings.mlflow_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # no registry yet; opening one would create and migrate an empty database
    try:
        from models.registry import CHAMPION, alias_version, client

        return alias_version(client(settings.mlflow_uri), CHAMPION)
    except Exception as exc:  # no registry yet, or MLflow unreachable
        log.info("no champion from MLflow: %s", exc)
        return None
