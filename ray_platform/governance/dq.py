"""Data-quality monitoring: checks per table with the business's thresholds, alerts on failure.

Five checks, each configured per table in ``dq.yaml`` and run over one ingest date (the rows of
``date_column``; the whole table when it has none):

* **freshness**: the table's last commit (or its newest ``freshness_column`` value) is at most
  ``freshness_hours`` old;
* **completeness**: the share of non-null values of each listed column reaches
  ``completeness_min`` (99.5 %); the metric is the worst column's;
* **validity** (accuracy): the rows still pass their silver contract's rules (enumerations,
  ranges, check digits, nothing in the future), and records quarantined on that date count as
  invalid, so the metric is valid rows over everything the sources sent: at least 99.9 % for
  financial tables;
* **uniqueness**: no key repeats;
* **reconciliation**: the record counts the lake already keeps agree: the bronze manifest's
  ``record_count`` of the table's files of the date (plus the Kafka offsets ledger's, for a
  streamed table) equals what the silver run read (``_system/reconciliation``), which equals
  written + quarantined + duplicates dropped, and for fact tables the rows now in silver and in
  quarantine for the date are the ones the run wrote.

Every result, passed or not, is appended to ``_system/dq_results``. A failed check is an
:class:`Alert` handed to each sink: by default a log line (:class:`LogSink`), the counter
``gbank_dq_check_failures_total`` (:class:`MetricSink`: a Ray metric inside Ray, and always the
module's own counter, exposed by :func:`metrics_text`), and one JSON message per alert on the
Kafka topic ``dq-alerts`` (:class:`KafkaSink`). A sink that fails does not stop the others; its
error is in :attr:`DqRun.delivery_errors`.

Example::

    run = run_checks(datetime.date(2026, 1, 5), settings)
    [r for r in run.results if not r.passed]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ray_platform.contracts.checks import CHECKS
from ray_platform.contracts.model import TableContract
from ray_platform.contracts.silver import CONTRACTS
from ray_platform.errors import ConfigError, NotFound, PlatformError, ServiceError
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings, project_path
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

CONFIG_FILE = Path("ray_platform/governance/dq.yaml")
RESULTS_TABLE = layout.system_table("dq_results")
RECONCILIATION = layout.system_table("reconciliation")
METRIC = "gbank_dq_check_failures_total"

# -- configuration -----------------------------------------------------------------------------


class Thresholds(BaseModel):
    """The business's thresholds (shares are fractions: 0.995 is 99.5 %)."""

    model_config = ConfigDict(extra="forbid")
    completeness_min: float = Field(0.995, ge=0, le=1)
    validity_min: float = Field(0.99, ge=0, le=1)
    validity_min_financial: float = Field(0.999, ge=0, le=1)
    freshness_hours: float = Field(26, gt=0)


class TableChecks(BaseModel):
    """The checks of one table (see ``dq.yaml``)."""

    model_config = ConfigDict(extra="forbid")
    table: str
    date_column: str | None = None
    financial: bool = False
    freshness_hours: float | None = Field(None, gt=0)
    freshness_column: str | None = None
    completeness: list[str] = []
    validity: bool = False
    uniqueness: list[str] = []
    reconciliation: bool = False

    @model_validator(mode="after")
    def _silver_for_contract_checks(self) -> TableChecks:
        if (self.validity or self.reconciliation) and self.contract is None:
            raise ValueError(f"{self.table}: validity and reconciliation need a silver table")
        return self

    @property
    def contract(self) -> TableContract | None:
        """The silver contract behind the table, if it is a silver table."""
        zone, _, name = self.table.partition("/")
        return CONTRACTS.get(name) if zone == layout.SILVER else None


class DqConfig(BaseModel):
    """``dq.yaml``."""

    model_config = ConfigDict(extra="forbid")
    alert_topic: str = "dq-alerts"
    thresholds: Thresholds = Thresholds()
    tables: list[TableChecks]


