"""A failed data-quality check reaches the real Kafka broker as a JSON alert."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pyarrow as pa
import pytest

from ray_platform.governance import dq
from ray_platform.settings import load_settings
from ray_platform.streaming import end_offsets, read_from
from ray_platform.tables import table_store

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 1, 5)


def _delete_topic(topic: str) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=load_settings().kafka_bootstrap)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()


def test_failed_check_publishes_an_alert_on_the_topic(kafka_broker, tmp_path):
    settings = load_settings(home=tmp_path)  # the session's broker, a private lake
    rows = pa.table(
        {
            "business_date": pa.array([DAY] * 3, pa.date32()),
            "merchant_id": ["M1", "M2", "M2"],
            "txns": [1, 2, 3],
        }
    )
    table_store(settings).write("gold/daily_merchant_stats", rows, partition_by=["business_date"])
    topic = f"test-dq-alerts-{uuid.uuid4().hex[:8]}"
    kafka_broker.ensure_topics([topic], partitions=1)
    try:
        start = end_offsets(topic, settings)
        cfg = dq.DqConfig(
            alert_topic=topic,
            tables=[
                dq.TableChecks(
                    table="gold/daily_merchant_stats",
                    date_column="business_date",
                    uniqueness=["business_date", "merchant_id"],
                )
            ],
        )
        run = dq.run_checks(DAY, settings, config=cfg)  # default sinks: log, metric, Kafka
        assert [(r.check, r.passed) for r in run.results] == [
            ("freshness", True),
            ("uniqueness", False),
        ]
        assert run.delivery_errors == {}
        got = read_from(topic, start, 10, timeout_s=15, settings=settings)
        assert len(got) == 1
        alert = json.loads(got[0].value)
        assert got[0].key == b"gold/daily_merchant_stats"
        assert alert["check"] == "uniqueness" and alert["observed"] == 1
        assert alert["run_id"] == run.run_id and alert["day"] == DAY.isoformat()
    finally:
        _delete_topic(topic)


def test_an_alert_that_cannot_be_delivered_is_reported_not_lost(kafka_broker, tmp_path):
    settings = load_settings(home=tmp_path)
    cfg = dq.DqConfig(
        alert_topic=f"test-dq-missing-{uuid.uuid4().hex[:8]}",  # never created: no auto-create
        tables=[dq.TableChecks(table="gold/nowhere", uniqueness=["k"])],
    )
    run = dq.run_checks(DAY, settings, config=cfg)
    assert [(r.check, r.passed) for r in run.results] == [("exists", False)]
    assert "alerts not delivered to Kafka topic" in run.delivery_errors["KafkaSink"]
    assert [r["check"] for r in dq.read_results(settings, failed_only=True)] == ["exists"]
