"""Regulatory reports: Basel III capital, MiFID II transaction reports, SOX control evidence.

Each report reads the lake for one business date and writes its files, plus ``summary.json``
and a small HTML page, under ``<lake>/reports/<name>/<date>/``; each run adds a row to
``_system/report_runs`` (name, date, seconds, files, status) and a lineage event.

>>> result = run_report("basel3", "2026-01-05", settings)  # doctest: +SKIP
>>> result.summary["ratios"]["cet1"]["ratio"]  # doctest: +SKIP
0.1532
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from ray_platform import lineage
from ray_platform.errors import InvalidArgument
from ray_platform.lake.bronze import new_run_id
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.reports import basel, mifid, sox
from ray_platform.reports._base import REPORT_RUNS as REPORT_RUNS
from ray_platform.reports._base import ReportContext
from ray_platform.reports._base import ReportResult as ReportResult
from ray_platform.reports.html import Section, page
from ray_platform.settings import Settings, get_settings

__all__ = ["REPORTS", "REPORT_RUNS", "ReportResult", "run_daily_reports", "run_report"]

Builder = Callable[[ReportContext], tuple[dict[str, Any], list[Section]]]

REPORTS: dict[str, Builder] = {
    "basel3": basel.build,
    "mifid2": mifid.build,
    "sox": sox.build,
}
"""Report name to the function that builds it."""

TITLES = {
    "basel3": "Basel III capital adequacy",
    "mifid2": "MiFID II transaction reports (RTS 22)",
    "sox": "SOX control evidence",
}


def _as_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"not a YYYY-MM-DD date: {value!r}") from None


def run_report(
    name: str,
    business_date: str | dt.date,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    raise_on_error: bool = True,
) -> ReportResult:
    """Build report ``name`` for ``business_date``; the run is recorded even when it fails."""
    if name not in REPORTS:
        raise InvalidArgument(f"unknown report {name!r}; valid: {', '.join(REPORTS)}")
    s = settings or get_settings()
    day = _as_date(business_date)
    run_id = run_id or new_run_id()
    ctx = ReportContext(name, day, s, run_id)
    result = ReportResult(name, day.isoformat(), run_id)
    try:
        result.summary, sections = REPORTS[name](ctx)
        result.seconds = ctx.elapsed()
        subtitle = (
            f"Business date {day}, run {run_id}, computed in {result.seconds:.2f} s. "
            f"Files: {', '.join(p.rsplit('/', 1)[-1] for p in ctx.files)}."
        )
        ctx.write("summary.html", page(f"{TITLES[name]} - {day}", subtitle, sections))
        ctx.write(
            "summary.json",
            json.dumps(result.summary | {"seconds": result.seconds}, indent=2, default=str),
        )
    except Exception as exc:
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
        if raise_on_error:
            _record(ctx, result)
            raise
    finally:
        ctx.close()
    _record(ctx, result)
    return result


def _record(ctx: ReportContext, result: ReportResult) -> None:
    from ray_platform.reports._base import record_run

    result.seconds = ctx.elapsed()
    result.files = list(ctx.files)
    record_run(ctx.store, result)
    event = RunEvent(
        result.run_id,
        "reports",
        f"report.{result.name}",
        "COMPLETE" if result.status == "OK" else "FAIL",
        inputs=tuple(ctx.inputs.values()),
        outputs=tuple(DatasetRef(p) for p in result.files),
        business_date=result.business_date,
    )
    lineage.record([event], ctx.store)


def run_daily_reports(
    business_date: str | dt.date, settings: Settings | None = None
) -> dict[str, Any]:
    """Run every report for the date (one failing does not stop the others)."""
    s = settings or get_settings()
    start = time.perf_counter()
    run_id = new_run_id()
    results = [
        run_report(n, business_date, s, run_id=run_id, raise_on_error=False) for n in REPORTS
    ]
    return {
        "business_date": _as_date(business_date).isoformat(),
        "run_id": run_id,
        "seconds": round(time.perf_counter() - start, 3),
        "ok": all(r.status == "OK" for r in results),
        "reports": {r.name: r.as_dict() for r in results},
    }
