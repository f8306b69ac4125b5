"""Every platform metric, declared once, and recorded where Prometheus can read it.

:data:`METRICS` declares each metric the platform's dashboard and alert rules use: name, type,
description, tag keys, and who records it. Most are recorded through this module; a few are
recorded by their owners and only declared here so the monitoring test can check every name the
rules and the dashboard use (Ray Serve's own ``serve_*`` metrics, the Kafka consumer's
``fraud_consumer_lag``, the DQ failure counter).

One name per metric in Prometheus, however it was recorded: Ray's metrics agent exports a
``ray.util.metrics`` metric as ``ray_<name>`` (a counter as ``ray_<name>_total``, a histogram as
``ray_<name>_bucket``/``_sum``/``_count``), and this module's own Prometheus registry uses those
same exported names, so a series means one thing whether a Ray actor or a plain process wrote it
(:attr:`MetricDef.exported`).

Where a value goes depends on the process:

* in a Ray task or actor (Serve replicas, the scoring consumers), through ``ray.util.metrics``:
  long-lived workers whose node's metrics agent Prometheus scrapes;
* anywhere else, a job's driver included, into :data:`REGISTRY` (``prometheus_client``). A driver
  ends before Ray's agent would export its values (every 10 s), so a job's metrics are gauges of
  its last run, written when it ends (:func:`flush`): pushed to a Pushgateway
  (``GBANK_METRICS_PUSHGATEWAY=host:9091``) or written as ``<job>.prom`` for node_exporter's
  textfile collector (``GBANK_METRICS_TEXTFILE_DIR``, default ``<home>/metrics``). A long-running
  process outside Ray can serve the registry instead (:func:`serve_http`).

Example::

    from ray_platform import metrics

    metrics.set_gauge("gbank_etl_rows", 1200, step="silver", table="trades", outcome="written")
    metrics.observe_many("gbank_fraud_score", [0.02, 0.71], model_version="3")
    print(metrics.text())
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as _PromCounter
from prometheus_client import Gauge as _PromGauge
from prometheus_client import Histogram as _PromHistogram

from ray_platform.errors import InvalidArgument

log = logging.getLogger(__name__)

NAMESPACE = "ray"  # what Ray's exporter puts before every ray.util.metrics name
OWN = "ray_platform.metrics"
Kind = Literal["counter", "gauge", "histogram"]

SCORE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class MetricDef:
    """One metric: what it is, its tag keys and who records it (this module, or its owner)."""

    name: str
    kind: Kind
    description: str
    tags: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    recorded_by: str = OWN

    @property
    def exported(self) -> str:
        """The metric's name in Prometheus (a counter's ends in ``_total``)."""
        base = f"{NAMESPACE}_{self.name}"
        if self.kind == "counter":
            return base.removesuffix("_total") + "_total"
        return base

    @property
    def series(self) -> frozenset[str]:
        """Every series name Prometheus stores for it (a histogram has three)."""
        if self.kind == "histogram":
            return frozenset(f"{self.exported}_{s}" for s in ("bucket", "sum", "count"))
        return frozenset({self.exported})


_SERVE_HTTP = ("route", "method", "application", "status_code")
_SERVE_REPLICA = ("deployment", "replica", "application", "route")

METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        # jobs (run_job): gauges of each job's last run
        MetricDef("gbank_job_last_duration_seconds", "gauge", "Wall time of the job's last run.",
                  ("job_name",)),
        MetricDef("gbank_job_last_failed", "gauge", "1 when the job's last run failed, else 0.",
                  ("job_name",)),
        MetricDef("gbank_job_last_run_timestamp_seconds", "gauge",
                  "Unix time the job's last run ended.", ("job_name",)),
        MetricDef("gbank_job_last_success_timestamp_seconds", "gauge",
                  "Unix time the job's last successful run ended.", ("job_name",)),
        MetricDef("gbank_dag_sla_missed", "gauge",
                  "1 when the daily DAG's run ended past its SLA (or has not ended by it).",
                  ("dag",)),
        # lake (run_lake_day): rows of the latest business date per step
        MetricDef("gbank_etl_rows", "gauge",
                  "Rows per lake step and table for the latest business date run.",
                  ("step", "table", "outcome")),
        # data quality (run_checks)
        MetricDef("gbank_dq_check_passed", "gauge", "1 when the check passed in the last run.",
                  ("table", "check")),
        MetricDef("gbank_dq_pass_ratio", "gauge", "Share of a table's checks that passed.",
                  ("table",)),
        MetricDef("gbank_dq_check_failures_total", "counter", "Failed data-quality checks.",
                  ("table", "check"), recorded_by="ray_platform.governance.dq"),
        # fraud scoring
        MetricDef("gbank_fraud_score", "histogram", "Fraud probabilities the scorer returned.",
                  ("model_version",), SCORE_BUCKETS),
        MetricDef("fraud_consumer_lag", "gauge",
                  "Records in transactions not yet scored and committed.", ("partition",),
                  recorded_by="serve.consumer"),
        # Ray Serve's own (ray/serve/_private/request_ingress_metrics.py, replica.py)
        MetricDef("serve_http_request_latency_ms", "histogram",
                  "End-to-end latency of HTTP requests.", _SERVE_HTTP, recorded_by="ray.serve"),
        MetricDef("serve_num_http_requests", "counter", "HTTP requests processed.",
                  _SERVE_HTTP, recorded_by="ray.serve"),
        MetricDef("serve_num_http_error_requests", "counter", "Errored HTTP responses.",
                  ("route", "error_code", "method", "application"), recorded_by="ray.serve"),
        MetricDef("serve_deployment_processing_latency_ms", "histogram",
                  "Latency of queries processed in a replica.", _SERVE_REPLICA,
                  recorded_by="ray.serve"),
        MetricDef("serve_deployment_request_counter", "counter",
                  "Queries processed in a replica.", _SERVE_REPLICA, recorded_by="ray.serve"),
        MetricDef("serve_deployment_error_counter", "counter", "Exceptions in a replica.",
                  (*_SERVE_REPLICA, "exception_type"), recorded_by="ray.serve"),
    )
}  # fmt: skip

EXPORTED: dict[str, MetricDef] = {s: m for m in METRICS.values() for s in m.series}
"""Every series name Prometheus can hold -> its declaration."""

REGISTRY = CollectorRegistry(auto_describe=True)
"""The process registry (everything recorded outside Ray workers)."""

_lock = threading.Lock()
_instruments: dict[tuple[str, str], Any] = {}
_worker: bool | None = None
_failed: set[str] = set()
_METHODS = {"counter": "inc", "gauge": "set", "histogram": "observe"}


def declared(name: str) -> MetricDef:
    """The declaration of ``name`` (raises InvalidArgument for an undeclared metric)."""
    try:
        return METRICS[name]
    except KeyError:
        raise InvalidArgument(
            f"undeclared metric {name!r}: add it to ray_platform.metrics"
        ) from None


def in_ray_worker() -> bool:
    """True in a Ray task or actor (not a driver): where Ray's metrics agent exports values."""
    global _worker
    if _worker:
        return True
    try:
        import ray

        if not ray.is_initialized():
            return False
        from ray._private.worker import global_worker

        _worker = getattr(global_worker, "mode", None) == ray.WORKER_MODE
    except Exception:  # a trimmed install, or Ray shutting down
        return False
    return bool(_worker)


