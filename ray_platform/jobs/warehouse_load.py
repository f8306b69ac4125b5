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


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.warehouse_load")
    parser.add_argument("--date", type=_date, required=True, help="business date (first)")
    parser.add_argument("--end", type=_date, help="last business date of a backfill")
    parser.add_argument("--force", action="store_true", help="rebuild facts even if unchanged")
    args = parser.parse_args(argv)
    if args.end and args.end < args.date:
        parser.error("--end must not be before --date")
    return args


def main(argv: list[str] | None = None) -> int:
    """Load every date in order, record lineage, print the RESULT line."""
    from ray_platform import lineage
    from ray_platform.settings import get_settings
    from ray_platform.tables import table_store
    from ray_platform.warehouse.load import load_warehouse

    args = parse_args(argv)
    settings = get_settings()
    last = args.end or args.date
    days = [args.date + dt.timedelta(days=i) for i in range((last - args.date).days + 1)]
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
    sys.exit(main())
