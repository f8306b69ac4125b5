"""The daily DAG runner: order, retries, failure, resume, run records, SLA, CLI; fake steps."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from ray_platform.errors import ConfigError, DataQualityError, InvalidArgument, ServiceError
from ray_platform.ops import Dag, DagRunner, RetryPolicy, RunLog, Step, StepOutput
from ray_platform.ops import sla as sla_mod
from ray_platform.ops.backfill import dates, run_dates
from ray_platform.settings import load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 1, 7)  # a Wednesday
UTC = dt.UTC


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


@pytest.fixture
def runs(settings):
    return RunLog(table_store(settings))


class Clock:
    """A settable clock that moves one second per reading (so start < end)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def _steps(calls: list[str], fail: dict[str, list[BaseException]] | None = None) -> list[Step]:
    """a -> b -> c, a -> d; each appends its name; ``fail[name]`` raises those errors in turn."""
    fail = fail or {}

    def make(name: str):
        def fn(ctx):
            calls.append(name)
            if fail.get(name):
                raise fail[name].pop(0)
            return StepOutput(rows=len(name) * 10)

        return fn

    quick = RetryPolicy(attempts=3, backoff_s=1.0, factor=2.0)
    return [
        Step("c", make("c"), ("b",), quick),
        Step("a", make("a"), (), quick, tables=("silver/t",)),
        Step("b", make("b"), ("a",), quick),
        Step("d", make("d"), ("a",), quick),
    ]


def _runner(runs, calls, fail=None, sleeps=None, **kw) -> DagRunner:
    sleeps = [] if sleeps is None else sleeps
    return DagRunner(
        Dag(_steps(calls, fail)), runs, sleep=sleeps.append,
        clock=Clock(dt.datetime(2026, 1, 7, 20, tzinfo=UTC)), **kw,
    )  # fmt: skip


def test_topological_order_follows_dependencies_and_rejects_cycles():
    # declared c, a, b, d: each step comes after its dependencies, ties in declaration order
    assert Dag(_steps([])).order() == ["a", "b", "c", "d"]
    with pytest.raises(ConfigError, match="cycle"):
        Dag([Step("x", lambda c: None, ("y",)), Step("y", lambda c: None, ("x",))])
    with pytest.raises(ConfigError, match="unknown"):
        Dag([Step("x", lambda c: None, ("nope",))])


def test_runs_every_step_in_order_and_records_each(runs):
    calls: list[str] = []
    result = _runner(runs, calls, versions=lambda t: 7).run(DAY)
    assert calls == ["a", "b", "c", "d"]
    assert result.ok and set(result.statuses.values()) == {"succeeded"}
    latest = runs.latest(DAY)
    assert {n: r.status for n, r in latest.items()} == dict.fromkeys("abcd", "succeeded")
    a = latest["a"]
    assert a.rows == 10 and a.attempts == 1 and a.table_versions == {"silver/t": 7}
    assert a.started_at < a.ended_at and a.run_id == result.run_id
    # the "running" row written at the start of each step stays in the history
    statuses = [(r.step, r.status) for r in runs.records(DAY)]
    assert statuses[:2] == [("a", "running"), ("a", "succeeded")]


def test_transient_failures_retry_with_exponential_backoff(runs):
    calls: list[str] = []
    sleeps: list[float] = []
    fail = {"b": [ServiceError("kafka down"), ConnectionError("reset")]}
    result = _runner(runs, calls, fail, sleeps).run(DAY)
    assert result.ok
    assert calls.count("b") == 3 and sleeps == [1.0, 2.0]
    assert runs.latest(DAY)["b"].attempts == 3


def test_transient_failures_give_up_after_the_last_attempt(runs):
    calls: list[str] = []
    sleeps: list[float] = []
    fail = {"b": [TimeoutError("t")] * 3}
    result = _runner(runs, calls, fail, sleeps).run(DAY)
    assert result.statuses["b"] == "failed" and sleeps == [1.0, 2.0]
    assert runs.latest(DAY)["b"].error == "TimeoutError: t"


