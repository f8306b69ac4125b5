"""Benchmark: the fraud service over HTTP (open loop) and through Kafka, with its floors.

Run as ``.venv/bin/python bench/scoring.py [--rates 200,500,1000] [--duration 30]``; writes
``bench/results/scoring.json``. ``--kafka-only`` runs just the Kafka path twice in one run, values
as Avro under the schema registry (what the card topic carries) and as plain JSON (the baseline),
and writes ``bench/results/scoring_kafka_avro.json``.

Starts its own Ray instance (``ray.init(address="local", num_cpus=2)``) with Ray Serve's HAProxy
ingress (``serve.ingress.export()``: ``RAY_SERVE_ENABLE_HA_PROXY=1``,
``RAY_SERVE_ENABLE_DIRECT_INGRESS=1``, Debian's haproxy) on port 8100, and deploys through the
same ingress:

- ``fraud``: the real app (online features from Feast SQLite for 2,000 known customers/cards,
  streaming velocity, TreeSHAP top-3 reasons) with a synthetic ``fraud-xgb`` champion;
- ``echo``: a bare deployment that returns the request body (the framework floor).

The loader runs in a separate process: for each rate it precomputes the send schedule
(request ``i`` at ``i / rate`` seconds) and measures each request from its *scheduled* time, so
a stalled server or client shows as latency, not as a lower rate (no coordinated omission).
Then the in-process calls alone (model predict + explain; the whole scoring core), and the
Kafka path: transactions produced at a fixed rate to a fresh 4-partition topic, scored by the
four consumer actors, p99 from each record's produce timestamp to its result being read back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import provenance  # noqa: E402

RESULT = REPO / "bench" / "results" / os.environ.get("GBANK_BENCH_OUT", "scoring.json")
PORT = 8100


def pct(values: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    if not len(a):
        return {}
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)} | {
        "max": round(float(a.max()), 2)
    }


# -- the open-loop loader (separate process) ----------------------------------------------------
async def _open_loop(url: str, bodies: list[bytes], rate: float, duration: float) -> dict:
    """Send ``rate * duration`` POSTs on a fixed schedule; latency from each scheduled time.

    A minimal HTTP/1.1 keep-alive client on asyncio streams (a connection per request in
    flight, reused when free): the loader shares the 2 cores with the server, and aiohttp cost
    ~0.6 ms of CPU per request, a third of a core at 500 requests/s taken from the service it
    measures. It handles exactly what the server sends: a status line, headers with
    Content-Length, a body.
    """
    from urllib.parse import urlsplit

    u = urlsplit(url)
    host, port, path = u.hostname or "127.0.0.1", u.port or 80, u.path or "/"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    n = int(rate * duration)
    lat: list[float] = []
    errors: dict[str, int] = {}
    free: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(body: bytes) -> int:
        conn = free.pop() if free else await asyncio.open_connection(host, port)
        reader, writer = conn
        writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        status_line = await reader.readline()
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        await reader.readexactly(length)
        if close or not status_line:
            writer.close()
        else:
            free.append(conn)
        return int(status_line.split()[1])

    for _ in range(20):  # warm a few connections so the first requests do not pay TCP setup
        await post(bodies[0])
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one(i: int) -> None:
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status = await asyncio.wait_for(post(bodies[i % len(bodies)]), timeout=10)
        except Exception as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if status != 200:
            errors[str(status)] = errors.get(str(status), 0) + 1
            return
        lat.append((loop.time() - scheduled) * 1000)

    await asyncio.gather(*(one(i) for i in range(n)))
    for _, writer in free:
        writer.close()
    failed = sum(errors.values())
    return {
        "rate": rate,
        "duration_s": duration,
        "requests": n,
        "ok": len(lat),
        "error_rate": round(failed / n, 5),
        "errors": errors,
        "latency_ms": pct(lat),
    }


def _loader(url: str, bodies: list[bytes], rate: float, duration: float, q: mp.Queue) -> None:
    q.put(asyncio.run(_open_loop(url, bodies, rate, duration)))


def load(url: str, bodies: list[bytes], rate: float, duration: float) -> dict:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=_loader, args=(url, bodies, rate, duration, q))
    p.start()
    out = q.get(timeout=duration + 120)
    p.join()
    return out


# -- setup --------------------------------------------------------------------------------------
def seed_online_store(settings: Any, n: int = 2000) -> None:
    import pandas as pd

    from features.online import online_store_for
    from serve.testing import ensure_online_store

    ensure_online_store(settings)
    fs = online_store_for(settings).feast
    now = pd.Timestamp.now(tz="UTC")
    rng = np.random.default_rng(1)
    ids = [f"C{i % 500:08d}" for i in range(n)]
    fs.write_to_online_store("customer_profile", pd.DataFrame({
        "customer_id": ids, "event_timestamp": now, "home_country": "GB",
        "segment_code": rng.integers(0, 5, n), "kyc_risk_score": rng.integers(0, 3, n),
        "first_open_day": 18000}))  # fmt: skip
    spend = {"customer_id": ids, "event_timestamp": now}
    for w in ("1h", "24h", "7d", "30d"):
        spend |= {f"cust_txn_count_{w}": rng.integers(0, 50, n),
                  f"cust_amount_sum_{w}": rng.gamma(2, 100, n),
                  f"cust_amount_mean_{w}": rng.gamma(2, 30, n),
                  f"cust_amount_std_{w}": rng.gamma(2, 10, n)}  # fmt: skip
    fs.write_to_online_store("customer_spend", pd.DataFrame(spend))


def bodies(n: int = 2000) -> list[bytes]:
    from serve.testing import sample_transaction

    return [json.dumps(sample_transaction(i)).encode() for i in range(n)]


def in_process(settings: Any, n: int = 2000) -> dict:
    from serve.features import FeastFeatures
    from serve.model_store import MlflowSource, ModelStore
    from serve.schemas import Transaction
    from serve.scoring import Scorer
    from serve.testing import sample_transaction

    store = ModelStore(MlflowSource(settings))
    store.refresh()
    model = store.current
    scorer = Scorer(FeastFeatures(settings))
    txns = [Transaction(**sample_transaction(i)) for i in range(n)]
    x = scorer.matrix(txns[:1])[0].astype(np.float32)
    model_ms, core_ms = [], []
    for _ in range(n):
        t = time.perf_counter()
        model.predict_explain(x, 3)
        model_ms.append((time.perf_counter() - t) * 1000)
    for t_ in txns:
        t = time.perf_counter()
        scorer.score([t_], model)
        core_ms.append((time.perf_counter() - t) * 1000)
    return {"model_predict_explain_ms": pct(model_ms), "scoring_core_ms": pct(core_ms)}


def kafka_bench(settings: Any, rate: float, duration: float, encoding: str = "avro") -> dict:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from ray_platform.avro_codec import AvroSerializer, card_transaction_schema
    from ray_platform.services.kafka import KafkaBroker
    from ray_platform.services.registry import SchemaRegistry
    from serve.consumer import ConsumerConfig, ConsumerGroup
    from serve.testing import sample_transaction

    tag = uuid.uuid4().hex[:6]
    cfg = ConsumerConfig(source=f"bench-{tag}-tx", scores=f"bench-{tag}-scores",
                         alerts=f"bench-{tag}-alerts", dlq=f"bench-{tag}-dlq",
                         group=f"bench-{tag}", batch_size=500, poll_ms=20)  # fmt: skip
    broker = KafkaBroker(settings)
    broker.start()
    broker.ensure_topics([cfg.source, cfg.scores, cfg.alerts, cfg.dlq], partitions=4)
    if encoding == "avro":
        SchemaRegistry(settings).start()
        ser = AvroSerializer(cfg.source, card_transaction_schema(), settings=settings)

        def encode(t: dict) -> bytes:
            return ser.encode(t | {"is_fraud": 0, "fraud_pattern": None})
    else:

        def encode(t: dict) -> bytes:
            return json.dumps(t).encode()

    group = ConsumerGroup(cfg, settings)
    group.start()
    ready_at = time.monotonic() + 300
    while len(group.stats()) < 4 and time.monotonic() < ready_at:
        time.sleep(2)  # each actor loads the model and the online store first
    time.sleep(3)
    n = int(rate * duration)
    reader = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(cfg.scores, p) for p in range(4)]
    reader.assign(tps)
    reader.seek_to_end(*tps)
    [reader.position(tp) for tp in tps]
    prod = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    txns = [encode(sample_transaction(300_000 + i, transaction_id=f"B{tag}{i}"))
            for i in range(n)]  # fmt: skip
    import threading

    def send() -> None:
        start = time.monotonic()
        for i, v in enumerate(txns):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            prod.send(cfg.source, key=f"K{i % 300}".encode(), value=v)
        prod.flush()

    send_started = time.time() * 1000
    sender = threading.Thread(target=send)
    sender.start()
    lat, seen, first, last = [], 0, None, None
    deadline = time.monotonic() + duration + 120
    while seen < n and time.monotonic() < deadline:
        for recs in reader.poll(timeout_ms=200).values():
            now = time.time() * 1000
            for r in recs:
                body = json.loads(r.value)
                lat.append(now - body["produced_at_ms"])
                seen += 1
                last = now
                first = first or now
    sender.join()
    group.stop()
    reader.close()
    prod.close()
    span = ((last or 0) - send_started) / 1000 if last else 0  # first send to last result
    return {
        "encoding": encoding,
        "bytes_per_value": round(sum(map(len, txns)) / n, 1),
        "target_rate": rate,
        "duration_s": duration,
        "produced": n,
        "scored": seen,
        "sustained_tps": round(seen / span, 1) if span else 0,
        "produce_to_result_ms": pct(lat),
        "partitions": 4,
        "consumers": 4,
        "batch_size": cfg.batch_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="200,500,1000")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--kafka-rate", type=float, default=2000)
    ap.add_argument("--kafka-duration", type=float, default=30)
    ap.add_argument("--no-haproxy", action="store_true")
    ap.add_argument("--replicas", type=int, default=1, help="fraud replicas behind the ingress")
    ap.add_argument("--skip-kafka", action="store_true")
    ap.add_argument("--kafka-only", action="store_true", help="Avro vs JSON on the Kafka path")
    args = ap.parse_args()
    load_start = os.getloadavg()
    home = REPO / ".gbank" / "bench-serve"
    os.environ["GBANK_HOME"] = str(home)
    from ray_platform.settings import load_settings
    from serve import ingress

    settings = load_settings(home=home)
    if args.kafka_only:
        kafka_only(settings, args.kafka_rate, args.kafka_duration, load_start)
        return
    if not args.no_haproxy:
        ingress.ensure_haproxy()
        ingress.export()
    from serve.testing import ensure_champion

    seed_online_store(settings)
    ensure_champion(settings)

    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import Response

    from serve.app import FraudService

    env = {**settings.as_env(), "PYTHONPATH": str(REPO)}
    os.environ.setdefault("RAY_raylet_start_wait_time_s", "180")  # a loaded machine starts slowly
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024**2, runtime_env={"env_vars": env})  # fmt: skip

    # Access log off, as in the fraud deployment: the floor must pay for the same things.
    @serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=64,
                      logging_config={"enable_access_log": False})  # fmt: skip
    class Echo:
        async def __call__(self, request: Request) -> Response:
            return Response(await request.body(), media_type="application/json")

    serve.start(http_options={"host": "127.0.0.1", "port": PORT})
    serve.run(Echo.bind(), name="echo", route_prefix="/echo")
    fraud = FraudService.options(
        num_replicas=args.replicas, ray_actor_options={"num_cpus": 0}, user_config={}
    ).bind()
    serve.run(fraud, name="fraud", route_prefix="/")
    import urllib.request

    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    mode = ingress.check().mode
    data = bodies()
    http: dict[str, list[dict]] = {"echo": [], "fraud": []}
    for rate in [float(r) for r in args.rates.split(",")]:
        for name, path in (("echo", "/echo"), ("fraud", "/fraud/score")):
            res = load(f"http://127.0.0.1:{PORT}{path}", data, rate, args.duration)
            print(name, json.dumps(res), flush=True)
            http[name].append(res)
            time.sleep(2)
    ratios = []
    for e, f in zip(http["echo"], http["fraud"], strict=True):
        ep, fp = e["latency_ms"].get("p99"), f["latency_ms"].get("p99")
        ratios.append({"rate": e["rate"], "fraud_p99_ms": fp, "echo_p99_ms": ep,
                       "ratio": round(fp / ep, 2) if ep and fp else None})  # fmt: skip
    proc = in_process(settings)
    print("in-process", json.dumps(proc), flush=True)
    kafka = None if args.skip_kafka else kafka_bench(settings, args.kafka_rate, args.kafka_duration)
    print("kafka", json.dumps(kafka), flush=True)
    serve.shutdown()
    ray.shutdown()
    out = {
        **provenance(
            "fraud scoring: HTTP open loop, echo floor, in-process, Kafka", load_start, "ray"
        ),
        "ingress": mode,
        "ray": ray.__version__,
        "http": http,
        "echo_floor_ratio": ratios,
        "in_process": proc,
        "kafka": kafka,
        "notes": "latency from each request's scheduled send time; loader in a separate "
        "process on the same 2-core machine; fraud = online features (Feast SQLite) + "
        "velocity + XGBoost + TreeSHAP top-3; model is the synthetic fraud-xgb",
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULT}")


def kafka_only(settings: Any, rate: float, duration: float, load_start: tuple) -> None:
    """The Kafka path alone, JSON values then Avro values, in one Ray instance."""
    from serve.testing import ensure_champion

    seed_online_store(settings)
    ensure_champion(settings)
    import ray

    env = {**settings.as_env(), "PYTHONPATH": str(REPO)}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=300 * 1024**2, runtime_env={"env_vars": env})  # fmt: skip
    runs = {}
    for encoding in ("json", "avro"):
        runs[encoding] = kafka_bench(settings, rate, duration, encoding)
        print("kafka", json.dumps(runs[encoding]), flush=True)
    ray.shutdown()
    p99 = {k: v["produce_to_result_ms"].get("p99") for k, v in runs.items()}
    out = {
        **provenance(
            "fraud scoring through Kafka: Avro values (schema registry) vs JSON",
            load_start,
            "ray",
            "fastavro",
        ),
        "ray": ray.__version__,
        "kafka": runs,
        "avro_to_json_p99_ratio": round(p99["avro"] / p99["json"], 2)
        if p99["avro"] and p99["json"]
        else None,
        "notes": "same transactions, topic layout (4 partitions, 4 consumer actors) and rate; "
        "Avro values carry the Confluent header and are decoded by schema id (writer schema "
        "fetched once per actor, then cached); p99 from each record's produce time to its "
        "result being read back",
    }
    path = REPO / "bench" / "results" / os.environ.get("GBANK_BENCH_OUT", "scoring_kafka_avro.json")
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