def _instrument(m: MetricDef, tags: dict[str, str]) -> tuple[Any, bool]:
    if set(tags) != set(m.tags):
        raise InvalidArgument(f"metric {m.name} takes tags {list(m.tags)}, got {sorted(tags)}")
    if m.recorded_by != OWN:
        raise InvalidArgument(f"metric {m.name} is recorded by {m.recorded_by}")
    ray_side = in_ray_worker()
    key = ("ray" if ray_side else "prom", m.name)
    inst = _instruments.get(key)
    if inst is None:
        with _lock:
            inst = _instruments.get(key)
            if inst is None:
                inst = _instruments[key] = _ray_metric(m) if ray_side else _prom_metric(m)
    return inst, ray_side


def _ray_metric(m: MetricDef) -> Any:
    from ray.util import metrics as rm

    if m.kind == "counter":
        return rm.Counter(m.name, m.description, m.tags)
    if m.kind == "gauge":
        return rm.Gauge(m.name, m.description, m.tags)
    return rm.Histogram(m.name, m.description, list(m.buckets), m.tags)


def _prom_metric(m: MetricDef) -> Any:
    kw: dict[str, Any] = {"labelnames": m.tags, "registry": REGISTRY}
    if m.kind == "counter":
        return _PromCounter(m.exported, m.description, **kw)
    if m.kind == "gauge":
        return _PromGauge(m.exported, m.description, **kw)
    return _PromHistogram(m.exported, m.description, buckets=m.buckets, **kw)


