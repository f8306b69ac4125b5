"""A small DAG runner: steps in dependency order, retries with backoff, a run record per step.

Why not Airflow or Dagster: the whole day runs as one Ray job (one driver, one ``ray job
submit``), so the scheduler only needs ordering, retries, run records and resume; those fit in
this module and keep the job's state in the lake, next to the tables it describes.

Resume rules (``docs/runbooks/daily-dag.md``):

- a plain run of a date skips every step whose latest record for that date is ``succeeded``
  (or ``not_applicable``) and runs the rest in order, so resubmitting a killed or failed run
  continues where it stopped; the steps are idempotent, so rerunning the interrupted one is safe;
- ``from_step`` reruns that step and every step after it in the order, succeeded or not; the
  steps before it must already have succeeded for the date, otherwise the run is refused;
- ``to_step`` stops after that step.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ray_platform.errors import ConfigError, InvalidArgument, PlatformError, ServiceError
from ray_platform.ops.runs import DONE, RunLog, StepRecord

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (ServiceError, ConnectionError, TimeoutError)
"""Failures worth retrying: a service or network that may answer next time. A
:class:`~ray_platform.errors.DataQualityError` (or any other error) is not retried."""


class StepFailed(PlatformError, RuntimeError):
    """A step finished but reports failure (for example a regulatory report that failed)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step is tried and how long to wait between tries (exponential backoff)."""

    attempts: int = 3
    backoff_s: float = 10.0
    factor: float = 2.0
    transient: tuple[type[BaseException], ...] = TRANSIENT

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff_s * self.factor ** (attempt - 1)


@dataclass(frozen=True)
class StepContext:
    """What a step function gets: the business date, the DAG run's id and its options."""

    business_date: dt.date
    run_id: str
    options: object = None


@dataclass(frozen=True)
class StepOutput:
    """What a step reports back: rows written and anything worth keeping in the run record."""

    rows: int | None = None
    detail: dict[str, object] = field(default_factory=dict)
    tables: tuple[str, ...] = ()  # tables written, when only the run knows which


