"""The gold run: one business date's aggregates, computed by DuckDB over silver, as Delta tables.

Each silver input is pinned at its current version, exposed to an in-memory DuckDB connection
as a pyarrow dataset (zero copy; each query's partition filter prunes to the date's files) and
reported with that version for lineage. Every gold table is written with one Delta commit that
overwrites that date only (``predicate="business_date = 'D'"``, partitioned by
``business_date``), so running a date twice leaves the same rows in a new version. A table
whose query yields no rows, or whose silver input does not exist yet, is not written: the
report says so and the run goes on. The SQL and its rules are in
:mod:`ray_platform.lake.gold_sql`.

>>> report = run_gold("2026-01-05", settings)  # doctest: +SKIP
>>> report.tables["daily_desk_activity"].rows  # doctest: +SKIP
5
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

import pyarrow as pa

from ray_platform.contracts.reference import FX_BASES
from ray_platform.lake import gold_sql as q
from ray_platform.lake import layout
from ray_platform.lake.bronze import new_run_id
from ray_platform.lake.standardise import as_date
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

FEATURE_WINDOW_DAYS = 30
"""Length of the rolling window of :data:`CUSTOMER_FEATURES`, the business date included."""


@dataclass(frozen=True)
class GoldSpec:
    """One gold table: its name, the silver tables it reads and the query that builds it."""

    name: str
    inputs: tuple[str, ...]
    sql: str


GOLD_TABLES: tuple[GoldSpec, ...] = (
    GoldSpec(
        "daily_customer_summary", ("card_transactions", "customers"), q.DAILY_CUSTOMER_SUMMARY
    ),
    GoldSpec("daily_merchant_stats", ("card_transactions",), q.DAILY_MERCHANT_STATS),
    GoldSpec("daily_mcc_stats", ("card_transactions",), q.DAILY_MCC_STATS),
    GoldSpec("daily_desk_activity", ("trades", "fx_rates"), q.DAILY_DESK_ACTIVITY),
    GoldSpec(
        "positions_valued",
        ("positions", "instruments", "prices", "fx_rates"),
        q.POSITIONS_VALUED,
    ),
    GoldSpec(
        "customer_features",
        ("customers", "accounts", "card_transactions"),
        q.CUSTOMER_FEATURES,
    ),
)
"""Every gold table, in the order a run writes them."""


@dataclass
class GoldTableResult:
    """What a run did to one gold table."""

    table: str
    rows: int = 0
    version: int | None = None
    inputs: tuple[DatasetRef, ...] = ()
    skipped: str | None = None  # why nothing was written, when nothing was

    @property
    def output(self) -> DatasetRef:
        """The table written, with its new version and the rows of this date."""
        return DatasetRef(layout.gold_table(self.table), self.version, self.rows)


@dataclass
class GoldReport:
    """What a gold run did, per table."""

    business_date: str
    run_id: str
    tables: dict[str, GoldTableResult] = field(default_factory=dict)
    seconds: float = 0.0

    def run_events(self, job: str = "gold") -> list[RunEvent]:
        """One lineage event per table written (for :func:`ray_platform.lineage.record`)."""
        return [
            RunEvent(
                run_id=self.run_id,
                job=job,
                step=f"gold.{r.table}",
                status="COMPLETE",
                inputs=r.inputs,
                outputs=(r.output,),
                business_date=self.business_date,
            )
            for r in self.tables.values()
            if r.version is not None
        ]


def run_gold(
    business_date: str | dt.date, settings: Settings | None = None, run_id: str | None = None
) -> GoldReport:
    """Build every gold table for ``business_date``; reruns replace that date's rows only."""
    import time

    import duckdb

    start = time.perf_counter()
    s = settings or get_settings()
    store = table_store(s)
    day = as_date(business_date)
    report = GoldReport(day.isoformat(), run_id or new_run_id())
    con = duckdb.connect()
    try:
        pinned = _register_inputs(con, store)
        params = {
            "d": day,
            "y": day.year,
            "m": day.month,
            "dd": day.day,
            "lo": day - dt.timedelta(days=FEATURE_WINDOW_DAYS - 1),
            "rc": s.reporting_currency,
            "base": FX_BASES[0],
        }
        for spec in GOLD_TABLES:
            report.tables[spec.name] = _build(con, store, spec, pinned, params, day)
    finally:
        con.close()
    report.seconds = time.perf_counter() - start
    return report


def _register_inputs(con: object, store: TableStore) -> dict[str, DatasetRef]:
    """Register every silver input that exists, pinned at its current version."""
    pinned: dict[str, DatasetRef] = {}
    for name in sorted({t for spec in GOLD_TABLES for t in spec.inputs}):
        path = layout.silver_table(name)
        if not store.exists(path):
            continue
        version = store.version(path)
        con.register(name, store.dataset(path, version))  # type: ignore[attr-defined]
        pinned[name] = DatasetRef(path, version)
    return pinned


def _build(
    con: object,
    store: TableStore,
    spec: GoldSpec,
    pinned: dict[str, DatasetRef],
    params: dict[str, object],
    day: dt.date,
) -> GoldTableResult:
    result = GoldTableResult(spec.name, inputs=tuple(pinned[t] for t in spec.inputs if t in pinned))
    missing = [t for t in spec.inputs if t not in pinned]
    if missing:
        result.skipped = f"silver input(s) {', '.join(missing)} do not exist"
        log.warning("gold %s %s: %s; nothing written", spec.name, day, result.skipped)
        return result
    used = {k: params[k] for k in set(re.findall(r"\$(\w+)", spec.sql))}
    data: pa.Table = con.sql(spec.sql, params=used).to_arrow_table()  # type: ignore[attr-defined]
    if data.num_rows == 0:
        result.skipped = "no input rows for this date"
        log.info("gold %s %s: %s; nothing written", spec.name, day, result.skipped)
        return result
    result.rows = data.num_rows
    result.version = store.write(
        layout.gold_table(spec.name),
        data,
        mode="overwrite",
        partition_by=["business_date"],
        predicate=f"business_date = '{day.isoformat()}'",
    )
    return result