def load_config(path: Path | str | None = None) -> DqConfig:
    """Read and validate a checks file (default: the project's ``dq.yaml``)."""
    p = project_path(path or CONFIG_FILE)
    try:
        return DqConfig.model_validate(yaml.safe_load(p.read_text()) or {})
    except FileNotFoundError:
        raise ConfigError(f"no data-quality config at {p}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"invalid data-quality config {p}: {exc}") from None


# -- results and alerts ------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    """One check of one table for one date."""

    table: str
    check: str
    day: dt.date
    passed: bool
    metric: float | None = None  # share, or hours for freshness
    threshold: float | None = None
    observed: int | None = None  # the failing count (nulls, invalid rows, duplicates...)
    total: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Alert:
    """A failed check, as sent to every sink (and as the JSON on ``dq-alerts``)."""

    run_id: str
    at: str
    table: str
    check: str
    day: str
    metric: float | None
    threshold: float | None
    observed: int | None
    total: int | None
    detail: str
    severity: str = "critical"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()


class AlertSink(Protocol):
    """Where alerts go; ``send`` gets every alert of a run at once."""

    def send(self, alerts: Sequence[Alert]) -> None: ...


class LogSink:
    """One WARNING line per alert (``dq alert table=... check=...``)."""

    def send(self, alerts: Sequence[Alert]) -> None:
        for a in alerts:
            log.warning(
                "dq alert table=%s check=%s day=%s metric=%s threshold=%s: %s",
                a.table,
                a.check,
                a.day,
                a.metric,
                a.threshold,
                a.detail,
            )


_counts: dict[tuple[str, str], int] = {}
_counts_lock = threading.Lock()
_ray_counter: Any = None


def failure_counts() -> dict[tuple[str, str], int]:
    """Failed checks of this process by ``(table, check)`` (the counter behind the metric)."""
    with _counts_lock:
        return dict(_counts)


def metrics_text() -> str:
    """The failure counter in the Prometheus text format, for a scrape endpoint or a file."""
    lines = [f"# HELP {METRIC} Failed data-quality checks.", f"# TYPE {METRIC} counter"]
    for (table, check), n in sorted(failure_counts().items()):
        lines.append(f'{METRIC}{{table="{table}",check="{check}"}} {n}')
    return "\n".join(lines) + "\n"


class MetricSink:
    """Counts failures: the module counter always, and a Ray metric when Ray is initialised."""

    def send(self, alerts: Sequence[Alert]) -> None:
        global _ray_counter
        with _counts_lock:
            for a in alerts:
                _counts[a.table, a.check] = _counts.get((a.table, a.check), 0) + 1
        try:
            import ray

            if not ray.is_initialized():
                return
            from ray.util.metrics import Counter

            if _ray_counter is None:
                _ray_counter = Counter(METRIC, "Failed data-quality checks.", ("table", "check"))
            for a in alerts:
                _ray_counter.inc(1, tags={"table": a.table, "check": a.check})
        except ImportError:  # Ray is a dependency; only a trimmed install lacks it
            return


class KafkaSink:
    """One JSON message per alert on ``topic``, keyed by table (one table's alerts in order)."""

    def __init__(self, settings: Settings, topic: str = "dq-alerts") -> None:
        self.settings, self.topic = settings, topic

    def send(self, alerts: Sequence[Alert]) -> None:
        from kafka.errors import KafkaError

        from ray_platform.streaming import producer

        if not alerts:
            return
        try:
            # A missing topic (the broker does not create topics) fails in 10 s, not 60.
            with producer(self.settings, max_block_ms=10_000) as prod:
                futures = [
                    prod.send(self.topic, key=a.table.encode(), value=a.to_json())  # type: ignore[attr-defined]
                    for a in alerts
                ]
                for fut in futures:
                    fut.get(timeout=30)
        except KafkaError as exc:
            raise ServiceError(f"alerts not delivered to Kafka topic {self.topic}: {exc}") from None


def default_sinks(settings: Settings, config: DqConfig) -> list[AlertSink]:
    """Log, metric and Kafka."""
    return [LogSink(), MetricSink(), KafkaSink(settings, config.alert_topic)]


# -- running -----------------------------------------------------------------------------------


@dataclass
class DqRun:
    """What one run checked and where its alerts went."""

    run_id: str
    day: dt.date
    results: list[CheckResult]
    alerts: list[Alert] = field(default_factory=list)
    delivery_errors: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "day": self.day.isoformat(),
            "checks": len(self.results),
            "failed": len(self.failed),
            "alerts": len(self.alerts),
            "delivery_errors": self.delivery_errors,
            "failures": [
                {
                    "table": r.table,
                    "check": r.check,
                    "metric": r.metric,
                    "threshold": r.threshold,
                    "detail": r.detail,
                }
                for r in self.failed
            ],
        }


