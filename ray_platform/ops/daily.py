r"""The daily DAG's steps: the library functions behind the platform's jobs, in dependency order.

    ingest -> silver -> gold -> warehouse -> risk -> reports
                 \-> features -> retrain

Each step calls the same domain function as its stand-alone job (``jobs/lake_etl``,
``warehouse_load``, ``risk_nightly``, ``reports_daily``, ``features``, ``fraud_retrain``) and is
idempotent per date: bronze lands a file once and resumes Kafka after its last offset, silver,
gold, the warehouse and risk replace the date's rows, reports rewrite the date's files, the
feature tables are rebuilt for the date, and a retrain registers a new challenger that the
promotion gate judges (a rerun may register another version; the champion only moves through
the gate). Ray must already be initialised by the caller (the ``daily`` job does it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.errors import PlatformError
from ray_platform.ops.dag import Dag, DagRunner, Step, StepContext, StepFailed, StepOutput
from ray_platform.ops.runs import RunLog
from ray_platform.settings import Settings

JOB = "daily"


@dataclass(frozen=True)
class DailyOptions:
    """What the steps need besides the date."""

    settings: Settings
    kafka_topics: tuple[str, ...] = CARD_TRANSACTIONS.stream_topics
    cdc: bool = False  # land the core-banking database's Debezium topics and apply them
    risk_paths: int = 20_000
    training_days: int | None = None


def _opts(ctx: StepContext) -> DailyOptions:
    assert isinstance(ctx.options, DailyOptions)
    return ctx.options


def _weekday(day: dt.date) -> bool:
    return day.weekday() < 5


def ingest(ctx: StepContext) -> StepOutput:
    """Land the date's files, the Kafka topics and (``cdc``) the change events in bronze."""
    from ray_platform import lineage
    from ray_platform.lake import bronze, kafka_landing
    from ray_platform.lake.debezium import land_core_changes
    from ray_platform.lineage import DatasetRef, RunEvent
    from ray_platform.tables import table_store

    o, day = _opts(ctx), ctx.business_date
    landed = bronze.land_landing_date(day, ingest_date=day, run_id=ctx.run_id, settings=o.settings)
    events = [
        RunEvent(
            ctx.run_id, JOB, "bronze", "COMPLETE",
            inputs=tuple(DatasetRef(f.landing_path, sha256=f.sha256) for f in landed),
            outputs=tuple(
                DatasetRef(f.bronze_path, rows=f.record_count, sha256=f.sha256) for f in landed
            ),
            business_date=day.isoformat(),
        )
    ]  # fmt: skip
    records = sum(f.record_count or 0 for f in landed)
    kafka = 0
    if o.kafka_topics:
        batches, event = kafka_landing.land_topics(
            o.kafka_topics, ingest_date=day, run_id=ctx.run_id, job=JOB, settings=o.settings
        )
        kafka = sum(b.record_count for b in batches)
        events.append(event)
    changes = land_core_changes(day, o.settings, ctx.run_id) if o.cdc else {}
    lineage.record(events, table_store(o.settings))
    statuses: dict[str, int] = {}
    for f in landed:
        statuses[f.status] = statuses.get(f.status, 0) + 1
    detail = {"files": statuses, "kafka_records": kafka, "change_events": changes}
    return StepOutput(rows=records + kafka + sum(changes.values()), detail=detail)


