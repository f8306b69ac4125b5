"""Benchmark: generate a bank with at least a million card transactions.

Run as ``.venv/bin/python bench/generator.py``; writes ``bench/results/generator.json``.
"""

from __future__ import annotations

import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from machine import machine

from ray_platform.generator import GeneratorConfig, generate_bank

CONFIG = GeneratorConfig(customers=12_000, days=30, seed=42, bad_rate=0.0)
RESULT = Path(__file__).parent / "results" / "generator.json"


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="gbank-bench-"))
    try:
        started = time.perf_counter()
        report = generate_bank(str(out), CONFIG)
        wall = time.perf_counter() - started
        size = sum(f.bytes for f in report.files)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    txns = report.card_transactions
    result = {
        "benchmark": "generator",
        "command": ".venv/bin/python bench/generator.py",
        "config": CONFIG.model_dump(mode="json"),
        "machine": machine(),
        "wall_s": round(wall, 2),
        "card_transactions": txns,
        "card_transactions_per_s": round(txns / wall),
        "records_total": sum(report.records.values()),
        "records_per_s": round(sum(report.records.values()) / wall),
        "files": len(report.files),
        "bytes_written": size,
        "fraud_rate": round(report.fraud_transactions / txns, 5),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    assert txns >= 1_000_000, "the benchmark must generate at least a million transactions"


if __name__ == "__main__":
    main()