def test_a_non_transient_failure_is_not_retried_and_blocks_only_its_dependants(runs):
    calls: list[str] = []
    sleeps: list[float] = []
    result = _runner(runs, calls, {"b": [DataQualityError("unbalanced")]}, sleeps).run(DAY)
    assert calls == ["a", "b", "d"] and sleeps == []
    assert result.statuses == {"a": "succeeded", "b": "failed", "c": "blocked", "d": "succeeded"}
    assert not result.ok
    assert runs.latest(DAY)["b"].attempts == 1


def test_a_rerun_resumes_after_the_succeeded_steps(runs):
    calls: list[str] = []
    _runner(runs, calls, {"b": [DataQualityError("x")]}).run(DAY)
    calls.clear()
    result = _runner(runs, calls).run(DAY)
    assert calls == ["b", "c"]
    assert result.ok and result.statuses["a"] == "succeeded (earlier run)"
    # a date whose steps all succeeded: a plain rerun does nothing
    calls.clear()
    assert _runner(runs, calls).run(DAY).ok and calls == []


def test_a_step_left_running_by_a_killed_job_is_rerun(runs):
    calls: list[str] = []
    _runner(runs, calls).run(DAY, to_step="a")
    # what a kill mid-step leaves: the "running" row and nothing after it
    killed = runs.latest(DAY)["a"]
    from dataclasses import replace

    runs.append(replace(killed, step="b", status="running", ended_at=None, recorded_ns=0))
    calls.clear()
    _runner(runs, calls).run(DAY)
    assert calls == ["b", "c", "d"]


def test_from_reruns_the_step_and_everything_after_it(runs):
    calls: list[str] = []
    _runner(runs, calls).run(DAY)
    calls.clear()
    _runner(runs, calls).run(DAY, from_step="b")
    assert calls == ["b", "c", "d"]
    calls.clear()
    _runner(runs, calls).run(DAY, from_step="b", to_step="c")
    assert calls == ["b", "c"]


def test_from_is_refused_while_an_earlier_step_has_not_succeeded(runs):
    calls: list[str] = []
    with pytest.raises(InvalidArgument, match="a not succeeded"):
        _runner(runs, calls).run(DAY, from_step="b")
    with pytest.raises(InvalidArgument, match="no step 'zz'"):
        _runner(runs, calls).run(DAY, from_step="zz")
    assert calls == []


def test_a_step_that_does_not_apply_counts_as_done():
    calls: list[str] = []
    steps = [Step("x", lambda c: calls.append("x"), applies=lambda d: d.weekday() < 5),
             Step("y", lambda c: calls.append("y"), ("x",))]  # fmt: skip

    class Mem:
        rows: list = []

        def append(self, r):
            self.rows.append(r)

        def latest(self, d):
            return {}

    result = DagRunner(Dag(steps), Mem()).run(dt.date(2026, 1, 10))  # a Saturday
    assert result.statuses == {"x": "not_applicable", "y": "succeeded"} and calls == ["y"]


# -- SLA ------------------------------------------------------------------------------------


def test_deadlines_are_six_in_the_morning_local_the_next_day():
    d = {r: sla_mod.deadline(DAY, r).astimezone(UTC) for r in sla_mod.REGIONS}
    assert d["apac"] == dt.datetime(2026, 1, 7, 22, tzinfo=UTC)
    assert d["eu"] == dt.datetime(2026, 1, 8, 6, tzinfo=UTC)
    assert d["us"] == dt.datetime(2026, 1, 8, 11, tzinfo=UTC)
    summer = sla_mod.deadline(dt.date(2026, 7, 1), "eu").astimezone(UTC)
    assert summer.hour == 5


def _reports_done(runs, at: dt.datetime) -> None:
    from ray_platform.ops.runs import StepRecord

    runs.append(StepRecord("r1", DAY, "reports", "succeeded", 1, at - dt.timedelta(minutes=5), at))


