"""Benchmark: trade-to-alert latency of the live position monitor, p50 and p99.

Run as ``.venv/bin/python bench/positions.py [--pairs 300] [--market-rate 0,5000]`` against
the running broker; writes ``bench/results/positions.json``.

The monitor (:class:`ray_platform.risk.live_monitor.MonitorLoop` over a one-desk book whose
notional limit sits between the position before and after a 300-share buy) runs in its own
process. The loader sends buy/sell pairs to a fresh ``trades`` topic, ``--interval`` apart:
every buy crosses the limit and must raise one alert on a fresh ``risk-alerts`` topic, every
sell brings the desk back. Latency is from just before the buy's send to the alert being read
back, on the same clock. With ``--market-rate`` above 0 a third process replays market data
to the monitor's market topic at that rate during the run, so the trades queue behind it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import sys
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import provenance  # noqa: E402

RESULT = REPO / "bench" / "results" / "positions.json"
DAY = dt.date(2026, 2, 3)


def _monitor(topics: dict[str, str], stop_after_s: float, ready: mp.Event) -> None:
    import threading

    from ray_platform.risk.live_monitor import MonitorLoop
    from ray_platform.risk.live_positions import (
        Book,
        DeskLimits,
        Instrument,
        Limits,
        PositionKeeper,
    )

    instruments = {"EQ1": Instrument("EQ1", "equity", "USD")}
    book = Book(DAY, instruments, {("EQ_CASH", "EQ1"): 1000.0}, {"EQ1": 100.0}, {"USD": 2.0})
    limits = Limits(desks={"EQ_CASH": DeskLimits(notional=60_000)})
    keeper = PositionKeeper(book, limits)
    loop = MonitorLoop(
        keeper, trades_topic=topics["trades"], market_topic=topics["market"],
        alerts_topic=topics["alerts"],
    )  # fmt: skip
    stop = threading.Event()
    threading.Timer(stop_after_s, stop.set).start()
    ready.set()
    loop.run(stop)
    loop.close()


def _market(topic: str, rate: float, duration: float) -> None:
    import json as _json

    from ray_platform.market_feed import replay

    # Prices of instruments the book does not hold: the monitor pays the decode and the lookup,
    # as it would for the rest of the market, without moving the desk's figures.
    updates = []
    for i in range(50_000):
        body = {"type": "price", "isin": f"X{i % 500}", "price": 1.0 + i % 7}
        updates.append((f"X{i % 500}".encode(), _json.dumps(body).encode()))
    replay(rate, updates=updates, duration_s=duration, loop=True, topic=topic)


def run(pairs: int, interval: float, market_rate: float) -> dict:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from ray_platform.services.kafka import KafkaBroker
    from ray_platform.settings import get_settings

    s = get_settings()
    tag = uuid.uuid4().hex[:6]
    topics = {k: f"bench-pos-{k}-{tag}" for k in ("trades", "market", "alerts")}
    KafkaBroker(s).ensure_topics(list(topics.values()), partitions=1)
    duration = pairs * 2 * interval + 20
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    mon = ctx.Process(target=_monitor, args=(topics, duration, ready))
    mon.start()
    ready.wait(120)
    time.sleep(1.0)  # the monitor's consumer has its positions
    feed = None
    if market_rate:
        feed = ctx.Process(target=_market, args=(topics["market"], market_rate, duration))
        feed.start()
        time.sleep(2.0)
    cons = KafkaConsumer(bootstrap_servers=s.kafka_bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topics["alerts"], 0)
    cons.assign([tp])
    cons.seek_to_end(tp)
    cons.position(tp)
    prod = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks=1, linger_ms=0)
    latencies, missing = [], 0
    for i in range(pairs):
        buy = {"trade_id": f"B{i}", "isin": "EQ1", "side": "BUY", "quantity": 300,
               "price": "100", "desk": "EQ_CASH"}  # fmt: skip
        sent = time.time()
        prod.send(topics["trades"], value=json.dumps(buy).encode())
        prod.flush()
        got = None
        deadline = time.time() + 5
        while got is None and time.time() < deadline:
            for batch in cons.poll(timeout_ms=5).values():
                for r in batch:
                    if json.loads(r.value).get("cause") == f"trade B{i}":
                        got = time.time()
        if got is None:
            missing += 1
        else:
            latencies.append(got - sent)
        sell = {**buy, "trade_id": f"S{i}", "side": "SELL"}
        prod.send(topics["trades"], value=json.dumps(sell).encode())
        prod.flush()
        time.sleep(interval)
    prod.close()
    cons.close()
    mon.terminate()
    if feed is not None:
        feed.terminate()
    ms = np.array(latencies) * 1000
    return {
        "market_rate": market_rate,
        "breaches": pairs,
        "alerts_received": len(latencies),
        "missing_after_5s": missing,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "max_ms": round(float(ms.max()), 2) if len(ms) else None,
        "within_1s": int((ms <= 1000).sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.02, help="seconds between trades")
    ap.add_argument("--market-rate", default="0,5000")
    args = ap.parse_args()
    load_start = os.getloadavg()
    runs = []
    for rate in (float(r) for r in args.market_rate.split(",")):
        res = run(args.pairs, args.interval, rate)
        print(json.dumps(res), flush=True)
        runs.append(res)
    out = {
        **provenance(
            "trade-to-alert latency: trades topic -> MonitorLoop -> risk-alerts",
            load_start,
            "kafka",
        ),
        "runs": runs,
        "notes": "monitor, loader and market-data feed in separate processes on the same "
        "2-core machine as the broker and other work; each latency from just before the "
        "breaching trade's send to its alert read back (acks=1, linger 0, poll 20 ms)",
    }
    RESULT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
