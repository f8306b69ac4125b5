"""The daily warehouse load: dimensions, facts, reconciliation, aggregates, for one date.

``load_warehouse(D)`` looks at the UTC dates ``D-1 .. D+1`` (a landing day's card transactions
fall on three UTC dates) and rebuilds a fact's partition only when its silver partition's files
changed since the last successful load (``_system/warehouse_loads``), or when a dimension now
resolves some of its unknown members (the fix-up of late-arriving facts). Every table gets at
most one Delta commit per load, none when its rows would not change, so rerunning a date
changes nothing. Facts are reconciled with silver before any aggregate is written; a
difference fails the load.

>>> report = load_warehouse("2026-01-05", settings)  # doctest: +SKIP
>>> report.tables["fact_transactions"].rows  # doctest: +SKIP
2841
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import pyarrow as pa

from ray_platform.lake import layout
from ray_platform.lake.bronze import new_run_id
from ray_platform.lake.standardise import as_date
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import TableStore, table_store
from ray_platform.warehouse import dimensions as dims
from ray_platform.warehouse import facts as fx
from ray_platform.warehouse import marts, reconcile
from ray_platform.warehouse import model as m
from ray_platform.warehouse._io import arrow, fingerprint, same_rows

log = logging.getLogger(__name__)
LOADS = layout.system_table("warehouse_loads")
LOADS_SCHEMA = pa.schema(
    [
        ("business_date", pa.date32()),
        ("source", pa.string()),
        ("fingerprint", pa.string()),
        ("run_id", pa.string()),
        ("loaded_at", m.TS),
    ]
)
LOOKBACK_DAYS = 1
"""UTC dates either side of the business date a load considers."""


@dataclass
class WarehouseReport:
    """What one load did, per table, and how it reconciled."""

    business_date: str
    run_id: str
    dates: list[str] = field(default_factory=list)  # UTC dates whose facts were (re)built
    tables: dict[str, dims.DimResult] = field(default_factory=dict)
    reconciliation: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    def run_events(self, job: str = "warehouse_load") -> list[RunEvent]:
        """One lineage event per table written (for :func:`ray_platform.lineage.record`)."""
        return [
            RunEvent(
                run_id=self.run_id,
                job=job,
                step=f"warehouse.{r.table}",
                status="COMPLETE",
                inputs=r.inputs,
                outputs=(DatasetRef(m.warehouse_table(r.table), r.version, r.rows),),
                business_date=self.business_date,
            )
            for r in self.tables.values()
            if r.version is not None
        ]

    def summary(self) -> dict[str, object]:
        """Headline figures, JSON-ready."""
        return {
            "run_id": self.run_id,
            "business_date": self.business_date,
            "dates": self.dates,
            "written": {t: r.rows for t, r in self.tables.items() if r.version is not None},
            "unchanged": sorted(t for t, r in self.tables.items() if r.version is None),
            "reconciled": len(self.reconciliation),
            "seconds": round(self.seconds, 2),
        }


def load_warehouse(
    business_date: str | dt.date,
    settings: Settings | None = None,
    run_id: str | None = None,
    *,
    force: bool = False,
    dimensions: bool = True,
) -> WarehouseReport:
    """Load ``business_date``; raises ``DataQualityError`` when the facts do not reconcile.

    ``force`` rebuilds the facts of every considered date even if silver did not change;
    ``dimensions=False`` skips the dimension loads (facts are keyed to the dimensions as they are).
    """
    import duckdb

    start = time.perf_counter()
    s = settings or get_settings()
    store = table_store(s)
    day = as_date(business_date)
    report = WarehouseReport(day.isoformat(), run_id or new_run_id())
    window = [day + dt.timedelta(days=i) for i in range(-LOOKBACK_DAYS, LOOKBACK_DAYS + 1)]
    silver = dims.Silver(store)
    for name in ("card_transactions", "trades", "interactions"):
        silver.get(name)

    if dimensions:
        for r in dims.load_calendars(store):
            report.tables[r.table] = r
        for r in dims.load_type1(store, silver, window):
            report.tables[r.table] = r
        report.tables["dim_customer"] = dims.load_dim_customer(store, silver, window)
        report.tables["dim_account"] = dims.load_dim_account(store, silver, day, window)

    con = duckdb.connect()
    try:
        for name, ds in silver.datasets.items():
            con.register(name, ds)
        for spec in m.DIMENSIONS:
            if store.exists(spec.path):
                con.register(spec.name, store.dataset(spec.path))
        stored = _stored_fingerprints(store, window)
        prints: list[dict[str, object]] = []
        built: set[dt.date] = set()
        for spec in fx.FACT_BUILDS:
            result, days, fps = _load_fact(con, store, silver, spec, window, stored, force)
            report.tables[spec.table.name] = result
            prints += fps
            built |= days
        report.dates = sorted(d.isoformat() for d in built)
        for spec in fx.FACT_BUILDS:
            if store.exists(spec.table.path):
                con.register(spec.table.name, store.dataset(spec.table.path))
            else:
                con.register(
                    spec.table.name,
                    pa.table({c.name: pa.array([], c.type) for c in spec.table.columns}),
                )
        checked = sorted(set(window) | built)
        diffs = reconcile.compare(con, checked)
        report.reconciliation = diffs.to_pylist()
        reconcile.record(diffs, checked, report.run_id, s)
        _save_fingerprints(store, prints, report.run_id)
        risk = m.FACT_RISK_METRICS.path
        if store.exists(risk):
            con.register("fact_risk_metrics", store.dataset(risk))
        for agg in marts.AGGREGATES:
            if agg.period == "quarter" and not store.exists(risk):
                continue
            report.tables[agg.table.name] = _load_aggregate(con, store, agg, sorted(built | {day}))
    finally:
        con.close()
    report.seconds = time.perf_counter() - start
    return report


def _stored_fingerprints(
    store: TableStore, window: list[dt.date]
) -> dict[tuple[str, dt.date], str]:
    if not store.exists(LOADS):
        return {}
    import pyarrow.compute as pc

    rows = store.dataset(LOADS).to_table(filter=pc.field("business_date").isin(window))
    return {(r["source"], r["business_date"]): r["fingerprint"] for r in rows.to_pylist()}


def _save_fingerprints(store: TableStore, prints: list[dict[str, object]], run_id: str) -> None:
    if not prints:
        return
    now = dt.datetime.now(dt.UTC)
    data = pa.Table.from_pylist(
        [{**p, "run_id": run_id, "loaded_at": now} for p in prints], schema=LOADS_SCHEMA
    )
    if not store.exists(LOADS):
        store.write(LOADS, data)
        return
    keys = " OR ".join(
        f"(business_date = '{p['business_date']}' AND source = '{p['source']}')" for p in prints
    )
    store.write(LOADS, data, mode="overwrite", predicate=keys)


def _load_fact(con, store, silver, spec, window, stored, force):  # type: ignore[no-untyped-def]
    """Rebuild the fact's changed or fixable dates in one commit; returns result, dates, prints."""
    table = spec.table
    result = dims.DimResult(table.name, inputs=(*silver.ref(spec.source),))
    source = silver.datasets.get(spec.source)
    if source is None:
        return result, set(), []
    prints = {d: fingerprint(source, d) for d in window}
    todo = {d for d in window if force or stored.get((spec.source, d)) != prints[d]}
    exists = store.exists(table.path)
    if exists:
        con.register(table.name, store.dataset(table.path))
        if all(n in {s.name for s in m.DIMENSIONS if store.exists(s.path)} for n in spec.dims):
            todo |= {r[0] for r in con.execute(spec.fixup).fetchall()}
    parts, changed = [], []
    for d in sorted(todo):
        params = {"d": d, "dk": m.date_key(d), "y": d.year, "m": d.month, "dd": d.day}
        new = m.conform(arrow(con, spec.sql, params), table)
        old = store.dataset(table.path).to_table(filter=_eq_date(d)) if exists else None
        if old is not None and same_rows(m.conform(old, table), new):
            continue
        parts.append(new)
        changed.append(d)
    if changed:
        data = pa.concat_tables(parts)
        listed = ", ".join(f"'{d.isoformat()}'" for d in changed)
        if exists:
            result.version = store.write(
                table.path,
                data,
                mode="overwrite",
                partition_by=["business_date"],
                predicate=f"business_date IN ({listed})",
            )
        else:
            result.version = store.write(table.path, data, partition_by=["business_date"])
        result.rows = data.num_rows
    fps = [
        {"business_date": d, "source": spec.source, "fingerprint": prints[d]}
        for d in window
        if stored.get((spec.source, d)) != prints[d]
    ]
    return result, todo, fps


