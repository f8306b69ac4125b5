"""The fraud service for real: Ray Serve on the local cluster, MLflow, Feast, the Kafka broker.

The module deploys the ``fraud`` app once on the session's Ray cluster, with its own home
(registry, online store, journals) so other suites' models never become this one's champion,
and its own topics so other suites' transactions never reach these consumers.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ray_platform.settings import load_settings
from serve.testing import ensure_online_store, register_synthetic, sample_transaction

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:8000"
CONFIG = {"model_poll_s": 1.0, "max_batch": 50, "review_threshold": 0.5, "decline_threshold": 0.9}


def http(method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(URL + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text.decode(errors="replace")


@pytest.fixture(scope="module")
def settings():  # type: ignore[no-untyped-def]
    home = REPO / ".gbank" / f"test-serve-{uuid.uuid4().hex[:6]}"
    s = load_settings(home=home)
    ensure_online_store(s)
    import pandas as pd

    from features.online import online_store_for

    profile = pd.DataFrame(
        [{"customer_id": "CKNOWN", "event_timestamp": pd.Timestamp.now(tz="UTC"),
          "home_country": "GB", "segment_code": 1, "kyc_risk_score": 0, "first_open_day": 18000}]
    )  # fmt: skip
    online_store_for(s).feast.write_to_online_store("customer_profile", profile)
    register_synthetic(s, seed=0)
    yield s
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(ray_cluster, settings):  # type: ignore[no-untyped-def]
    import ray
    from ray import serve

    from serve.app import deploy

    ray.init(
        address=ray_cluster.gcs_address,
        namespace="gbank-fraud-test",
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), **settings.as_env()}},
        ignore_reinit_error=True,
    )
    deploy(settings, CONFIG, num_cpus=0)
    deadline = time.monotonic() + 300
    status = None
    while time.monotonic() < deadline:
        try:
            status = http("GET", "/health")
            if status[0] == 200:
                break
        except OSError:
            pass
        time.sleep(2)
    assert status and status[0] == 200, f"fraud app never healthy: {status}"
    yield URL
    serve.delete("fraud")
    ray.shutdown()


def test_http_score_batch_model_and_bad_input(deployed, settings) -> None:
    code, body = http("POST", "/fraud/score", sample_transaction(1, customer_id="CKNOWN"))
    assert code == 200, body
    assert body["decision"] in ("approve", "review", "decline") and len(body["reasons"]) == 3
    assert body["model_version"] == "1" and "unknown_customer" not in body["flags"]
    code, body = http("POST", "/fraud/score", sample_transaction(2, customer_id="CNEW"))
    assert code == 200 and "unknown_customer" in body["flags"]
    batch = {"transactions": [sample_transaction(i) for i in range(10, 20)]}
    code, body = http("POST", "/fraud/score/batch", batch)
    assert code == 200 and len(body["scores"]) == 10
    code, body = http("POST", "/fraud/score/batch", {"transactions": [sample_transaction(1)] * 51})
    assert code == 413
    code, model = http("GET", "/model")
    assert code == 200 and model["name"] == "fraud-xgb" and model["alias"] == "champion"
    assert model["run_id"]
    code, doc = http("GET", "/openapi.json")
    assert code == 200 and "/fraud/score/batch" in doc["paths"]
    for bad in (
        sample_transaction(3, amount="-1.00"),
        sample_transaction(3, currency="ABC"),
        {"transaction_id": "x"},
    ):
        code, body = http("POST", "/fraud/score", bad)
        assert code == 422 and body["fields"], body
    assert http("POST", "/fraud/score", raw=b"{oops")[0] == 400
    assert http("POST", "/fraud/score", raw=b"{" + b" " * 1_100_000 + b"}")[0] == 413
    assert http("POST", "/fraud/score", sample_transaction(4))[0] == 200  # still serving


def test_card_testing_burst_escalates_inside_the_burst(deployed) -> None:
    decisions = []
    for i in range(20):  # 20 one-euro ecom charges on one card, 3 s apart
        t = sample_transaction(
            1000 + 3 * i, transaction_id=f"BURST{i}", card_id="KBURST", amount="1.00",
            channel="ecom", ip_country="NG",
        )  # fmt: skip
        code, body = http("POST", "/fraud/score", t)
        assert code == 200, body
        decisions.append(body["decision"])
    assert decisions[0] == "approve"
    assert "review" in decisions[:12], decisions
    assert decisions[-1] == "decline", decisions


def test_alias_switch_under_load_has_no_failures(deployed, settings) -> None:
    from models.registry import CHAMPION, MODEL_NAME, client
    from serve.model_store import switches

    v2 = register_synthetic(settings, seed=1, champion=False)
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            code, body = http(
                "POST", "/fraud/score", sample_transaction(50_000 + worker * 10_000 + i)
            )
            results.append((code, body.get("model_version") if code == 200 else str(body)))

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(3)
    client(settings.mlflow_uri).set_registered_model_alias(MODEL_NAME, CHAMPION, v2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(v == v2 for _, v in results[-20:]):
        time.sleep(0.5)
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join()
    codes = Counter(c for c, _ in results)
    versions = [v for c, v in results if c == 200]
    assert codes == {200: len(results)}, codes
    assert {"1", v2} <= set(versions)
    first_new = versions.index(v2)
    assert all(v == v2 for v in versions[first_new + 10 :])  # never back once switched
    journal = [s for s in switches(settings) if s["new_version"] == v2]
    assert journal and journal[0]["old_version"] == "1" and journal[0]["time"]
    assert http("GET", "/model")[1]["version"] == v2


def _read_all(settings, topic: str, partitions: int) -> list[Any]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    out = []
    while any(c.position(tp) < ends[tp] for tp in tps):
        for recs in c.poll(timeout_ms=1000).values():
            out.extend(recs)
    c.close()
    return out


def _own_topics(kafka_broker, partitions: int, **config: Any) -> Any:
    """A consumer config on topics and a group of its own: no other test's records reach it."""
    from serve.consumer import ConsumerConfig

    tag = uuid.uuid4().hex[:6]
    cfg = ConsumerConfig(
        source=f"it-{tag}-transactions", scores=f"it-{tag}-scores", alerts=f"it-{tag}-alerts",
        dlq=f"it-{tag}-dlq", group=f"fraud-scoring-{tag}", **config,
    )  # fmt: skip
    kafka_broker.ensure_topics([cfg.source, cfg.scores, cfg.alerts, cfg.dlq], partitions=partitions)
    return cfg