def _record_pass_rates(results: Sequence[CheckResult]) -> None:
    """Each check's outcome and each table's pass rate as gauges, passed or not.

    ``gbank_dq_check_passed`` and ``gbank_dq_pass_ratio``: the failure counter cannot give a rate.
    """
    from ray_platform import metrics

    per_table: dict[str, list[bool]] = {}
    for r in results:
        metrics.set_gauge("gbank_dq_check_passed", float(r.passed), table=r.table, check=r.check)
        per_table.setdefault(r.table, []).append(r.passed)
    for table, passed in per_table.items():
        metrics.set_gauge("gbank_dq_pass_ratio", sum(passed) / len(passed), table=table)


def latest_ingest_date(settings: Settings | None = None) -> dt.date:
    """The newest ingest date a silver run recorded (what the hourly job checks by default)."""
    store = table_store(settings)
    if not store.exists(RECONCILIATION):
        raise NotFound("no silver run recorded yet (_system/reconciliation is empty)")
    days = store.read(RECONCILIATION, columns=["ingest_date"]).column(0)
    return dt.date.fromisoformat(str(pc.max(days).as_py()))


def run_checks(
    day: dt.date,
    settings: Settings | None = None,
    *,
    config: DqConfig | None = None,
    tables: Iterable[str] | None = None,
    sinks: Sequence[AlertSink] | None = None,
    now: dt.datetime | None = None,
    run_id: str | None = None,
) -> DqRun:
    """Run every configured check for ``day``, store the results, alert on failures."""
    s = settings or get_settings()
    cfg = config or load_config()
    now = now or dt.datetime.now(dt.UTC)
    run = DqRun(run_id or f"dq-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", day, [])
    wanted = set(tables) if tables else None
    store = table_store(s)
    for tc in cfg.tables:
        if wanted is None or tc.table in wanted:
            run.results += check_table(tc, day, store, cfg.thresholds, now)
    _store_results(store, run, now)
    _record_pass_rates(run.results)
    run.alerts = [
        Alert(
            run.run_id,
            now.isoformat(),
            r.table,
            r.check,
            r.day.isoformat(),
            r.metric,
            r.threshold,
            r.observed,
            r.total,
            r.detail,
        )
        for r in run.failed
    ]
    if run.alerts:
        for sink in default_sinks(s, cfg) if sinks is None else sinks:
            try:
                sink.send(run.alerts)
            except (PlatformError, OSError) as exc:
                log.error("dq alerts not delivered by %s: %s", type(sink).__name__, exc)
                run.delivery_errors[type(sink).__name__] = str(exc)
    return run


def check_table(
    tc: TableChecks, day: dt.date, store: TableStore, th: Thresholds, now: dt.datetime
) -> list[CheckResult]:
    """Every configured check of one table.

    A check that cannot run (a configured column the table lacks, an unreadable file) is a
    failed check named ``<check>_error``, so it alerts like any other and the run goes on.
    """
    if not store.exists(tc.table):
        return [CheckResult(tc.table, "exists", day, False, detail="table does not exist")]
    ds = store.dataset(tc.table)
    rows = _rows(ds, tc, day)
    limit = th.validity_min_financial if tc.financial else th.validity_min
    planned: list[tuple[str, Any]] = [
        ("freshness", lambda: _freshness(tc, day, store, ds, th, now)),
        (
            "completeness",
            lambda: completeness(rows, tc.completeness, th.completeness_min, tc.table, day),
        ),
        (
            "validity",
            lambda: validity(
                rows, _contract(tc), _quarantined(store, tc, day), limit, day, now, tc.table
            ),
        ),
        ("uniqueness", lambda: uniqueness(rows, tc.uniqueness, tc.table, day)),
        ("reconciliation", lambda: reconciliation(tc, day, store)),
    ]
    wanted = {
        "freshness": True,
        "completeness": bool(tc.completeness),
        "validity": tc.validity,
        "uniqueness": bool(tc.uniqueness),
        "reconciliation": tc.reconciliation,
    }
    out = []
    for name, check in planned:
        if not wanted[name]:
            continue
        try:
            out.append(check())
        except (KeyError, ValueError, TypeError, OSError, pa.ArrowException) as exc:
            log.error("dq check %s of %s could not run: %s", name, tc.table, exc)
            out.append(
                CheckResult(
                    tc.table, f"{name}_error", day, False, detail=f"{type(exc).__name__}: {exc}"
                )
            )
    return out


