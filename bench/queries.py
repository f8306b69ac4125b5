"""Time the saved analyst queries and the warehouse load on a generated lake.

Run as ``.venv/bin/python bench/queries.py [--customers 5000 --days 10 --runs 5]``; writes
``bench/results/queries.json`` (median seconds per query over ``--runs`` runs, each in a fresh
read-only session as ``gbank sql`` opens one, plus each day's load time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.settings import load_settings
from ray_platform.warehouse import sql
from ray_platform.warehouse.load import load_warehouse

RESULT = Path(__file__).parent / "results" / "queries.json"


def main() -> None:
    """Build the lake and the warehouse, time every saved query, write the JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gbank-bench-queries-"))
    settings = load_settings(home=home)
    start = dt.date(2026, 1, 5)
    generate_bank(
        settings.landing_uri, GeneratorConfig(customers=args.customers, days=args.days, seed=42)
    )
    loads = {}
    for i in range(args.days):
        day = start + dt.timedelta(days=i)
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day.isoformat(), settings, use_ray=False)
        run_gold(day, settings)
        t = time.perf_counter()
        load_warehouse(day, settings)
        loads[day.isoformat()] = round(time.perf_counter() - t, 3)
        print(f"loaded {day} in {loads[day.isoformat()]}s", flush=True)
    t = time.perf_counter()
    load_warehouse(start + dt.timedelta(days=args.days - 1), settings)
    rerun = round(time.perf_counter() - t, 3)
    queries = {}
    for q in sql.saved_queries().values():
        times, rows = [], 0
        for _ in range(args.runs):
            t = time.perf_counter()
            rows = sql.query(q.sql, settings).num_rows
            times.append(time.perf_counter() - t)
        queries[q.name] = {
            "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4),
            "rows": rows,
        }
        print(f"{q.name:<32} {queries[q.name]}", flush=True)
    facts = sql.query("SELECT count(*) AS n FROM warehouse.fact_transactions", settings)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(
        json.dumps(
            {
                "command": f".venv/bin/python bench/queries.py --customers {args.customers} "
                f"--days {args.days} --runs {args.runs}",
                "machine": machine("duckdb", "pyarrow", "deltalake"),
                "customers": args.customers,
                "days": args.days,
                "runs": args.runs,
                "fact_transactions_rows": facts.column("n")[0].as_py(),
                "load_seconds_per_day": loads,
                "rerun_load_seconds": rerun,
                "note": "each query timing includes opening the read-only session "
                "(registering every "
                "table's dataset), as every gbank sql call does",
                "queries": queries,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
