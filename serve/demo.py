"""The fraud part of the demo: deploy, score over HTTP, stream through Kafka, print alerts.

``gbank serve demo`` runs it alone; ``gbank demo`` can call :func:`run` once the platform's
own demo has trained a champion (without one, a synthetic champion is registered first).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from ray_platform.settings import Settings, get_settings
from serve.testing import sample_transaction


def _post(url: str, body: Any) -> tuple[float, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    began = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())
    return (time.perf_counter() - began) * 1000, out


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def run(
    transactions: int = 3000,
    settings: Settings | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the fraud demo end to end; returns the figures it printed."""
    from kafka import KafkaConsumer

    from ray_platform.services.kafka import KafkaBroker
    from ray_platform.services.registry import SchemaRegistry
    from ray_platform.streaming import produce_card_transactions
    from serve.consumer import ConsumerConfig, ConsumerGroup
    from serve.service import up

    s = settings or get_settings()
    KafkaBroker(s).start()
    SchemaRegistry(s).start()
    st = up(s, bootstrap_model=True, echo=echo)
    for line in st.lines():
        echo(line)
    url = st.url
    # 1. HTTP: ordinary transactions, then a card-testing burst on one card
    http_ms = []
    for i in range(50):
        ms, _ = _post(f"{url}/fraud/score", sample_transaction(i))
        http_ms.append(ms)
    echo(f"HTTP: 50 transactions scored, client latency {_pct(http_ms)} ms")
    for i in range(16):
        t = sample_transaction(
            10_000 + 3 * i, transaction_id=f"DEMO-BURST-{i}", card_id="KDEMO", amount="1.00",
            channel="ecom", ip_country="NG",
        )  # fmt: skip
        _, score = _post(f"{url}/fraud/score", t)
        echo(
            f"  burst {i + 1:2d}: p={score['fraud_probability']:.3f} {score['decision']:8s} "
            f"{', '.join(r['feature'] for r in score['reasons'])} {score['flags']}"
        )
    # 2. Kafka: stream transactions through the consumer group
    group = ConsumerGroup(ConsumerConfig(), s)
    group.start()
    # Produce once every consumer has polled (lag known), so produce->result measures scoring,
    # not the actors' start-up.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        stats = group.stats()
        if stats and all(v.get("lag") is not None for v in stats.values()):
            break
        time.sleep(1)
    start_ms = int(time.time() * 1000)
    txns = [
        sample_transaction(
            100_000 + i, transaction_id=f"DEMO-{start_ms}-{i}", card_id=f"K{i % 300}"
        )
        for i in range(transactions)
    ]
    # Synthetic ordinary transactions: their label fields (the feed's schema carries them) are 0.
    labelled = (json.dumps(t | {"is_fraud": 0, "fraud_pattern": None}).encode() for t in txns)
    sent = produce_card_transactions(labelled, s)
    echo(
        f"Kafka: {sent.avro} transactions produced as Avro (schema id {sent.schema_id}) to "
        f"'transactions', {sent.json} as JSON"
    )
    wanted = {t["transaction_id"] for t in txns}
    got: dict[str, dict[str, Any]] = {}
    reader = KafkaConsumer(
        "fraud-scores", bootstrap_servers=s.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    e2e = []
    while len(got) < len(wanted) and time.monotonic() < deadline:
        for recs in reader.poll(timeout_ms=500).values():
            now = time.time() * 1000
            for r in recs:
                body = json.loads(r.value)
                if body["transaction_id"] in wanted and body["transaction_id"] not in got:
                    got[body["transaction_id"]] = body
                    e2e.append(now - body["produced_at_ms"])
    reader.close()
    alerts = [b for b in got.values() if b["decision"] in ("review", "decline")]
    echo(f"Kafka: {len(got)}/{len(wanted)} scored, {len(alerts)} alerts, "
         f"produce->result {_pct(e2e)} ms")  # fmt: skip
    for a in alerts[:10]:
        echo(f"  ALERT {a['transaction_id']} {a['decision']} p={a['fraud_probability']:.3f}")
    stats = group.stats()
    return {
        "http_latency_ms": _pct(http_ms),
        "kafka_scored": len(got),
        "kafka_alerts": len(alerts),
        "kafka_produce_to_result_ms": _pct(e2e),
        "consumer_lag": {p: v["lag"] for p, v in stats.items()},
    }
