"""The daily lake job: landing -> bronze -> silver -> gold for one business date or a range.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.lake_etl --date 2026-01-05 [--end 2026-01-09]

Idempotent per date: running a date twice leaves every table with the same rows. Prints one
``RESULT {json}`` line with the counts of every date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.errors import PlatformError
from ray_platform.jobs._runtime import connect


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.lake_etl")
    parser.add_argument("--date", type=_date, required=True, help="business date (first)")
    parser.add_argument("--end", type=_date, help="last business date of a backfill")
    parser.add_argument(
        "--topic", default="transactions", help="Kafka topic of card transactions to land"
    )
    parser.add_argument("--no-kafka", action="store_true", help="skip landing the Kafka topic")
    args = parser.parse_args(argv)
    if args.end and args.end < args.date:
        parser.error("--end must not be before --date")
    return args


def main(argv: list[str] | None = None) -> int:
    """Join the cluster, run every date in order, print the RESULT line."""
    from ray_platform.lake.pipeline import run_lake_day
    from ray_platform.settings import get_settings

    args = parse_args(argv)
    settings = get_settings()
    connect(settings)
    last = args.end or args.date
    days = [args.date + dt.timedelta(days=i) for i in range((last - args.date).days + 1)]
    results = []
    try:
        for day in days:
            report = run_lake_day(day, settings, kafka_topic=None if args.no_kafka else args.topic)
            results.append(report.summary())
            print(f"lake_etl {day}: {json.dumps(results[-1])}", flush=True)
    except PlatformError as exc:
        print(f"lake_etl failed: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print("RESULT " + json.dumps({"job": "lake_etl", "days": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
