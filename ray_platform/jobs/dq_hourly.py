"""The hourly data-quality job: every check of ``dq.yaml`` over the latest ingest date.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.dq_hourly [--date 2026-01-05] [--table silver/trades]

Results go to ``_system/dq_results``; failed checks raise alerts (log, metric, Kafka topic
``dq-alerts``). Prints one ``RESULT {json}`` line. A failed check is the alert's business, not
the job's: the job exits 0 when the checks ran and their alerts were delivered, non-zero when
the checks could not run or an alert could not be delivered. It joins the cluster so the
failure counter is exported as a Ray metric with the cluster's others.
"""

from __future__ import annotations

import argparse
import json
import sys

from ray_platform.errors import PlatformError
from ray_platform.jobs._runtime import _date, connect, run_job


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.dq_hourly")
    parser.add_argument("--date", type=_date, help="ingest date (default: the latest one)")
    parser.add_argument("--table", action="append", help="only this table (repeatable)")
    parser.add_argument("--no-ray", action="store_true", help="do not join the Ray cluster")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the checks and print the RESULT line."""
    from ray_platform.governance import dq
    from ray_platform.settings import get_settings

    args = parse_args(argv)
    settings = get_settings()
    if not args.no_ray:
        connect(settings)
    try:
        day = args.date or dq.latest_ingest_date(settings)
        run = dq.run_checks(day, settings, tables=args.table)
    except PlatformError as exc:
        print(f"dq_hourly failed: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print("RESULT " + json.dumps({"job": "dq_hourly", **run.summary()}, default=str), flush=True)
    return 1 if run.delivery_errors else 0


if __name__ == "__main__":
    sys.exit(run_job("dq_hourly", main))
