"""The daily warehouse load for one business date or a range.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.warehouse_load --date 2026-01-05 [--end 2026-01-09]

Idempotent per date; a date whose facts do not reconcile with silver fails the job. Records the
lineage events of every date and prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.errors import PlatformError
from ray_platform.jobs._runtime import date_range_parser, parse_date_range, run_job


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[dt.date]]:
    """The job's arguments and the business dates to load."""
    parser = date_range_parser("ray_platform.jobs.warehouse_load")
    parser.add_argument("--force", action="store_true", help="rebuild facts even if unchanged")
    return parse_date_range(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Load every date in order, record lineage, print the RESULT line."""
    from ray_platform import lineage
    from ray_platform.settings import get_settings
    from ray_platform.tables import table_store
    from ray_platform.warehouse.load import load_warehouse

    args, days = parse_args(argv)
    settings = get_settings()
    results = []
    try:
        for day in days:
            report = load_warehouse(day, settings, force=args.force)
            lineage.record(report.run_events(), table_store(settings))
            results.append(report.summary())
            print(f"warehouse_load {day}: {json.dumps(results[-1])}", flush=True)
    except PlatformError as exc:
        print(f"warehouse_load failed: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print("RESULT " + json.dumps({"job": "warehouse_load", "days": results}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_job("warehouse_load", main))