def test_consumer_killed_mid_stream_exactly_one_result_and_dlq(deployed, settings, kafka_broker):
    from serve.consumer import ConsumerGroup

    cfg = _own_topics(
        kafka_broker, 2, batch_size=100, scoring={"review_threshold": 0.3, "decline_threshold": 0.9}
    )
    from ray_platform.streaming import produce

    n = 3000
    txns = [sample_transaction(200_000 + i, card_id=f"K{i % 40}") for i in range(n)]
    records = [(t["card_id"].encode(), json.dumps(t).encode()) for t in txns]
    bad = [b"{not json", json.dumps(sample_transaction(1, amount="-3")).encode(), b"\xff\xfe"]
    records[100:100] = [(b"bad", v) for v in bad]
    # the same transaction id sent twice (an upstream retry) must give one result
    records.append((txns[5]["card_id"].encode(), json.dumps(txns[5]).encode()))
    produce(cfg.source, records, settings)

    group = ConsumerGroup(cfg, settings)
    assert group.start() == [0, 1]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        st = group.stats()
        if st.get(0, {}).get("consumed", 0) >= 300:
            break
        time.sleep(0.5)
    before = group.stats()
    group.kill(0)  # a crash: no flush, no commit of what is in flight
    time.sleep(1)
    assert group.start([0]) == [0]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        st = group.stats()
        if len(st) == 2 and all(s["lag"] == 0 for s in st.values()):
            break
        time.sleep(1)
    stats = group.stats()
    group.stop()
    assert all(s["lag"] == 0 for s in stats.values()), (before, stats)

    scores = _read_all(settings, cfg.scores, 2)
    ids = Counter(r.key.decode() for r in scores)
    assert set(ids) == {t["transaction_id"] for t in txns}, (before, stats)
    assert max(ids.values()) == 1, [k for k, v in ids.items() if v > 1][:5]
    alerts = Counter(r.key.decode() for r in _read_all(settings, cfg.alerts, 2))
    assert alerts and max(alerts.values()) == 1
    alerted = {json.loads(r.value)["transaction_id"] for r in scores
               if json.loads(r.value)["decision"] in ("review", "decline")}  # fmt: skip
    assert alerted == set(alerts)
    dlq = _read_all(settings, cfg.dlq, 2)
    assert sorted(r.value for r in dlq) == sorted(bad)
    for r in dlq:
        headers = dict(r.headers)
        assert headers["error"] and headers["source.topic"].decode() == cfg.source