def _eq_date(d: dt.date):  # type: ignore[no-untyped-def]
    import pyarrow.compute as pc

    return pc.field("business_date") == pa.scalar(d, pa.date32())


def _period(agg: marts.AggSpec, d: dt.date) -> tuple[str, dt.date, dt.date, str]:
    """The partition value, first and last date, and the partition predicate of ``d``'s period."""
    col = agg.table.partition_by[0]
    if agg.period == "day":
        return d.isoformat(), d, d, f"{col} = '{d.isoformat()}'"
    if agg.period == "month":
        lo = d.replace(day=1)
        hi = (lo + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        part = f"{d.year}-{d.month:02d}"
    elif agg.period == "quarter":
        q = (d.month - 1) // 3
        lo = dt.date(d.year, 3 * q + 1, 1)
        hi = (lo + dt.timedelta(days=95)).replace(day=1) - dt.timedelta(days=1)
        part = f"{d.year}-Q{q + 1}"
    else:
        lo, hi, part = dt.date(d.year, 1, 1), dt.date(d.year, 12, 31), str(d.year)
        return part, lo, hi, f"{col} = {part}"
    return part, lo, hi, f"{col} = '{part}'"


def _load_aggregate(
    con, store: TableStore, agg: marts.AggSpec, days: list[dt.date]
) -> dims.DimResult:  # type: ignore[no-untyped-def]
    """Recompute ``agg``'s partitions that ``days`` fall in; one commit for those that changed."""
    import pyarrow.compute as pc

    table = agg.table
    result = dims.DimResult(
        table.name,
        inputs=tuple(
            DatasetRef(m.warehouse_table(t), store.version(m.warehouse_table(t)))
            for t in agg.inputs
            if store.exists(m.warehouse_table(t))
        ),
    )
    periods = {}
    for d in days:
        part, lo, hi, pred = _period(agg, d)
        periods[part] = (lo, hi, pred)
    exists = store.exists(table.path)
    parts, preds = [], []
    col = table.partition_by[0]
    for part, (lo, hi, pred) in sorted(periods.items()):
        new = m.conform(arrow(con, agg.sql, {"lo": lo, "hi": hi, "part": part}), table)
        if exists:
            if agg.period == "day":
                value = pa.scalar(lo, pa.date32())
            else:
                value = pa.scalar(
                    int(part) if col == "year" else part, table.schema.field(col).type
                )
            old = store.dataset(table.path).to_table(filter=pc.field(col) == value)
            if same_rows(m.conform(old, table), new):
                continue
        parts.append(new)
        preds.append(pred)
    if parts:
        data = pa.concat_tables(parts)
        if exists:
            result.version = store.write(
                table.path, data, mode="overwrite", partition_by=[col], predicate=" OR ".join(preds)
            )
        else:
            result.version = store.write(table.path, data, partition_by=[col])
        result.rows = data.num_rows
    return result
