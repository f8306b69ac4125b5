"""Running the daily DAG over dates: in this process (the job's driver) or as one Ray job."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from ray_platform.errors import InvalidArgument
from ray_platform.ops.dag import DagResult, DagRunner
from ray_platform.ops.sla import REPORTS_STEP, check_sla
from ray_platform.settings import Settings

log = logging.getLogger(__name__)


def dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from ``start`` to ``end`` inclusive; refuses an end before the start."""
    if end < start:
        raise InvalidArgument(f"end {end} is before start {start}")
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def run_dates(
    days: list[dt.date],
    runner: DagRunner,
    *,
    from_step: str | None = None,
    to_step: str | None = None,
    send: Callable[[dict[str, object]], None] | None = None,
    on_result: Callable[[DagResult], None] | None = None,
) -> list[DagResult]:
    """Run the DAG for each date in order, stopping after the first date that fails.

    With an alert sender ``send`` (:func:`~ray_platform.ops.sla.kafka_alert`), the reports SLA
    is checked for a date after its run when the reports step was reached (run now or earlier)
    or the run failed before it; a backfill of past dates passes none, since every past deadline
    has passed by design.
    """
    out = []
    for day in days:
        result = runner.run(day, from_step=from_step, to_step=to_step)
        if (
            send is not None
            and _reports_due(runner, day)
            and (REPORTS_STEP in result.statuses or not result.ok)
        ):
            rec = check_sla(
                day, result.run_id, runner.runs, now=runner.clock(), send=send,
                metric=_sla_metric(),
            )  # fmt: skip
            result.sla = {"status": rec.status, **rec.detail}
        out.append(result)
        if on_result:
            on_result(result)
        if not result.ok:
            break
    return out


def _reports_due(runner: DagRunner, day: dt.date) -> bool:
    """Whether the DAG has a reports step with something to do on ``day`` (not a weekend)."""
    step = runner.dag.steps.get(REPORTS_STEP)
    return step is not None and (step.applies is None or step.applies(day))


def _sla_metric() -> Callable[[float], None] | None:
    """Sets the ``gbank_dag_sla_missed`` gauge, when the platform's metrics module is present."""
    try:
        from ray_platform import metrics
    except ImportError:  # the metrics module is optional for the DAG: log and Kafka still alert
        return None
    return lambda value: metrics.set_gauge("gbank_dag_sla_missed", value, dag="daily")


def submit_backfill(
    start: dt.date,
    end: dt.date,
    settings: Settings,
    *,
    from_step: str | None = None,
    to_step: str | None = None,
    sla: bool = False,
    extra: tuple[str, ...] = (),
) -> object:
    """Submit ``python -m ray_platform.jobs.daily`` for ``start..end`` as one Ray job.

    Returns the finished :class:`~ray_platform.services.jobs.JobRun`; raises ``JobFailed`` when
    a date failed (the job stops there, the later dates are not run).
    """
    from ray_platform.services.jobs import submit_job

    dates(start, end)
    args = ["--date", start.isoformat(), "--end", end.isoformat(), *extra]
    if from_step:
        args += ["--from", from_step]
    if to_step:
        args += ["--to", to_step]
    if not sla:
        args.append("--no-sla")
    return submit_job("ray_platform.jobs.daily", *args, settings=settings)