def silver(ctx: StepContext) -> StepOutput:
    """Validate, quarantine, standardise and tokenise bronze into silver; reconcile."""
    from ray_platform import lineage
    from ray_platform.lake import layout
    from ray_platform.lake.pipeline import silver_streams
    from ray_platform.lake.silver import run_silver
    from ray_platform.lineage import DatasetRef, RunEvent
    from ray_platform.tables import table_store

    o, day = _opts(ctx), ctx.business_date
    streams = silver_streams(o.kafka_topics, cdc=o.cdc)
    report = run_silver(day, o.settings, run_id=ctx.run_id, stream_topics=streams)
    events = [
        RunEvent(
            ctx.run_id, JOB, f"silver.{name}", "COMPLETE",
            inputs=tuple(DatasetRef(p) for p in r.files),
            outputs=(
                DatasetRef(layout.silver_table(name), r.version, r.written),
                DatasetRef(layout.quarantine_table(name), rows=r.quarantined),
            ),
            business_date=day.isoformat(),
        )
        for name, r in report.tables.items()
        if r.files
    ]  # fmt: skip
    lineage.record(events, table_store(o.settings))
    written = {n: r for n, r in report.tables.items() if r.version is not None}
    return StepOutput(
        rows=sum(r.written for r in report.tables.values()),
        detail={"quarantined": sum(r.quarantined for r in report.tables.values())},
        tables=tuple(layout.silver_table(n) for n in written),
    )


def gold(ctx: StepContext) -> StepOutput:
    """Rebuild the date's gold aggregates from silver pinned at one version."""
    from ray_platform import lineage
    from ray_platform.lake import layout
    from ray_platform.lake.gold import run_gold
    from ray_platform.tables import table_store

    o = _opts(ctx)
    report = run_gold(ctx.business_date, o.settings, run_id=ctx.run_id)
    lineage.record(report.run_events(job=JOB), table_store(o.settings))
    written = [r for r in report.tables.values() if r.version is not None]
    return StepOutput(
        rows=sum(r.rows for r in written), tables=tuple(layout.gold_table(r.table) for r in written)
    )


def warehouse(ctx: StepContext) -> StepOutput:
    """Load the star schema for the date, reconciled with silver."""
    from ray_platform import lineage
    from ray_platform.tables import table_store
    from ray_platform.warehouse import model as m
    from ray_platform.warehouse.load import load_warehouse

    o = _opts(ctx)
    report = load_warehouse(ctx.business_date, o.settings, run_id=ctx.run_id)
    lineage.record(report.run_events(job=JOB), table_store(o.settings))
    written = [r for r in report.tables.values() if r.version is not None]
    return StepOutput(
        rows=sum(r.rows for r in written),
        tables=tuple(m.warehouse_table(r.table) for r in written),
    )


def risk(ctx: StepContext) -> StepOutput:
    """VaR, ES, stress tests and backtests; replaces the date's risk rows."""
    from ray_platform.lake.layout import gold_table
    from ray_platform.lineage import DatasetRef, RunEvent, record
    from ray_platform.risk import EngineConfig, MCSpec, load_market, load_portfolio, run_risk
    from ray_platform.risk.data import input_refs
    from ray_platform.tables import table_store

    o, day = _opts(ctx), ctx.business_date
    tables = table_store(o.settings)
    inputs = input_refs(tables)
    portfolio = load_portfolio(day, tables)
    market = load_market(day, tables, o.settings.reporting_currency)
    config = EngineConfig(mc=MCSpec(paths=o.risk_paths))
    run = run_risk(portfolio, market, config, run_id=ctx.run_id)
    outputs = []
    for name, data in (
        ("warehouse/fact_risk_metrics", run.metrics),
        ("warehouse/fact_stress_results", run.stress),
        ("warehouse/fact_backtests", run.backtests),
        ("risk/unpriced_positions", run.unpriced),
        ("risk/market_data_issues", run.issues),
    ):
        table = gold_table(name)
        if tables.exists(table):
            v = tables.write(table, data, mode="overwrite", predicate=f"as_of = '{day}'")
        else:
            v = tables.write(table, data, mode="overwrite")
        outputs.append(DatasetRef(table, v, data.num_rows))
    record(
        [RunEvent(ctx.run_id, JOB, "risk", "COMPLETE", inputs, tuple(outputs),
                  business_date=day.isoformat())],
        tables,
    )  # fmt: skip
    return StepOutput(
        rows=run.metrics.num_rows,
        detail={"unpriced_positions": run.unpriced.num_rows},
        tables=tuple(r.name for r in outputs),
    )


