"""The monitoring contract: alert rules and dashboard parse, name only declared metrics under the
names Ray exports, every alert has a runbook, and the recording paths outside Ray work."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ray_platform import metrics
from ray_platform.errors import InvalidArgument
from ray_platform.settings import get_settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "cluster" / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

# PromQL words that are not metric names: operators, modifiers, functions (always before "(").
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}  # fmt: skip
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (a regex reading, not a full PromQL parser)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings (label values, le="0.5")
    e = re.sub(r"\{[^{}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\[\]]*\]", "", e)  # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", e)
    names = set()
    for m in IDENT.finditer(e):
        word, rest = m.group(), e[m.end() :].lstrip()
        if word.lower() in KEYWORDS or rest.startswith("("):  # a function call
            continue
        if m.start() and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # the exponent or unit of a number (1e3, 0.5)
        names.add(word)
    return names


def balanced(expr: str) -> bool:
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', "", expr):
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    panels = [p for top in doc["panels"] for p in (top, *top.get("panels", []))]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def test_metric_name_reading_finds_selectors_not_functions_labels_or_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{application="fraud"}[5m]))) > 2e3 '
        "and on (partition) max by (partition) (b) / ignoring (x) c offset 1h"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c"}
    assert balanced(expr) and not balanced("sum(rate(a[5m])")


def test_rules_parse_and_every_alert_is_complete() -> None:
    doc = yaml.safe_load(RULES.read_text())
    assert {g["name"] for g in doc["groups"]} and all(g["rules"] for g in doc["groups"])
    alerts = [r["alert"] for r in rules()]
    assert len(alerts) == len(set(alerts)) >= 7
    for r in rules():
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", r["alert"]), r["alert"]
        assert set(r) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
        assert r["labels"]["severity"] in {"page", "critical", "warning"}, r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["runbook_url"], r["alert"]
        assert balanced(r["expr"]) and metric_names(r["expr"]), r["alert"]
        if "for" in r:
            assert re.fullmatch(r"\d+[smhd]", r["for"]), r["alert"]
    # the alerts the issue asks for, by what they watch
    watched = {n for r in rules() for n in metric_names(r["expr"])}
    for series in ("ray_serve_http_request_latency_ms_bucket", "ray_fraud_consumer_lag",
                   "ray_gbank_dq_check_passed", "ray_gbank_job_last_failed",
                   "ray_gbank_dag_sla_missed", "ray_gbank_fraud_score_sum"):  # fmt: skip
        assert series in watched, series


def test_every_metric_the_rules_and_dashboard_name_is_declared() -> None:
    exprs = [r["expr"] for r in rules()] + dashboard_exprs()
    named = {n for e in exprs for n in metric_names(e)}
    assert named and not named - set(metrics.EXPORTED), sorted(named - set(metrics.EXPORTED))


def test_the_dashboard_parses_and_shows_every_declared_metric() -> None:
    exprs = dashboard_exprs()
    assert exprs and all(balanced(e) for e in exprs)
    shown = {n for e in exprs for n in metric_names(e)}
    for m in metrics.METRICS.values():
        assert m.series & shown, f"no dashboard panel for {m.name}"


def test_every_alert_has_a_runbook_that_names_it() -> None:
    for r in rules():
        path = ROOT / r["annotations"]["runbook_url"]
        assert path.parent == ROOT / "docs" / "runbooks" and path.is_file(), path
        text = path.read_text()
        assert text.startswith("# Runbook") and f"`{r['alert']}`" in text, path


def test_declared_names_are_the_names_rays_exporter_gives(monkeypatch) -> None:
    """Feed every declaration through the recorder Ray 2.60's metrics agent exports with."""
    import prometheus_client
    from ray._private.telemetry.open_telemetry_metric_recorder import (
        OpenTelemetryMetricRecorder,
    )

    rec = OpenTelemetryMetricRecorder(gauge_metric_ttl_seconds=600)
    for m in metrics.METRICS.values():
        tags = {t: "x" for t in m.tags}
        if m.kind == "histogram":
            rec.register_histogram_metric(m.name, m.description, list(m.buckets or (1.0, 10.0)))
        else:
            register = (
                rec.register_counter_metric if m.kind == "counter" else rec.register_gauge_metric
            )
            register(m.name, m.description)
        rec.set_metric_value(m.name, tags, 0.5)
    text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    for m in metrics.METRICS.values():
        assert m.series <= exported, (m.name, sorted(m.series - exported))