def _rows(ds: pads.Dataset, tc: TableChecks, day: dt.date) -> pa.Table:
    if tc.date_column is None:
        return ds.to_table()
    typ = ds.schema.field(tc.date_column).type
    value: Any = day if pa.types.is_date(typ) else day.isoformat()
    return ds.to_table(filter=pc.field(tc.date_column) == value)


def _contract(tc: TableChecks) -> TableContract:
    if tc.contract is None:  # refused by TableChecks' validation; kept for the type checker
        raise ConfigError(f"{tc.table} has no silver contract")
    return tc.contract


def _quarantined(store: TableStore, tc: TableChecks, day: dt.date) -> int:
    name = layout.quarantine_table(_contract(tc).name)
    if not store.exists(name):
        return 0
    return store.dataset(name).count_rows(filter=pc.field("ingest_date") == day.isoformat())


# -- the checks --------------------------------------------------------------------------------


def _freshness(
    tc: TableChecks,
    day: dt.date,
    store: TableStore,
    ds: pads.Dataset,
    th: Thresholds,
    now: dt.datetime,
) -> CheckResult:
    limit = tc.freshness_hours or th.freshness_hours
    if tc.freshness_column:
        newest = pc.max(ds.to_table(columns=[tc.freshness_column]).column(0)).as_py()
        what = f"newest {tc.freshness_column}"
    else:
        newest = _last_commit(store, tc.table)
        what = "last commit"
    if newest is None:
        return CheckResult(tc.table, "freshness", day, False, None, limit, detail="no data")
    if isinstance(newest, dt.datetime) and newest.tzinfo is None:
        newest = newest.replace(tzinfo=dt.UTC)
    elif not isinstance(newest, dt.datetime):
        newest = dt.datetime.combine(newest, dt.time.max, tzinfo=dt.UTC)
    age = (now - newest).total_seconds() / 3600
    return CheckResult(
        tc.table,
        "freshness",
        day,
        age <= limit,
        round(age, 3),
        limit,
        detail=f"{what} {newest.isoformat()} is {age:.1f} h old (max {limit} h)",
    )


def _last_commit(store: TableStore, name: str) -> dt.datetime | None:
    from deltalake import DeltaTable

    table = DeltaTable(store.uri(name), storage_options=store.storage.storage_options())
    history = table.history(1)
    if not history:
        return None
    return dt.datetime.fromtimestamp(history[0]["timestamp"] / 1000, dt.UTC)


def completeness(
    rows: pa.Table, columns: Sequence[str], minimum: float, table: str, day: dt.date
) -> CheckResult:
    """The worst column's share of non-null values; a missing column counts as all null."""
    n = rows.num_rows
    if n == 0:
        return CheckResult(table, "completeness", day, True, None, minimum, 0, 0, "no rows")
    worst, worst_nulls = "", -1
    for col in columns:
        nulls = rows.column(col).null_count if col in rows.column_names else n
        if nulls > worst_nulls:
            worst, worst_nulls = col, nulls
    share = 1 - worst_nulls / n
    return CheckResult(
        table,
        "completeness",
        day,
        share >= minimum,
        share,
        minimum,
        worst_nulls,
        n,
        f"{worst}: {worst_nulls} of {n} values missing",
    )


