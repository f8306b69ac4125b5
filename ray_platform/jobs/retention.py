"""The retention job: archive, verify and delete every partition past its zone's retention.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.retention --as-of 2026-11-28 [--dry-run]

``--dry-run`` prints the plan (what would go, what legal holds keep) and changes nothing.
Prints one ``RESULT {json}`` line; exits non-zero when a partition could not be archived or
deleted (the others are still done). The work is file copies and Delta commits on the driver:
it needs no Ray workers, so the job does not join the cluster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.errors import PlatformError
from ray_platform.jobs._runtime import _date, run_job


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The job's arguments."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.retention")
    parser.add_argument(
        "--as-of",
        type=_date,
        default=dt.datetime.now(dt.UTC).date(),
        help="date retention counts back from (default: today, UTC)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would go; change nothing")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Plan, apply unless ``--dry-run``, print the RESULT line."""
    from ray_platform.governance import retention
    from ray_platform.settings import get_settings

    args = parse_args(argv)
    settings = get_settings()
    try:
        the_plan = retention.plan(args.as_of, settings)
        if args.dry_run:
            result = {"job": "retention", "dry_run": True, **the_plan.summary()}
        else:
            done = retention.apply(the_plan, settings)
            result = {"job": "retention", "dry_run": False, **done.summary()}
    except PlatformError as exc:
        print(f"retention failed: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print("RESULT " + json.dumps(result, default=str), flush=True)
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(run_job("retention", main))