def test_metrics_declared_for_other_recorders_are_recorded_under_those_names() -> None:
    from ray.serve._private import replica, request_ingress_metrics

    from ray_platform.governance import dq
    from serve import consumer

    serve_src = inspect.getsource(request_ingress_metrics).replace("{protocol_name}", "http")
    serve_src += inspect.getsource(replica)
    sources = {
        "ray.serve": serve_src,
        "serve.consumer": inspect.getsource(consumer),
        "ray_platform.governance.dq": f'"{dq.METRIC}"',
    }
    for m in metrics.METRICS.values():
        if m.recorded_by != metrics.OWN:
            assert f'"{m.name}"' in sources[m.recorded_by], m.name


def value(name: str, **labels: str) -> float | None:
    return metrics.REGISTRY.get_sample_value(name, labels)


def test_recording_outside_ray_lands_in_the_process_registry() -> None:
    assert not metrics.in_ray_worker()
    metrics.set_gauge("gbank_dq_pass_ratio", 0.75, table="silver/unit_test")
    before = value("ray_gbank_fraud_score_count", model_version="unit") or 0.0
    metrics.observe_many("gbank_fraud_score", np.array([0.03, 0.6, 0.97]), model_version="unit")
    assert value("ray_gbank_dq_pass_ratio", table="silver/unit_test") == 0.75
    assert value("ray_gbank_fraud_score_count", model_version="unit") == before + 3
    assert value("ray_gbank_fraud_score_bucket", model_version="unit", le="0.5") == before + 1
    assert 'ray_gbank_dq_pass_ratio{table="silver/unit_test"} 0.75' in metrics.text()


def test_inside_a_ray_worker_values_go_to_ray_metrics_not_the_process_registry(
    monkeypatch,
) -> None:
    from ray.util.metrics import Histogram

    monkeypatch.setattr(metrics, "_worker", True)  # what in_ray_worker() caches in an actor
    monkeypatch.setattr(metrics, "_instruments", {})
    seen = []
    monkeypatch.setattr(Histogram, "observe", lambda self, v, tags=None: seen.append((v, tags)))
    metrics.observe_many("gbank_fraud_score", [0.2, 0.8], model_version="in-ray")
    assert isinstance(metrics._instruments["ray", "gbank_fraud_score"], Histogram)
    assert seen == [(0.2, {"model_version": "in-ray"}), (0.8, {"model_version": "in-ray"})]
    assert value("ray_gbank_fraud_score_count", model_version="in-ray") is None


