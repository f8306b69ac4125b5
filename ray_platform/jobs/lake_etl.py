"""The daily lake job: landing -> bronze -> silver -> gold for one business date or a range.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.lake_etl --date 2026-01-05 [--end 2026-01-09] \
        [--topic T]... [--no-kafka] [--cdc]

Idempotent per date: running a date twice leaves every table with the same rows. Prints one
``RESULT {json}`` line with the counts of every date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.errors import PlatformError
from ray_platform.jobs._runtime import (
    add_source_args,
    connect,
    date_range_parser,
    kafka_topics,
    parse_date_range,
    run_job,
)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[dt.date]]:
    """The job's arguments and the business dates to run."""
    parser = date_range_parser("ray_platform.jobs.lake_etl")
    add_source_args(parser)
    return parse_date_range(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Join the cluster, run every date in order, print the RESULT line."""
    from ray_platform.lake.pipeline import run_lake_day
    from ray_platform.settings import get_settings

    args, days = parse_args(argv)
    settings = get_settings()
    connect(settings)
    results = []
    try:
        for day in days:
            report = run_lake_day(day, settings, kafka_topics=kafka_topics(args), cdc=args.cdc)
            results.append(report.summary())
            print(f"lake_etl {day}: {json.dumps(results[-1])}", flush=True)
    except PlatformError as exc:
        print(f"lake_etl failed: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print("RESULT " + json.dumps({"job": "lake_etl", "days": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_job("lake_etl", main))
