"""The daily DAG as one Ray job: ingest, silver, gold, warehouse, risk, reports, features, retrain.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.daily --date 2026-01-07 [--end D2] [--from STEP] [--to STEP]

Steps run in dependency order with retries for transient failures, and each step's run is
recorded in ``_system/dag_runs``. Resubmitting a date continues after its succeeded steps;
``--from STEP`` reruns STEP and every later step. After the reports (or a failure before them)
the reports SLA is checked and a miss alerts on ``ops-alerts``. A range stops at the first date
that fails. Prints one ``RESULT {json}`` line; exits 1 when a step failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys

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
    parser = date_range_parser("ray_platform.jobs.daily")
    parser.add_argument("--from", dest="from_step", help="rerun this step and every later one")
    parser.add_argument("--to", dest="to_step", help="stop after this step")
    add_source_args(parser)
    parser.add_argument("--no-sla", action="store_true", help="do not check the reports SLA")
    parser.add_argument("--risk-paths", type=int, default=20_000, help="Monte Carlo paths")
    parser.add_argument("--training-days", type=int, default=None, help="retrain window")
    return parse_date_range(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Join the cluster, run the DAG for every date, print the RESULT line."""
    from ray_platform.errors import PlatformError
    from ray_platform.ops.backfill import run_dates
    from ray_platform.ops.daily import DailyOptions, daily_dag, daily_runner, preload
    from ray_platform.ops.sla import kafka_alert
    from ray_platform.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args, days = parse_args(argv)
    dag = daily_dag()
    try:
        dag.check(args.from_step)
        dag.check(args.to_step)
    except PlatformError as exc:
        print(f"daily: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    settings = get_settings()
    preload()
    connect(settings)
    options = DailyOptions(
        settings,
        kafka_topics=kafka_topics(args),
        cdc=args.cdc,
        risk_paths=args.risk_paths,
        training_days=args.training_days,
    )

    def show(result: object) -> None:
        print(f"daily {json.dumps(result.summary(), default=str)}", flush=True)  # type: ignore[attr-defined]

    try:
        results = run_dates(
            days, daily_runner(options), from_step=args.from_step, to_step=args.to_step,
            send=None if args.no_sla else kafka_alert(settings), on_result=show,
        )  # fmt: skip
    except PlatformError as exc:
        print(f"daily: error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    ok = all(r.ok for r in results) and len(results) == len(days)
    summary = {"job": "daily", "ok": ok, "days": [r.summary() for r in results]}
    print("RESULT " + json.dumps(summary, default=str), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_job("daily", main))