def test_sla_met_when_reports_exist_before_every_deadline(runs):
    _reports_done(runs, dt.datetime(2026, 1, 7, 21, 30, tzinfo=UTC))
    sent, gauge = [], []
    rec = sla_mod.check_sla(DAY, "r1", runs, now=dt.datetime(2026, 1, 8, 12, tzinfo=UTC),
                            send=sent.append, metric=gauge.append)  # fmt: skip
    assert rec.status == "met" and sent == [] and gauge == [0.0]


def test_sla_missed_alerts_each_late_region_once(runs):
    # done at 07:00 UTC: late for Singapore and London, in time for New York
    _reports_done(runs, dt.datetime(2026, 1, 8, 7, tzinfo=UTC))
    sent, gauge = [], []
    now = dt.datetime(2026, 1, 8, 7, 1, tzinfo=UTC)
    rec = sla_mod.check_sla(DAY, "r1", runs, now=now, send=sent.append, metric=gauge.append)
    assert rec.status == "missed" and gauge == [1.0]
    assert sorted(a["region"] for a in sent) == ["apac", "eu"]
    assert all(a["type"] == "dag_sla_missed" and a["business_date"] == "2026-01-07" for a in sent)
    json.dumps(sent)  # what goes on Kafka is JSON
    again: list = []
    sla_mod.check_sla(DAY, "r2", runs, now=now, send=again.append)
    assert again == []  # already alerted for this date and region


def test_sla_pending_before_a_deadline_and_missed_after_when_reports_never_ran(runs):
    sent: list = []
    early = dt.datetime(2026, 1, 7, 21, tzinfo=UTC)
    assert sla_mod.check_sla(DAY, "r1", runs, now=early, send=sent.append).status == "pending"
    assert sent == []
    late = dt.datetime(2026, 1, 7, 22, 30, tzinfo=UTC)  # past Singapore's 06:00
    rec = sla_mod.check_sla(DAY, "r1", runs, now=late, send=sent.append)
    assert rec.status == "missed" and [a["region"] for a in sent] == ["apac"]


def test_an_undelivered_alert_is_logged_and_recorded_as_alert_failed(runs, caplog):
    def broker_down(alert):
        raise ServiceError("no Kafka broker answers")

    now = dt.datetime(2026, 1, 9, tzinfo=UTC)
    rec = sla_mod.check_sla(DAY, "r1", runs, now=now, send=broker_down)
    assert rec.status == "alert_failed" and "no Kafka broker" in rec.error
    assert "SLA MISSED" in caplog.text
    assert runs.latest(DAY)["sla"].status == "alert_failed"
    # the next check retries the alerts that were not delivered
    sent: list = []
    sla_mod.check_sla(DAY, "r2", runs, now=now, send=sent.append)
    assert len(sent) == 3


def test_sla_is_checked_when_the_dag_fails_before_the_reports(runs):
    def reports(ctx):
        raise DataQualityError("no positions")

    steps = [Step("ingest", lambda c: None), Step("reports", reports, ("ingest",))]
    runner = DagRunner(Dag(steps), runs, clock=lambda: dt.datetime(2026, 1, 9, tzinfo=UTC))
    sent: list = []
    (result,) = run_dates([DAY], runner, send=sent.append)
    assert result.sla["status"] == "missed" and len(sent) == 3
    assert runs.latest(DAY)["sla"].detail["reports_done_at"] is None


def test_no_sla_check_on_a_date_without_reports(runs):
    def ingest(ctx):
        raise DataQualityError("broken feed")

    steps = [Step("ingest", ingest), Step("reports", lambda c: None, ("ingest",),
                                           applies=lambda d: d.weekday() < 5)]  # fmt: skip
    runner = DagRunner(Dag(steps), runs, clock=lambda: dt.datetime(2026, 1, 19, tzinfo=UTC))
    sent: list = []
    (result,) = run_dates([dt.date(2026, 1, 10)], runner, send=sent.append)  # a Saturday
    assert not result.ok and result.sla is None and sent == []


