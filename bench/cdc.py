"""Debezium CDC: commit-to-consumer latency and sustained change rate; ``bench/results/cdc.json``.

Uses the PostgreSQL, Connect worker and broker of ``GBANK_HOME`` (starting, and afterwards
stopping, those that are not running). One customer of its own is updated ``--single`` times,
one commit each, timing each commit to its arrival at a consumer of ``cdc.core.customers``;
then ``--burst`` commits go back to back and the end-to-end rate is the burst over the time to
the last arrival. The customer is deleted at the end.

    GBANK_HOME=.gbank/test .venv/bin/python bench/cdc.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from machine import machine  # bench/ is on sys.path when run as a script

from ray_platform.generator.core_db import CoreBankingDB
from ray_platform.generator.customers import new_customers
from ray_platform.services.connect import ConnectWorker
from ray_platform.services.postgres import PostgresServer
from ray_platform.settings import get_settings

RESULT = Path(__file__).resolve().parent / "results" / "cdc.json"
TOPIC = "cdc.core.customers"


class _Arrivals:
    """A consumer from the topic's current end that keeps one customer's events."""

    def __init__(self, customer_id: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.customer_id = customer_id
        self.consumer = KafkaConsumer(bootstrap_servers=get_settings().kafka_bootstrap)
        parts = self.consumer.partitions_for_topic(TOPIC)
        tps = [TopicPartition(TOPIC, p) for p in sorted(parts)]
        self.consumer.assign(tps)
        self.consumer.seek_to_end()
        for tp in tps:
            self.consumer.position(tp)  # resolve the end now, before any change is made

    def wait(self, n: int, timeout: float = 120.0) -> list[float]:
        """Arrival times of the next ``n`` events of the customer."""
        got: list[float] = []
        deadline = time.time() + timeout
        while len(got) < n and time.time() < deadline:
            for records in self.consumer.poll(timeout_ms=50).values():
                for r in records:
                    v = json.loads(r.value)
                    if (v["after"] or v["before"])["customer_id"] == self.customer_id:
                        got.append(time.time())
        if len(got) < n:
            raise TimeoutError(f"{len(got)} of {n} changes arrived within {timeout:.0f} s")
        return got


def main() -> None:
    """Run the benchmark and write the result file."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--single", type=int, default=200, help="updates timed one by one")
    ap.add_argument("--burst", type=int, default=3000, help="updates committed back to back")
    args = ap.parse_args()
    info = machine("psycopg", "kafka")
    pg, worker = PostgresServer(), ConnectWorker()
    t = time.monotonic()
    pg_started = pg.start()
    pg_s = time.monotonic() - t
    t = time.monotonic()
    worker_started = worker.start()
    worker_s = time.monotonic() - t
    db = CoreBankingDB(pg.dsn())
    cust = new_customers(1, 1, dt.date(2026, 1, 5), True, np.random.default_rng(1))[0]
    cust["customer_id"] = "B" + uuid.uuid4().hex[:8]
    arrivals = _Arrivals(cust["customer_id"])
    try:
        db.insert_customers([cust])
        arrivals.wait(1)
        cur: dict[str, Any] = dict(cust)
        lat = []
        for i in range(args.single):
            nxt = {**cur, "postcode": f"S{i:05d}"}
            db.apply_events([{"op": "u", "before": cur, "after": nxt}])
            t0, cur = time.time(), nxt
            lat.append((arrivals.wait(1)[0] - t0) * 1000)
        events = []
        for i in range(args.burst):
            nxt = {**cur, "postcode": f"B{i:05d}"}
            events.append({"op": "u", "before": cur, "after": nxt})
            cur = nxt
        t0 = time.time()
        db.apply_events(events)
        db_s = time.time() - t0
        last = arrivals.wait(args.burst)[-1]
    finally:
        with pg.connect() as con:
            con.execute("DELETE FROM core.customers WHERE customer_id = %s", (cust["customer_id"],))
        arrivals.consumer.close()
        if worker_started:
            worker.stop()
        if pg_started:
            pg.stop()
    q = statistics.quantiles(lat, n=100)
    result = {
        "machine": info,
        "postgres_start_s": round(pg_s, 2),
        "postgres_started_here": pg_started,
        "connect_start_s": round(worker_s, 2),
        "connect_started_here": worker_started,
        "single_updates": args.single,
        "commit_to_consumer_ms": {"p50": round(q[49], 1), "p99": round(q[98], 1)},
        "burst_updates": args.burst,
        "burst_database_commits_per_s": round(args.burst / db_s),
        "burst_end_to_end_changes_per_s": round(args.burst / (last - t0)),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
