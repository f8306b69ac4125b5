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

from ray_platform.contracts.model import Classification
from ray_platform.contracts.reference import CARD_CHANNELS, FX_BASES
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
class GoldColumn:
    """One column a gold query yields: its name, Arrow type and classification."""

    name: str
    type: pa.DataType
    classification: Classification | None = None


@dataclass(frozen=True)
class GoldSpec:
    """One gold table: its name, inputs, query, and the columns the query yields.

    ``columns`` (names, types, classifications) is what the catalog registers; a test checks
    it against the tables a run writes.
    """

    name: str
    inputs: tuple[str, ...]
    sql: str
    columns: tuple[GoldColumn, ...] = ()
    description: str = ""


_D, _S, _I64, _I32 = pa.date32(), pa.string(), pa.int64(), pa.int32()
_F, _B, _MONEY = pa.float64(), pa.bool_(), pa.decimal128(38, 2)
_TS = pa.timestamp("us", tz="UTC")
INTERNAL: Classification = "internal"
CONFIDENTIAL: Classification = "confidential"


def _cols(*cols: tuple[str, pa.DataType, Classification]) -> tuple[GoldColumn, ...]:
    return (GoldColumn("business_date", _D, INTERNAL), *(GoldColumn(*c) for c in cols))


GOLD_TABLES: tuple[GoldSpec, ...] = (
    GoldSpec(
        "daily_customer_summary", ("card_transactions", "customers"), q.DAILY_CUSTOMER_SUMMARY,
        _cols(
            ("customer_id", _S, INTERNAL), ("txn_count", _I64, INTERNAL),
            ("total_amount_reporting", _MONEY, INTERNAL),
            ("avg_amount_reporting", _MONEY, INTERNAL),
            ("max_amount_reporting", _MONEY, INTERNAL), ("distinct_merchants", _I64, INTERNAL),
            ("distinct_countries", _I64, INTERNAL), ("foreign_txn_count", _I64, INTERNAL),
            ("fraud_count", _I64, INTERNAL),
            *((f"{c}_count", _I64, INTERNAL) for c in CARD_CHANNELS),
            ("first_txn_ts", _TS, INTERNAL), ("last_txn_ts", _TS, INTERNAL),
        ),
        "Card spend per customer and business date, in the reporting currency.",
    ),
    GoldSpec(
        "daily_merchant_stats", ("card_transactions",), q.DAILY_MERCHANT_STATS,
        _cols(
            ("merchant_id", _S, INTERNAL), ("merchant_name", _S, INTERNAL),
            ("mcc", _S, INTERNAL), ("merchant_country", _S, INTERNAL),
            ("txn_count", _I64, INTERNAL), ("total_amount_reporting", _MONEY, INTERNAL),
            ("avg_amount_reporting", _MONEY, INTERNAL), ("fraud_count", _I64, INTERNAL),
            ("fraud_rate", _F, INTERNAL), ("distinct_cards", _I64, INTERNAL),
        ),
        "Card volume, spend and fraud per merchant and business date.",
    ),
    GoldSpec(
        "daily_mcc_stats", ("card_transactions",), q.DAILY_MCC_STATS,
        _cols(
            ("mcc", _S, INTERNAL), ("merchant_country", _S, INTERNAL),
            ("txn_count", _I64, INTERNAL), ("total_amount_reporting", _MONEY, INTERNAL),
            ("fraud_count", _I64, INTERNAL), ("fraud_rate", _F, INTERNAL),
        ),
        "Card volume, spend and fraud per merchant category, country and business date.",
    ),
    GoldSpec(
        "daily_desk_activity", ("trades", "fx_rates"), q.DAILY_DESK_ACTIVITY,
        _cols(
            ("desk", _S, INTERNAL), ("trades", _I64, INTERNAL), ("buy_count", _I64, INTERNAL),
            ("sell_count", _I64, INTERNAL), ("gross_notional_reporting", _MONEY, INTERNAL),
            ("unconverted_trades", _I64, INTERNAL), ("net_quantity", _I64, INTERNAL),
            ("distinct_instruments", _I64, INTERNAL),
            ("distinct_counterparties", _I64, INTERNAL),
        ),
        "Trading activity per desk and business date, notional in the reporting currency.",
    ),
    GoldSpec(
        "positions_valued", ("positions", "instruments", "prices", "fx_rates"),
        q.POSITIONS_VALUED,
        _cols(
            ("desk", _S, INTERNAL), ("isin", _S, INTERNAL), ("asset_class", _S, INTERNAL),
            ("quantity", _I64, INTERNAL), ("close", pa.decimal128(18, 6), INTERNAL),
            ("price_date", _D, INTERNAL), ("stale", _B, INTERNAL), ("currency", _S, INTERNAL),
            ("market_value", _MONEY, INTERNAL), ("market_value_reporting", _MONEY, INTERNAL),
            ("priced", _B, INTERNAL),
        ),
        "Each desk's positions valued at the latest close, with stale and unpriced flags.",
    ),
    GoldSpec(
        "customer_features", ("customers", "accounts", "card_transactions"),
        q.CUSTOMER_FEATURES,
        _cols(
            ("customer_id", _S, INTERNAL), ("home_country", _S, INTERNAL),
            ("segment", _S, INTERNAL), ("kyc_risk_rating", _S, CONFIDENTIAL),
            ("status", _S, INTERNAL), ("account_age_days", _I32, INTERNAL),
            ("txn_count_30d", _I64, INTERNAL), ("amount_30d", _MONEY, INTERNAL),
            ("avg_amount_30d", _F, INTERNAL), ("std_amount_30d", _F, INTERNAL),
            ("distinct_merchants_30d", _I64, INTERNAL),
        ),
        "Per customer and business date: profile and 30-day card spend (analytics features).",
    ),
)  # fmt: skip
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
            report.tables[spec.name] = _build(con, store, spec, pinned, params, day, s)
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
    settings: Settings | None = None,
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
    if settings is not None:  # classified columns encrypted at rest
        from ray_platform.governance.crypto import encrypt_columns

        data = encrypt_columns(data, layout.gold_table(spec.name), settings)
    result.version = store.write(
        layout.gold_table(spec.name),
        data,
        mode="overwrite",
        partition_by=["business_date"],
        predicate=f"business_date = '{day.isoformat()}'",
    )
    return result