def test_broker_restarted_while_consuming_loses_no_transaction(deployed, settings, kafka_broker):
    from ray_platform.streaming import produce
    from serve.consumer import ConsumerGroup

    cfg = _own_topics(kafka_broker, 2, batch_size=100)
    txns = [sample_transaction(400_000 + i, card_id=f"R{i % 50}") for i in range(3000)]
    records = [(t["card_id"].encode(), json.dumps(t).encode()) for t in txns]
    produce(cfg.source, records[:1500], settings)
    group = ConsumerGroup(cfg, settings)
    assert group.start() == [0, 1]
    deadline = time.monotonic() + 180
    while sum(s.get("consumed", 0) for s in group.stats().values()) < 300:
        assert time.monotonic() < deadline, group.stats()
        time.sleep(0.3)
    # The broker goes down under the consumers (they are mid-stream) and comes back.
    assert kafka_broker.stop()
    time.sleep(3)
    kafka_broker.start()
    produce(cfg.source, records[1500:], settings)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        st = group.stats()
        consumed = sum(s["consumed"] for s in st.values())
        if len(st) == 2 and consumed >= len(txns) and all(s["lag"] == 0 for s in st.values()):
            break
        time.sleep(1)
    stats = group.stats()
    group.stop()
    assert all(s["lag"] == 0 for s in stats.values()), stats
    scores = Counter(r.key.decode() for r in _read_all(settings, cfg.scores, 2))
    assert set(scores) == {t["transaction_id"] for t in txns}, stats  # none lost
    assert max(scores.values()) == 1  # none scored twice
    alerts = Counter(r.key.decode() for r in _read_all(settings, cfg.alerts, 2))
    assert not alerts or max(alerts.values()) == 1


def test_consumer_scores_avro_by_schema_id_and_json_alike(deployed, settings, kafka_broker,
                                                          schema_registry):  # fmt: skip
    from ray_platform.avro_codec import AvroSerializer, card_transaction_schema, frame
    from ray_platform.streaming import produce
    from serve.consumer import ConsumerGroup

    cfg = _own_topics(kafka_broker, 1, batch_size=50)
    avro = AvroSerializer(cfg.source, card_transaction_schema(), settings=settings)
    txns = [sample_transaction(600_000 + i) for i in range(40)]
    # Avro producers: the feed's schema also carries the generator's label fields
    records = [(b"k", avro.encode(t | {"is_fraud": 0, "fraud_pattern": None})) for t in txns[:30]]
    records += [(b"k", json.dumps(t).encode()) for t in txns[30:]]  # simple JSON clients
    unknown = frame(987_654, b"\x02\x04")  # a schema id the registry never issued
    records.append((b"k", unknown))
    produce(cfg.source, records, settings)
    group = ConsumerGroup(cfg, settings)
    group.start()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        st = group.stats()
        if st and st[0]["consumed"] >= len(records) and st[0]["lag"] == 0:
            break
        time.sleep(1)
    stats = group.stats()
    group.stop()
    scores = {r.key.decode(): json.loads(r.value) for r in _read_all(settings, cfg.scores, 1)}
    assert set(scores) == {t["transaction_id"] for t in txns}, stats
    dlq = _read_all(settings, cfg.dlq, 1)
    assert [r.value for r in dlq] == [unknown]  # retried, then dead-lettered, never dropped
    assert b"987654" in dict(dlq[0].headers)["error"]


def test_cli_runs_one_consumer_group_per_card_topic(
    deployed, settings, kafka_broker, schema_registry, monkeypatch
):
    """`gbank serve consumers start|status|stop` over an Avro topic and its JSON twin."""
    from typer.testing import CliRunner

    from ray_platform.cli import app
    from ray_platform.settings import get_settings
    from ray_platform.streaming import produce_card_transactions

    tag = uuid.uuid4().hex[:6]
    avro, plain = f"it-{tag}-cards", f"it-{tag}-cards.json"
    kafka_broker.ensure_topics([avro, plain, f"{avro}.dlq", f"{plain}.dlq"], partitions=1)
    monkeypatch.setenv("GBANK_HOME", str(settings.home))
    get_settings.cache_clear()
    txns = [
        sample_transaction(700_000 + i, transaction_id=f"CLI-{tag}-{i}")
        | {"is_fraud": 0, "fraud_pattern": None}
        for i in range(6)
    ]
    lines = [json.dumps(t).encode() for t in txns]
    assert produce_card_transactions(lines[:4], settings, topic=avro, json_topic=plain).avro == 4
    assert produce_card_transactions(lines[4:], settings, as_json=True, json_topic=plain).json == 2
    cli, sources = CliRunner(), ["--source", avro, "--source", plain]

    started = cli.invoke(app, ["serve", "consumers", "start", *sources])
    assert started.exit_code == 0, started.output
    assert started.output.count("started partitions [0]") == 2
    wanted = (f"{avro} p0: consumed 4, scored 4", f"{plain} p0: consumed 2, scored 2")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = cli.invoke(app, ["serve", "consumers", "status", *sources])
        if all(w in status.output for w in wanted):
            break
        time.sleep(2)
    assert all(w in status.output for w in wanted), status.output
    stopped = cli.invoke(app, ["serve", "consumers", "stop", *sources])
    assert stopped.exit_code == 0, stopped.output
    after = cli.invoke(app, ["serve", "consumers", "status", *sources])
    assert after.exit_code == 1 and after.output.count("no consumer running") == 2

    keys = [(r.key or b"").decode() for r in _read_all(settings, "fraud-scores", 4)]
    mine = Counter(k for k in keys if k.startswith(f"CLI-{tag}-"))  # results are keyed by id
    assert mine == Counter(t["transaction_id"] for t in txns)  # each exactly once
