"""The daily features job: silver -> feature tables -> ``feast apply`` -> online store.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.features --date 2026-01-25 [--start 2026-01-05]

Computes the feature tables for ``--start..--date`` (default: the date alone) in a Ray task,
applies the Feast definitions and materialises incrementally into the configured online store
(SQLite by default, Redis with ``GBANK_ONLINE_STORE=redis``). Prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.jobs._runtime import connect, run_job


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, compute features on the cluster, apply, materialise, print RESULT."""
    import ray

    from features.engineering import run_features
    from features.online import online_store_for
    from ray_platform.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.features")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=None)
    parser.add_argument("--no-materialize", action="store_true")
    args = parser.parse_args(argv)
    start = args.start or args.date
    settings = get_settings()
    connect(settings)
    task = ray.remote(num_cpus=1)(lambda: run_features(start, args.date, settings)[0])
    run = ray.get(task.remote())
    store = online_store_for(settings)
    store.apply()
    if not args.no_materialize:
        store.materialize(dt.datetime.combine(args.date + dt.timedelta(days=1), dt.time(),
                                              tzinfo=dt.UTC))  # fmt: skip
    result = {"job": "features", "online_store": store.kind, **run.summary()}
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(run_job("features", main))