def invalid_rows(
    rows: pa.Table, contract: TableContract, now: dt.datetime
) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows fail their contract's rules, and how many fail each column.

    PII columns are tokenised in silver, so only their presence is checked.
    """
    n = rows.num_rows
    bad = np.zeros(n, dtype=bool)
    by_col: dict[str, int] = {}
    for col in contract.columns:
        if col.name not in rows.column_names:
            col_bad = np.full(n, col.required)
        else:
            arr = rows.column(col.name).combine_chunks()
            present = pc.is_valid(arr).to_numpy(zero_copy_only=False)
            col_bad = ~present if col.required else np.zeros(n, dtype=bool)
            if not col.pii:
                col_bad |= present & ~_rules_ok(col, arr, now)
        if col_bad.any():
            by_col[col.name] = int(col_bad.sum())
            bad |= col_bad
    return bad, by_col


def _rules_ok(col: Any, arr: pa.Array, now: dt.datetime) -> np.ndarray:
    ok = np.ones(len(arr), dtype=bool)

    def both(mask: pa.Array) -> None:
        nonlocal ok
        ok &= pc.fill_null(mask, True).to_numpy(zero_copy_only=False)

    if col.values:
        both(pc.is_in(arr.cast(pa.string()), pa.array(col.values)))
    if col.check:
        ok &= CHECKS[col.check](pc.fill_null(arr.cast(pa.string()), "")) | ~pc.is_valid(
            arr
        ).to_numpy(zero_copy_only=False)
    if col.min is not None or col.max is not None:
        num = arr.cast(pa.float64())
        if col.min is not None:
            both(pc.greater_equal(num, col.min))
        if col.max is not None:
            both(pc.less_equal(num, col.max))
    if col.not_future:
        if pa.types.is_timestamp(arr.type):
            bound = pa.scalar(now, pa.timestamp("us", tz="UTC")).cast(arr.type)
            both(pc.less_equal(arr, bound))
        elif pa.types.is_date(arr.type):
            both(pc.less_equal(arr, pa.scalar(now.date(), arr.type)))
    return ok


def validity(
    rows: pa.Table,
    contract: TableContract,
    quarantined: int,
    minimum: float,
    day: dt.date,
    now: dt.datetime,
    table: str | None = None,
) -> CheckResult:
    """Valid rows over rows plus the records quarantined for the date."""
    name = table or layout.silver_table(contract.name)
    bad, by_col = invalid_rows(rows, contract, now)
    n = rows.num_rows
    total = n + quarantined
    invalid = int(bad.sum()) + quarantined
    if total == 0:
        return CheckResult(name, "validity", day, True, None, minimum, 0, 0, "no records")
    share = 1 - invalid / total
    cols = ", ".join(f"{c}: {k}" for c, k in sorted(by_col.items()))
    detail = f"{invalid} of {total} records invalid ({quarantined} quarantined" + (
        f"; in silver {cols})" if cols else ")"
    )
    return CheckResult(
        name, "validity", day, share >= minimum, share, minimum, invalid, total, detail
    )


def uniqueness(rows: pa.Table, key: Sequence[str], table: str, day: dt.date) -> CheckResult:
    """Rows whose key repeats an earlier row's (must be none)."""
    n = rows.num_rows
    if n == 0:
        return CheckResult(table, "uniqueness", day, True, None, 1.0, 0, 0, "no rows")
    distinct = rows.select(list(key)).group_by(list(key)).aggregate([]).num_rows
    dups = n - distinct
    return CheckResult(
        table,
        "uniqueness",
        day,
        dups == 0,
        1 - dups / n,
        1.0,
        dups,
        n,
        f"{dups} rows repeat a key ({', '.join(key)})",
    )


