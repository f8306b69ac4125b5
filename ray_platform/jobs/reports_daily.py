"""The daily regulatory reports job: Basel III, MiFID II and SOX for one business date.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.reports_daily --date 2026-01-05

Prints one ``RESULT {json}`` line with each report's status, files and seconds, and the total;
exits non-zero when any report failed (the others still run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.jobs._runtime import run_job


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run every report for ``--date`` and print the RESULT line."""
    from ray_platform.reports import run_daily_reports
    from ray_platform.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.reports_daily")
    parser.add_argument("--date", type=_date, required=True, help="business date")
    args = parser.parse_args(argv)
    out = run_daily_reports(args.date, get_settings())
    result = {
        "job": "reports_daily",
        "business_date": out["business_date"],
        "run_id": out["run_id"],
        "seconds": out["seconds"],
        "ok": out["ok"],
        "reports": {
            n: {
                "status": r["status"],
                "seconds": r["seconds"],
                "files": r["files"],
                "error": r["error"],
            }
            for n, r in out["reports"].items()
        },
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(run_job("reports_daily", main))