def reports(ctx: StepContext) -> StepOutput:
    """Basel III, MiFID II and SOX for the date; fails (after running all) if any failed."""
    from ray_platform.reports import run_daily_reports

    out = run_daily_reports(ctx.business_date, _opts(ctx).settings)
    failed = {n: r["error"] for n, r in out["reports"].items() if r["status"] != "OK"}
    if failed:
        raise StepFailed(f"reports failed: {failed}")
    files = sum(len(r["files"]) for r in out["reports"].values())
    return StepOutput(rows=files, detail={"reports": sorted(out["reports"])})


def features(ctx: StepContext) -> StepOutput:
    """The date's fraud feature tables on the cluster, ``feast apply``, materialisation."""
    import ray

    from features.engineering import run_features
    from features.online import online_store_for

    o, day = _opts(ctx), ctx.business_date
    s = o.settings
    run = ray.get(ray.remote(num_cpus=1)(lambda: run_features(day, day, s)[0]).remote())
    store = online_store_for(s)
    store.apply()
    store.materialize(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    summary = run.summary()
    rows = summary.get("rows", {})
    return StepOutput(
        rows=sum(rows.values()) if isinstance(rows, dict) else None,
        detail={"online_store": store.kind},
    )


def retrain(ctx: StepContext) -> StepOutput:
    """Retrain on Ray Train, register the challenger, run the promotion gate (one MLflow run)."""
    from models.retrain import retrain as run_retrain
    from models.train import TrainConfig

    o = _opts(ctx)
    config = TrainConfig.load(o.settings.fraud_config)
    if o.training_days:
        config = config.model_copy(update={"training_days": o.training_days})
    r = run_retrain(ctx.business_date, o.settings, config=config)
    return StepOutput(
        rows=int(r["train_rows"]),
        detail={k: r[k] for k in ("version", "promoted", "champion", "reasons")},
    )


STEP_MODULES = (
    "ray_platform.lineage",
    "ray_platform.lake.bronze",
    "ray_platform.lake.kafka_landing",
    "ray_platform.lake.silver",
    "ray_platform.lake.silver_write",
    "ray_platform.lake.gold",
    "ray_platform.governance.crypto",
    "ray_platform.warehouse.load",
    "ray_platform.risk",
    "ray_platform.risk.data",
    "ray_platform.reports",
    "features.engineering",
    "features.online",
    "models.retrain",
    "models.train",
)


def preload() -> None:
    """Import every module the steps import lazily, before the job joins the cluster.

    On one machine both local Ray nodes share a session folder, and joining the cluster makes
    the worker node unpack the job's package again over the driver's working directory (see
    ``jobs/_runtime.connect``); a module first imported during that moment is briefly missing
    (``ModuleNotFoundError: ray_platform.governance.crypto`` in a first step). Imported before,
    it is already in ``sys.modules``.
    """
    import importlib

    for name in STEP_MODULES:
        importlib.import_module(name)


def daily_dag() -> Dag:
    """The platform's daily DAG."""
    return Dag(
        [
            Step("ingest", ingest),
            Step("silver", silver, ("ingest",)),
            Step("gold", gold, ("silver",)),
            Step("warehouse", warehouse, ("gold",)),
            Step("risk", risk, ("warehouse",), applies=_weekday),
            Step("reports", reports, ("warehouse", "risk"), applies=_weekday),
            Step("features", features, ("silver",)),
            Step("retrain", retrain, ("features",)),
        ]
    )


def daily_runner(options: DailyOptions) -> DagRunner:
    """A runner of :func:`daily_dag` recording into the lake of ``options.settings``."""
    from ray_platform.tables import table_store

    tables = table_store(options.settings)

    def version(name: str) -> int | None:
        try:
            return tables.version(name) if tables.exists(name) else None
        except PlatformError:
            return None

    return DagRunner(daily_dag(), RunLog(tables), versions=version, options=options)
