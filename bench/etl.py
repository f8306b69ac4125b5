"""Benchmark: card transactions bronze -> silver -> gold through Ray Data, against two baselines.

Run as ``.venv/bin/python bench/etl.py`` (the committed result: 54,400 customers x 30 days,
about 5.0 million card transactions); ``--customers 2000 --days 3`` for a quick run. Writes
``bench/results/etl.json`` (``--out`` to change).

Untimed preparation, cached under ``.gbank/bench/c<customers>-d<days>/``: the generator's
landing zone (bad_rate 0.01, 5 days of market history), bronze for every day, and every silver
table except card transactions. Then, timed, in this order:

1. ``ray``: silver card transactions of every day (``run_silver``, Ray Data on a local Ray
   started here with 2 CPUs), then gold of every day (``run_gold``);
2. ``duckdb``: the same transform as one DuckDB SQL script over the same bronze files, and the
   same gold queries over its Parquet (``bench/etl_duckdb.py``);
3. ``pyarrow``: the floor - the bronze files read as text lines by pyarrow and written as zstd
   Parquet, no transform (``pyarrow.json`` cannot read this data at all: the bad rows change a
   column's type, and one malformed line fails the whole file; the error is recorded).

Peak memory is sampled every 0.1 s as the sum of RSS over this process and all its
descendants (the Ray raylet, GCS and workers), so shared pages (the object store) count once
per process that maps them: an upper bound.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from machine import machine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake import layout
from ray_platform.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
START = dt.date(2026, 1, 5)
REFERENCE = [
    "fx_rates", "instruments", "counterparties", "prices", "rates", "implied_vols", "indicators",
    "customers", "customer_changes", "accounts", "cards", "interactions", "trades", "positions",
]  # fmt: skip


class PeakRss:
    """Peak summed RSS of this process tree, sampled in a thread."""

    def __init__(self) -> None:
        self.peak = self.driver_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while True:  # one sample before the first wait, so a short stage has one too
            try:
                own = me.memory_info().rss
                total = own + sum(_rss(p) for p in me.children(recursive=True))
                self.peak, self.driver_peak = max(self.peak, total), max(self.driver_peak, own)
            except psutil.Error:
                pass  # a process ended mid-sample; the next sample counts
            if self._stop.wait(0.1):
                return

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rss(p: psutil.Process) -> int:
    try:
        return p.memory_info().rss  # type: ignore[no-any-return]
    except psutil.Error:
        return 0


def stage(name: str, rows: int, fn: Callable[[], Any], results: dict[str, Any]) -> Any:
    """Time ``fn`` with peak memory; record it under ``name``."""
    with PeakRss() as mem:
        started = time.perf_counter()
        value = fn()
        wall = time.perf_counter() - started
    results[name] = {
        "wall_s": round(wall, 2),
        "rows": rows,
        "rows_per_s": round(rows / wall) if rows else None,
        "peak_rss_tree_mib": round(mem.peak / 2**20),
        "peak_rss_driver_mib": round(mem.driver_peak / 2**20),
        # Other work on the host shows here: a 1-minute load above 2 means shared CPUs.
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }
    print(name, json.dumps(results[name]), flush=True)
    return value


def prepare(root: Path, config: GeneratorConfig) -> list[dt.date]:
    """Landing zone, bronze and the reference silver tables, built once (untimed)."""
    from ray_platform.lake.bronze import land_landing_date
    from ray_platform.lake.silver import run_silver

    days = [START + dt.timedelta(days=i) for i in range(config.days)]
    settings = _settings(root)
    if not (root / "landing" / "_manifest").exists():
        generate_bank(str(root / "landing"), config)
    marker = root / "prepared.json"
    done = set(json.loads(marker.read_text())) if marker.exists() else set()
    for day in days:
        if day.isoformat() in done:
            continue
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day, settings, tables=REFERENCE, use_ray=False)
        done.add(day.isoformat())
        marker.write_text(json.dumps(sorted(done)))
    return days


def _settings(root: Path) -> Any:
    return load_settings(home=root / "home", landing_uri=(root / "landing").as_uri())


def reset(root: Path) -> None:
    """Remove what the timed stages write, so every run starts from the same lake."""
    lake = root / "home" / "lake"
    for path in [
        lake / layout.silver_table("card_transactions"),
        lake / layout.quarantine_table("card_transactions"),
        lake / layout.GOLD,
        root / "duckdb",
        root / "pyarrow",
    ]:
        shutil.rmtree(path, ignore_errors=True)


def bronze_files(root: Path, days: list[dt.date]) -> list[str]:
    """The card-transaction bronze files of every day."""
    lake = root / "home" / "lake"
    return [str(lake / layout.bronze_file("cards", d, "card_transactions.jsonl")) for d in days]


def run_ray(root: Path, days: list[dt.date], results: dict[str, Any], store_mib: int) -> dict:
    """Silver then gold for every day, through the platform's own pipeline."""
    import ray

    from ray_platform.lake.gold import run_gold
    from ray_platform.lake.silver import run_silver

    settings = _settings(root)
    counts = {"read": 0, "written": 0, "quarantined": 0, "duplicates_dropped": 0}

    def start() -> None:
        # address="local": a private Ray of this process, never another cluster on the host.
        ray.init(address="local", num_cpus=2, object_store_memory=store_mib * 2**20,
                 include_dashboard=False, log_to_driver=False)  # fmt: skip

    def silver() -> None:
        for day in days:
            t = run_silver(day, settings, tables=["card_transactions"]).tables
            for k in counts:
                counts[k] += getattr(t["card_transactions"], k)

    def gold() -> int:
        return sum(r.rows for d in days for r in run_gold(d, settings).tables.values())

    stage("ray_init", 0, start, results)
    try:
        stage("ray_silver", 0, silver, results)
        rows = counts["read"]
        wall = results["ray_silver"]["wall_s"]
        results["ray_silver"].update(rows=rows, rows_per_s=round(rows / wall), counts=counts)
        gold_rows = stage("ray_gold", rows, gold, results)
        results["ray_gold"]["gold_rows"] = gold_rows
    finally:
        ray.shutdown()
    return counts