def reconciliation(tc: TableChecks, day: dt.date, store: TableStore) -> CheckResult:
    """Bronze records == read == written + quarantined + duplicates, and silver agrees."""
    c = _contract(tc)
    landed, uncounted = _bronze_records(store, c, day)
    run = _latest_recon(store, c.name, day)
    if run is None:
        ok = landed == 0 and not uncounted
        why = "nothing landed" if ok else f"{landed} records landed but no silver run recorded"
        return CheckResult(tc.table, "reconciliation", day, ok, None, None, landed, landed, why)
    problems = []
    if uncounted:
        problems.append(f"bronze files without a record count: {', '.join(uncounted[:3])}")
    if run["held"]:
        problems.append("feed held by a schema change")
    if landed != run["read"]:
        problems.append(f"bronze has {landed} records, the silver run read {run['read']}")
    accounted = run["written"] + run["quarantined"] + run["duplicates_dropped"]
    if run["read"] != accounted:
        problems.append(
            f"read {run['read']} != written {run['written']} + quarantined "
            f"{run['quarantined']} + duplicates {run['duplicates_dropped']}"
        )
    if c.kind == "fact":
        in_silver = store.dataset(tc.table).count_rows(
            filter=pc.field("_ingest_date") == day.isoformat()
        )
        if in_silver != run["written"]:
            problems.append(
                f"silver holds {in_silver} rows of the date, the run wrote {run['written']}"
            )
        quarantined = _quarantined(store, tc, day)
        if quarantined != run["quarantined"]:
            problems.append(
                f"quarantine holds {quarantined} rows of the date, the run "
                f"quarantined {run['quarantined']}"
            )
    detail = "; ".join(problems) or (
        f"{landed} = {run['written']} written + {run['quarantined']} quarantined + "
        f"{run['duplicates_dropped']} duplicates"
    )
    return CheckResult(
        tc.table,
        "reconciliation",
        day,
        not problems,
        None,
        None,
        abs(landed - accounted),
        landed,
        detail,
    )


def _bronze_records(store: TableStore, c: TableContract, day: dt.date) -> tuple[int, list[str]]:
    """Records the lake recorded as landed on ``day`` for the table: (count, uncounted files)."""
    total, uncounted = 0, []
    if store.exists(layout.BRONZE_MANIFEST):
        m = store.dataset(layout.BRONZE_MANIFEST).to_table(
            columns=["bronze_path", "record_count"],
            filter=(pc.field("source") == c.source) & (pc.field("ingest_date") == day),
        )
        for r in m.to_pylist():
            if c.matches_file(r["bronze_path"]):
                if r["record_count"] is None:
                    uncounted.append(r["bronze_path"])
                else:
                    total += r["record_count"]
    if c.stream_topics and store.exists(layout.KAFKA_OFFSETS):
        k = store.dataset(layout.KAFKA_OFFSETS).to_table(
            columns=["record_count"],
            filter=pc.field("topic").isin(list(c.stream_topics)) & (pc.field("ingest_date") == day),
        )
        total += int(pc.sum(k.column(0)).as_py() or 0)
    return total, uncounted


def _latest_recon(store: TableStore, table: str, day: dt.date) -> dict[str, Any] | None:
    if not store.exists(RECONCILIATION):
        return None
    rows = store.dataset(RECONCILIATION).to_table(
        filter=(pc.field("table") == table) & (pc.field("ingest_date") == day.isoformat())
    )
    if not rows.num_rows:
        return None
    return max(rows.to_pylist(), key=lambda r: r["recorded_at"])  # type: ignore[no-any-return]


_RESULTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("checked_at", pa.timestamp("us", tz="UTC")),
        ("day", pa.date32()),
        ("table", pa.string()),
        ("check", pa.string()),
        ("passed", pa.bool_()),
        ("metric", pa.float64()),
        ("threshold", pa.float64()),
        ("observed", pa.int64()),
        ("total", pa.int64()),
        ("detail", pa.string()),
    ]
)


def _store_results(store: TableStore, run: DqRun, now: dt.datetime) -> None:
    rows = [{"run_id": run.run_id, "checked_at": now, **asdict(r)} for r in run.results]
    if rows:
        store.write(RESULTS_TABLE, pa.Table.from_pylist(rows, _RESULTS_SCHEMA))


def read_results(
    settings: Settings | None = None,
    *,
    table: str | None = None,
    failed_only: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Stored results, newest first."""
    store = table_store(settings)
    if not store.exists(RESULTS_TABLE):
        return []
    flt = None
    if table:
        flt = pc.field("table") == table
    if failed_only:
        f = pc.field("passed") == False  # noqa: E712
        flt = f if flt is None else flt & f
    data = store.dataset(RESULTS_TABLE).to_table(filter=flt)
    data = data.sort_by([("checked_at", "descending"), ("table", "ascending")])
    return data.slice(0, limit).to_pylist() if limit else data.to_pylist()