def test_undeclared_metrics_wrong_tags_and_other_owners_metrics_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="undeclared"):
        metrics.set_gauge("gbank_nope", 1)
    with pytest.raises(InvalidArgument, match="takes tags"):
        metrics.set_gauge("gbank_dq_pass_ratio", 1, tabel="x")
    with pytest.raises(InvalidArgument, match="is a gauge"):
        metrics.inc("gbank_dq_pass_ratio", table="x")
    with pytest.raises(InvalidArgument, match=r"recorded by serve\.consumer"):
        metrics.set_gauge("fraud_consumer_lag", 3, partition="0")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GBANK_HOME", str(tmp_path))
    monkeypatch.delenv("GBANK_METRICS_PUSHGATEWAY", raising=False)
    monkeypatch.delenv("GBANK_METRICS_TEXTFILE_DIR", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def samples(path: Path, job: str) -> dict[str, float]:
    return {
        s.name: s.value
        for f in text_string_to_metric_families(path.read_text())
        for s in f.samples
        if s.labels.get("job_name") == job
    }


def test_a_job_run_publishes_its_last_run_gauges_and_a_failure_keeps_the_last_success(
    home,
) -> None:
    from ray_platform.jobs._runtime import run_job

    assert run_job("unit_ok", lambda argv: 0, []) == 0
    prom = home / "metrics" / "unit_ok.prom"
    ok = samples(prom, "unit_ok")
    assert ok["ray_gbank_job_last_failed"] == 0
    assert (
        ok["ray_gbank_job_last_success_timestamp_seconds"]
        == ok["ray_gbank_job_last_run_timestamp_seconds"]
    )
    assert 0 <= ok["ray_gbank_job_last_duration_seconds"] < 5

    with pytest.raises(RuntimeError):
        run_job("unit_ok", lambda argv: (_ for _ in ()).throw(RuntimeError("down")), [])
    failed = samples(prom, "unit_ok")
    assert failed["ray_gbank_job_last_failed"] == 1
    assert (
        failed["ray_gbank_job_last_run_timestamp_seconds"]
        >= ok["ray_gbank_job_last_run_timestamp_seconds"]
    )
    assert (
        failed["ray_gbank_job_last_success_timestamp_seconds"]
        == ok["ray_gbank_job_last_success_timestamp_seconds"]
    )


def test_a_job_writes_where_the_textfile_setting_says_and_never_fails_on_metrics(
    home, monkeypatch
) -> None:
    from ray_platform.jobs._runtime import run_job

    monkeypatch.setenv("GBANK_METRICS_TEXTFILE_DIR", str(home / "collector"))
    assert run_job("unit_exit", lambda argv: 3, []) == 3
    assert (
        samples(home / "collector" / "unit_exit.prom", "unit_exit")["ray_gbank_job_last_failed"]
        == 1
    )
    blocked = home / "blocked"
    blocked.write_text("a file where a folder should be")
    monkeypatch.setenv("GBANK_METRICS_TEXTFILE_DIR", str(blocked))
    assert run_job("unit_exit", lambda argv: 0, []) == 0  # metrics lost, the job's code stands


def test_lake_rows_per_step_and_table_are_recorded() -> None:
    from types import SimpleNamespace

    from ray_platform.lake.pipeline import LakeDayReport, _record_rows

    report = LakeDayReport("run-1", "2026-01-05", kafka_by_topic={"unit_topic": 7})
    landed = [
        SimpleNamespace(status="landed", source="unit_src", record_count=10),
        SimpleNamespace(status="registered", source="unit_src", record_count=5),
        SimpleNamespace(status="skipped_duplicate", source="unit_src", record_count=10),
    ]
    _record_rows(report, landed)  # type: ignore[arg-type]
    rows = "ray_gbank_etl_rows"
    assert value(rows, step="bronze", table="unit_src", outcome="landed") == 15
    assert value(rows, step="bronze", table="unit_topic", outcome="landed") == 7


def test_dq_runs_record_each_check_and_the_pass_rate() -> None:
    import datetime as dt

    from ray_platform.governance.dq import CheckResult, _record_pass_rates

    day = dt.date(2026, 1, 5)
    _record_pass_rates(
        [
            CheckResult("silver/unit_dq", "freshness", day, True),
            CheckResult("silver/unit_dq", "uniqueness", day, False),
            CheckResult("silver/unit_dq", "completeness", day, True),
            CheckResult("silver/unit_dq", "validity", day, True),
        ]
    )
    assert value("ray_gbank_dq_check_passed", table="silver/unit_dq", check="uniqueness") == 0
    assert value("ray_gbank_dq_check_passed", table="silver/unit_dq", check="validity") == 1
    assert value("ray_gbank_dq_pass_ratio", table="silver/unit_dq") == 0.75


def test_scoring_records_every_probability_it_returns() -> None:
    from serve.schemas import Transaction
    from serve.scoring import Scorer, StaticFeatures
    from serve.testing import sample_transaction

    class Model:
        version = "unit-score"

        def predict_explain(self, x: np.ndarray, k: int) -> tuple[np.ndarray, list]:
            return np.array([0.04, 0.55, 0.93][: len(x)]), [[] for _ in x]

    txns = [Transaction(**sample_transaction(i)) for i in range(3)]
    scores = Scorer(StaticFeatures({})).score(txns, Model())
    assert [s.fraud_probability for s in scores] == pytest.approx([0.04, 0.55, 0.93])
    assert value("ray_gbank_fraud_score_count", model_version="unit-score") == 3
    assert value("ray_gbank_fraud_score_bucket", model_version="unit-score", le="0.5") == 1
    assert value("ray_gbank_fraud_score_sum", model_version="unit-score") == pytest.approx(1.52)


def _promtool() -> str:
    """promtool, installed from Debian's ``prometheus`` package when missing (never skipped)."""
    found = shutil.which("promtool")
    if found:
        return found
    apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([*apt, "update"], [*apt, "install", "-y", "--no-install-recommends", "prometheus"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, f"{' '.join(cmd)} failed: {done.stderr[-500:]}"
    found = shutil.which("promtool")
    assert found, "apt installed prometheus but promtool is not on PATH"
    return found


def test_promtool_checks_the_rules_and_their_unit_tests() -> None:
    """Prometheus's own parser and rule evaluator (Debian package ``prometheus``)."""
    promtool = _promtool()
    for args in (["check", "rules", str(RULES)], ["test", "rules", "rules-test.yaml"]):
        out = subprocess.run([promtool, *args], cwd=MONITORING, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