@dataclass(frozen=True)
class Step:
    """One node of the DAG.

    ``tables`` are the lake tables the step writes: their versions after the step go into the
    run record, so a run can be tied to exactly the data it produced. ``applies`` says whether
    the step has anything to do on a date (risk and reports only run on weekdays); a step that
    does not apply is recorded ``not_applicable`` and counts as done for its dependants.
    """

    name: str
    fn: Callable[[StepContext], StepOutput | None]
    depends_on: tuple[str, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    tables: tuple[str, ...] = ()
    applies: Callable[[dt.date], bool] | None = None


class Dag:
    """Steps and their dependencies; :meth:`order` is a topological order."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = {s.name: s for s in steps}
        if len(self.steps) != len(steps):
            raise ConfigError("two DAG steps share a name")
        for s in steps:
            missing = [d for d in s.depends_on if d not in self.steps]
            if missing:
                raise ConfigError(f"step {s.name!r} depends on unknown step(s) {missing}")
        self._order = self._topological([s.name for s in steps])

    def _topological(self, declared: list[str]) -> list[str]:
        # Kahn's algorithm, taking ready steps in declaration order so the order is stable.
        done: list[str] = []
        left = list(declared)
        while left:
            ready = [n for n in left if all(d in done for d in self.steps[n].depends_on)]
            if not ready:
                raise ConfigError(f"the DAG has a cycle among {left}")
            done.append(ready[0])
            left.remove(ready[0])
        return done

    def order(self) -> list[str]:
        """Every step name, each after all of its dependencies."""
        return list(self._order)

    def check(self, name: str | None) -> str | None:
        """``name`` if it is a step; raises :class:`InvalidArgument` naming the steps if not."""
        if name is not None and name not in self.steps:
            raise InvalidArgument(f"no step {name!r}; steps: {', '.join(self._order)}")
        return name


@dataclass
class DagResult:
    """What one run of one date did: the status of every step it looked at."""

    business_date: dt.date
    run_id: str
    statuses: dict[str, str] = field(default_factory=dict)
    records: list[StepRecord] = field(default_factory=list)
    sla: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        """Whether no step failed or was blocked."""
        return all(s not in ("failed", "blocked") for s in self.statuses.values())

    def summary(self) -> dict[str, object]:
        """JSON-ready: date, run id, status per step, rows per step, the SLA verdict."""
        return {
            "business_date": self.business_date.isoformat(),
            "run_id": self.run_id,
            "ok": self.ok,
            "steps": self.statuses,
            "rows": {r.step: r.rows for r in self.records if r.status == "succeeded"},
            "sla": self.sla,
        }


def new_run_id(business_date: dt.date) -> str:
    """A DAG run id: the date, UTC start time and a random suffix."""
    return f"dag-{business_date}-{dt.datetime.now(dt.UTC):%H%M%S}-{uuid.uuid4().hex[:6]}"


def now_utc() -> dt.datetime:
    """The current time, timezone-aware (the default clock; tests inject their own)."""
    return dt.datetime.now(dt.UTC)


class DagRunner:
    """Runs a :class:`Dag` for one business date against a :class:`RunLog`.

    ``sleep`` and ``clock`` are injected so tests run retries and SLA checks without waiting;
    ``versions`` maps a table name to its current version (``TableStore.version``) or ``None``.
    """

    def __init__(
        self,
        dag: Dag,
        runs: RunLog,
        *,
        versions: Callable[[str], int | None] = lambda _name: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], dt.datetime] = now_utc,
        options: object = None,
    ) -> None:
        self.dag, self.runs, self.versions = dag, runs, versions
        self.sleep, self.clock, self.options = sleep, clock, options

    def plan(
        self, business_date: dt.date, from_step: str | None = None, to_step: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """The steps to run, in order, and the steps already done (name -> status)."""
        order = self.dag.order()
        first = order.index(self.dag.check(from_step)) if from_step else 0
        last = order.index(self.dag.check(to_step)) if to_step else len(order) - 1
        if last < first:
            raise InvalidArgument(f"--to {to_step} comes before --from {from_step}")
        latest = {n: r.status for n, r in self.runs.latest(business_date).items()}
        done = {n: s for n, s in latest.items() if s in DONE and n in self.dag.steps}
        before = [n for n in order[:first] if n not in done]
        if before:
            raise InvalidArgument(
                f"cannot start {business_date} at {from_step}: {', '.join(before)} not "
                "succeeded yet for that date (run it without --from)"
            )
        selected = order[first : last + 1]
        if from_step is None:
            selected = [n for n in selected if n not in done]
        skipped = {n: done[n] for n in order[: last + 1] if n not in selected and n in done}
        return selected, skipped

    def run(
        self,
        business_date: dt.date,
        *,
        from_step: str | None = None,
        to_step: str | None = None,
        run_id: str | None = None,
    ) -> DagResult:
        """Run the planned steps in order; a failed step blocks its dependants, not the rest."""
        selected, already = self.plan(business_date, from_step, to_step)
        result = DagResult(business_date, run_id or new_run_id(business_date))
        result.statuses.update({n: f"{s} (earlier run)" for n, s in already.items()})
        finished = {n for n, s in already.items() if s in DONE}
        for name in selected:
            step = self.dag.steps[name]
            blockers = [d for d in step.depends_on if d not in finished]
            if blockers:
                rec = self._record(result, step, "blocked", error=f"waiting on {blockers}")
            elif step.applies is not None and not step.applies(business_date):
                rec = self._record(result, step, "not_applicable")
            else:
                rec = self._attempt(result, step)
            result.statuses[name] = rec.status
            if rec.status in DONE:
                finished.add(name)
        return result

    def _attempt(self, result: DagResult, step: Step) -> StepRecord:
        started = self.clock()
        self._record(result, step, "running", started=started, keep=False)
        ctx = StepContext(result.business_date, result.run_id, self.options)
        attempt = 0
        while True:
            attempt += 1
            try:
                out = step.fn(ctx) or StepOutput()
            except step.retry.transient as exc:
                if attempt >= step.retry.attempts:
                    return self._failed(result, step, started, attempt, exc)
                wait = step.retry.delay(attempt)
                log.warning("%s attempt %d failed (%s); retrying in %.0fs", step.name, attempt,
                            exc, wait)  # fmt: skip
                self.sleep(wait)
            except Exception as exc:  # non-transient: recorded, then the DAG moves on
                return self._failed(result, step, started, attempt, exc)
            else:
                tables = {t: self.versions(t) for t in (*step.tables, *out.tables)}
                return self._record(
                    result, step, "succeeded", started=started, attempts=attempt,
                    rows=out.rows, tables={t: v for t, v in tables.items() if v is not None},
                    detail=out.detail,
                )  # fmt: skip

    def _failed(
        self, result: DagResult, step: Step, started: dt.datetime, attempts: int, exc: Exception
    ) -> StepRecord:
        log.error("%s failed after %d attempt(s): %s: %s", step.name, attempts,
                  type(exc).__name__, exc)  # fmt: skip
        return self._record(
            result, step, "failed", started=started, attempts=attempts,
            error=f"{type(exc).__name__}: {exc}",
        )  # fmt: skip

    def _record(
        self,
        result: DagResult,
        step: Step,
        status: str,
        *,
        started: dt.datetime | None = None,
        attempts: int = 0,
        rows: int | None = None,
        tables: dict[str, int] | None = None,
        error: str | None = None,
        detail: dict[str, object] | None = None,
        keep: bool = True,
    ) -> StepRecord:
        now = self.clock()
        rec = StepRecord(
            run_id=result.run_id,
            business_date=result.business_date,
            step=step.name,
            status=status,
            attempts=attempts,
            started_at=started or now,
            ended_at=None if status == "running" else now,
            rows=rows,
            table_versions=tables or {},
            error=error,
            detail=detail or {},
        )
        self.runs.append(rec)
        if keep:
            result.records.append(rec)
        return rec
