"""Live position monitoring on the real cluster: Kafka in, risk-alerts out, state over HTTP."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from ray_platform.risk.live_positions import Book, Instrument
from ray_platform.settings import get_settings
from ray_platform.streaming import producer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 2, 3)
LIMITS = {"default": {"notional": 1e12}, "desks": {"EQ_CASH": {"notional": 60_000, "var": 1e9}}}


def small_book() -> Book:
    instruments = {"EQ1": Instrument("EQ1", "equity", "USD")}
    return Book(DAY, instruments, {("EQ_CASH", "EQ1"): 1000.0}, {"EQ1": 100.0}, {"USD": 2.0})


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def topics(kafka_broker):
    tag = uuid.uuid4().hex[:8]
    names = {k: f"test-{k}-{tag}" for k in ("trades", "market", "alerts")}
    kafka_broker.ensure_topics(list(names.values()), partitions=1)
    return names


@pytest.fixture(scope="module")
def deployed(ray_cluster, topics):
    import ray
    from ray import serve

    from ray_platform.risk.live_monitor import start_monitor
    from serve.risk_app import deploy

    s = get_settings()
    ray.init(
        address=ray_cluster.gcs_address,
        namespace="gbank-risk-test",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), **s.as_env()}},
        ignore_reinit_error=True,
    )
    name, namespace = f"risk-positions-{topics['alerts']}", "gbank-risk-test"
    actor = start_monitor(
        name=name,
        namespace=namespace,
        detached=False,
        book=small_book(),
        limits=LIMITS,
        trades_topic=topics["trades"],
        market_topic=topics["market"],
        alerts_topic=topics["alerts"],
    )
    ray.get(actor.stats.remote(), timeout=120)  # up and consuming from the end of the topics
    url = deploy(s, {"name": name, "namespace": namespace})
    deadline = time.monotonic() + 240
    while True:
        try:
            get(url + "/limits")
            break
        except OSError:
            assert time.monotonic() < deadline, "risk app never answered"
            time.sleep(1)
    yield url, actor
    serve.delete("risk")
    ray.get(actor.stop.remote(), timeout=30)
    ray.kill(actor)
    ray.shutdown()


def alerts_consumer(topic: str):
    from kafka import KafkaConsumer, TopicPartition

    cons = KafkaConsumer(bootstrap_servers=get_settings().kafka_bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    cons.assign([tp])
    cons.seek_to_end(tp)
    cons.position(tp)
    return cons


def next_alerts(cons, count: int, timeout_s: float = 10.0) -> list[tuple[float, dict]]:
    got: list[tuple[float, dict]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        for batch in cons.poll(timeout_ms=20).values():
            now = time.time()
            got += [(now, json.loads(r.value)) for r in batch]
    return got


def test_trade_over_the_limit_alerts_within_a_second_and_shows_in_the_endpoints(deployed, topics):
    url, _actor = deployed
    cons = alerts_consumer(topics["alerts"])
    trade = {
        "trade_id": "T-BIG", "isin": "EQ1", "side": "BUY", "quantity": 300, "price": "100.0",
        "currency": "USD", "desk": "EQ_CASH", "trader": "t1",
    }  # fmt: skip
    with producer(acks=1, linger_ms=0) as prod:
        sent_at = time.time()
        prod.send(topics["trades"], key=b"EQ_CASH", value=json.dumps(trade).encode()).get(10)
    got = next_alerts(cons, 1)
    cons.close()
    assert got, "no alert on risk-alerts within 10 s"
    received, alert = got[0]
    assert (alert["kind"], alert["desk"], alert["metric"], alert["cause"]) == (
        "limit_breach", "EQ_CASH", "notional", "trade T-BIG",
    )  # fmt: skip
    assert alert["value"] == pytest.approx(1300 * 100 / 2) and alert["limit"] == 60_000
    assert received - sent_at < 1.0, f"alert took {received - sent_at:.3f} s"

    positions = get(url + "/positions")
    desk = positions["desks"]["EQ_CASH"]
    assert desk["positions"] == {"EQ1": 1300}
    assert desk["notional"] == pytest.approx(65_000)
    assert desk["breaches"] == ["notional"]
    limits = get(url + "/limits")
    assert limits["desks"]["EQ_CASH"]["notional"] == 60_000


def test_price_move_breach_and_unknown_instrument_held(deployed, topics):
    url, _actor = deployed
    cons = alerts_consumer(topics["alerts"])
    odd = {
        "trade_id": "T-ODD", "isin": "XX0000000000", "side": "SELL", "quantity": 5,
        "price": "1.0", "currency": "EUR", "desk": "EQ_CASH", "trader": "t2",
    }  # fmt: skip
    with producer(acks=1, linger_ms=0) as prod:
        prod.send(topics["trades"], value=json.dumps(odd).encode()).get(10)
        # the notional breach is still standing from the first test: a price drop ends it, a
        # rise past the limit raises it again
        for price in (80.0, 120.0):
            update = {"type": "price", "isin": "EQ1", "price": price}
            prod.send(topics["market"], value=json.dumps(update).encode()).get(10)
            time.sleep(0.3)
        prod.send(topics["trades"], value=b"not json at all").get(10)
    got = [a for _, a in next_alerts(cons, 2)]
    cons.close()
    kinds = sorted((a["kind"], a["cause"]) for a in got)
    assert kinds == [("held_trade", "trade T-ODD"), ("limit_breach", "price EQ1")]
    positions = get(url + "/positions")
    assert [t["trade_id"] for t in positions["held_trades"]] == ["T-ODD"]
    assert "XX0000000000" not in positions["desks"]["EQ_CASH"]["positions"]
    assert positions["desks"]["EQ_CASH"]["pnl"] == pytest.approx(
        (1300 * 120 - 1000 * 100 - 300 * 100) / 2
    )