def _record(name: str, kind: Kind, values: Iterable[float], tags: dict[str, str]) -> None:
    m = declared(name)
    if m.kind != kind:
        raise InvalidArgument(f"metric {name} is a {m.kind}, not a {kind}")
    tags = {k: str(v) for k, v in tags.items()}
    inst, ray_side = _instrument(m, tags)
    method = _METHODS[kind]
    try:
        if ray_side:
            fn = getattr(inst, method)
            for v in values:
                fn(float(v), tags=tags)
        else:
            fn = getattr(inst.labels(**tags) if m.tags else inst, method)
            for v in values:
                fn(float(v))
    except Exception:  # a metric must never stop the work it measures
        if name not in _failed:
            _failed.add(name)
            log.exception("recording metric %s failed (logged once)", name)


def inc(name: str, value: float = 1.0, **tags: Any) -> None:
    """Add ``value`` to the counter ``name``."""
    _record(name, "counter", (value,), tags)


def set_gauge(name: str, value: float, **tags: Any) -> None:
    """Set the gauge ``name``."""
    _record(name, "gauge", (value,), tags)


def observe_many(name: str, values: Iterable[float], **tags: Any) -> None:
    """Observe each of ``values`` in the histogram ``name`` (one call per scored batch)."""
    _record(name, "histogram", values, tags)


# -- the process registry: scrape, textfile, push ----------------------------------------------


def text() -> str:
    """The process registry in the Prometheus text format."""
    return generate_latest(REGISTRY).decode()


def write_textfile(path: str | Path) -> Path:
    """Write the registry atomically to ``path`` (node_exporter's textfile collector reads it)."""
    from prometheus_client import write_to_textfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(p), REGISTRY)
    return p


def push(gateway: str, job: str) -> None:
    """Push the registry to ``job``'s group on the Pushgateway at ``gateway`` (host:port).

    Metrics of the same name replace the group's (POST), others stay: a failed run keeps the
    last success time an earlier run pushed.
    """
    from prometheus_client import pushadd_to_gateway

    pushadd_to_gateway(gateway, job=job, registry=REGISTRY, timeout=10)


def serve_http(port: int, addr: str = "127.0.0.1") -> None:
    """Serve the registry at ``http://addr:port/metrics`` from a daemon thread."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=REGISTRY)


def textfile_path(job: str, home: Path) -> Path:
    """Where :func:`flush` writes ``job``'s metrics without a Pushgateway."""
    folder = Path(os.environ.get("GBANK_METRICS_TEXTFILE_DIR") or home / "metrics")
    return folder / f"{job}.prom"


def flush(job: str, home: Path) -> str:
    """Publish the registry at the end of a job; returns where it went.

    ``GBANK_METRICS_PUSHGATEWAY`` (host:port) pushes; otherwise the registry is written to
    :func:`textfile_path` (``$GBANK_METRICS_TEXTFILE_DIR/<job>.prom``, default
    ``<home>/metrics``). One job per process, as ``ray job submit`` runs them: the file holds
    everything the process recorded.
    """
    gateway = os.environ.get("GBANK_METRICS_PUSHGATEWAY")
    if gateway:
        push(gateway, job)
        return f"pushgateway {gateway}"
    return str(write_textfile(textfile_path(job, home)))


def _last_success(job: str, home: Path) -> float | None:
    """The last success time in the job's previous textfile (kept across a failed run)."""
    from prometheus_client.parser import text_string_to_metric_families

    name = METRICS["gbank_job_last_success_timestamp_seconds"].exported
    try:
        families = list(text_string_to_metric_families(textfile_path(job, home).read_text()))
    except (OSError, ValueError):
        return None
    for fam in families:
        for s in fam.samples:
            if s.name == name and s.labels.get("job_name") == job:
                return s.value
    return None


def record_job(job: str, ok: bool, duration_s: float, home: Path) -> str | None:
    """Set the job's last-run gauges and :func:`flush`; never raises (the job's outcome wins)."""
    try:
        now = time.time()
        set_gauge("gbank_job_last_duration_seconds", duration_s, job_name=job)
        set_gauge("gbank_job_last_failed", 0.0 if ok else 1.0, job_name=job)
        set_gauge("gbank_job_last_run_timestamp_seconds", now, job_name=job)
        last = now if ok else _last_success(job, home)
        if last is not None:
            set_gauge("gbank_job_last_success_timestamp_seconds", last, job_name=job)
        return flush(job, home)
    except Exception as exc:
        log.warning("job %s: metrics not published: %s", job, exc)
        return None