def test_run_dates_stops_at_the_first_failed_date(runs):
    days = dates(DAY, DAY + dt.timedelta(days=2))
    seen: list[dt.date] = []

    def fn(ctx):
        seen.append(ctx.business_date)
        if ctx.business_date == days[1]:
            raise DataQualityError("bad day")

    runner = DagRunner(Dag([Step("only", fn)]), runs)
    results = run_dates(days, runner)
    assert [r.ok for r in results] == [True, False] and seen == days[:2]
    with pytest.raises(InvalidArgument):
        dates(DAY, DAY - dt.timedelta(days=1))


# -- CLI ------------------------------------------------------------------------------------


def test_status_shows_the_last_runs(settings, runs, monkeypatch):
    from ray_platform.cli import ops

    monkeypatch.setattr("ray_platform.settings.get_settings", lambda: settings)
    calls: list[str] = []
    _runner(runs, calls, {"b": [DataQualityError("unbalanced")]}).run(DAY)
    _runner(runs, calls).run(DAY)
    out = CliRunner().invoke(ops.app, ["status", "--last", "1"])
    assert out.exit_code == 0, out.output
    assert "2026-01-07" in out.output and "ok" in out.output.splitlines()[0]
    assert "  b          succeeded" in out.output and "  a " not in out.output  # only run 2
    out = CliRunner().invoke(ops.app, ["status", "--last", "5"])
    assert "problems: b, c" in out.output and "error: DataQualityError: unbalanced" in out.output
    out = CliRunner().invoke(ops.app, ["status", "--date", "2026-01-01"])
    assert "no DAG runs recorded for 2026-01-01" in out.output


def test_backfill_submits_one_daily_job_for_the_range(monkeypatch, settings):
    from ray_platform.cli import ops
    from ray_platform.services import jobs

    monkeypatch.setattr("ray_platform.settings.get_settings", lambda: settings)
    submitted = []

    class Run:
        submission_id, status = "raysubmit_1", "SUCCEEDED"
        result = {
            "days": [{"business_date": "2026-01-05", "ok": True, "steps": {"a": "succeeded"}}]
        }

    monkeypatch.setattr(jobs, "submit_job", lambda m, *a, **k: submitted.append((m, a)) or Run())
    out = CliRunner().invoke(ops.app, ["backfill", "--start", "2026-01-05", "--end", "2026-01-06",
                                       "--from", "silver", "--to", "warehouse"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert submitted == [("ray_platform.jobs.daily", ("--date", "2026-01-05", "--end",
                          "2026-01-06", "--from", "silver", "--to", "warehouse",
                          "--no-sla"))]  # fmt: skip
    assert "2026-01-05: ok" in out.output
    bad = CliRunner().invoke(ops.app, ["backfill", "--start", "2026-01-06", "--end", "2026-01-05"])
    assert bad.exit_code != 0 and isinstance(bad.exception, InvalidArgument)
    bad = CliRunner().invoke(ops.app, ["backfill", "--start", "2026-01-05", "--end", "2026-01-06",
                                       "--from", "nope"])  # fmt: skip
    assert isinstance(bad.exception, InvalidArgument)


def test_the_daily_dag_runs_the_platform_steps_in_dependency_order():
    from ray_platform.ops.daily import daily_dag

    order = daily_dag().order()
    assert order == ["ingest", "silver", "gold", "warehouse", "risk", "reports", "features",
                     "retrain"]  # fmt: skip
    for name in order:
        for dep in daily_dag().steps[name].depends_on:
            assert order.index(dep) < order.index(name)


def test_the_job_preloads_modules_that_exist():
    # a renamed module would otherwise fail only inside a submitted job
    from ray_platform.ops.daily import STEP_MODULES, preload

    preload()
    import sys

    assert all(m in sys.modules for m in STEP_MODULES)