def run_duckdb(root: Path, days: list[dt.date], rows: int, results: dict[str, Any]) -> None:
    """The DuckDB peer: one SQL script for silver, the gold queries over its Parquet."""
    import duckdb

    from bench.etl_duckdb import run_gold_peer, run_silver_peer
    from ray_platform.tables import table_store

    settings = _settings(root)
    store = table_store(settings)
    out = root / "duckdb"
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"threads": 2})
    for name in ["cards", "accounts", "customers", "customer_changes", "fx_rates", "trades",
                 "positions", "instruments", "prices"]:  # fmt: skip
        con.register(name, store.dataset(layout.silver_table(name)))
    files = bronze_files(root, days)
    rc = settings.reporting_currency
    peer = lambda: run_silver_peer(con, CARD_TRANSACTIONS, files, out, rc)  # noqa: E731
    counts = stage("duckdb_silver", rows, peer, results)
    results["duckdb_silver"]["counts"] = counts
    gold_rows = stage("duckdb_gold", rows, lambda: run_gold_peer(con, days, out, rc), results)
    results["duckdb_gold"]["gold_rows"] = gold_rows
    con.close()


def run_pyarrow(root: Path, days: list[dt.date], rows: int, results: dict[str, Any]) -> None:
    """The floor: bronze text lines to zstd Parquet with pyarrow, no transform."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    files = bronze_files(root, days)
    try:
        pj.read_json(files[0])
        results["pyarrow_json_read"] = "ok"
    except pa.ArrowInvalid as exc:
        results["pyarrow_json_read"] = f"fails on the bronze data: {exc}"
    out = root / "pyarrow"
    out.mkdir(parents=True, exist_ok=True)

    def copy() -> None:
        for i, f in enumerate(files):
            table = pcsv.read_csv(
                f,
                read_options=pcsv.ReadOptions(column_names=["line"], block_size=1 << 26),
                parse_options=pcsv.ParseOptions(delimiter="\x01", quote_char=False),
                convert_options=pcsv.ConvertOptions(column_types={"line": pa.string()}),
            )
            pq.write_table(table, out / f"part-{i:03}.parquet", compression="zstd")

    stage("pyarrow_floor", rows, copy, results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=54_400, help="initial customers")
    ap.add_argument("--days", type=int, default=30, help="business days")
    ap.add_argument("--object-store-mib", type=int, default=1536, help="Ray object store")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "etl.json")
    args = ap.parse_args()
    config = GeneratorConfig(customers=args.customers, days=args.days, seed=42, bad_rate=0.01,
                             history_days=5)  # fmt: skip
    root = REPO / ".gbank" / "bench" / f"c{args.customers}-d{args.days}"
    started = time.perf_counter()
    days = prepare(root, config)
    prepared_s = time.perf_counter() - started
    reset(root)
    results: dict[str, Any] = {}
    result: dict[str, Any] = {
        "benchmark": "etl",
        "command": " ".join([".venv/bin/python", "bench/etl.py", *sys.argv[1:]]),
        "config": config.model_dump(mode="json"),
        "ray": {"num_cpus": 2, "object_store_mib": args.object_store_mib, "dashboard": False},
        "machine": machine("ray", "duckdb", "pyarrow", "deltalake"),
        "prepare_untimed_s": round(prepared_s, 1),
        "bronze_bytes": sum(os.path.getsize(f) for f in bronze_files(root, days)),
        "stages": results,
    }
    counts = run_ray(root, days, results, args.object_store_mib)
    rows = counts["read"]
    run_duckdb(root, days, rows, results)
    run_pyarrow(root, days, rows, results)
    ray_total = results["ray_silver"]["wall_s"] + results["ray_gold"]["wall_s"]
    duck_total = results["duckdb_silver"]["wall_s"] + results["duckdb_gold"]["wall_s"]
    result["card_transactions"] = rows
    result["totals_s"] = {
        "ray_silver_gold": round(ray_total, 2),
        "ray_including_init": round(ray_total + results["ray_init"]["wall_s"], 2),
        "duckdb_silver_gold": round(duck_total, 2),
        "pyarrow_floor": results["pyarrow_floor"]["wall_s"],
    }
    result["ratios"] = {
        "ray_over_duckdb": round(ray_total / duck_total, 2),
        "ray_over_duckdb_silver_only": round(
            results["ray_silver"]["wall_s"] / results["duckdb_silver"]["wall_s"], 2
        ),
        "ray_over_pyarrow_floor": round(ray_total / results["pyarrow_floor"]["wall_s"], 2),
        "ray_silver_over_pyarrow_floor": round(
            results["ray_silver"]["wall_s"] / results["pyarrow_floor"]["wall_s"], 2
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"totals_s": result["totals_s"], "ratios": result["ratios"]}, indent=2))


if __name__ == "__main__":
    main()
