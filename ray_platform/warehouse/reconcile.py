"""Silver against warehouse: row counts and amount sums per fact, UTC date and currency.

Every check is appended to ``_system/warehouse_reconciliation`` (the date's earlier rows are
replaced, one commit), then any difference raises :class:`~ray_platform.errors.DataQualityError`
naming the table, date and currency, so the load fails instead of publishing.

>>> reconcile([dt.date(2026, 1, 5)], settings)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

from ray_platform.errors import DataQualityError
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import table_store
from ray_platform.warehouse import model as m
from ray_platform.warehouse._io import arrow

RECONCILIATION = layout.system_table("warehouse_reconciliation")


@dataclass(frozen=True)
class Check:
    """How one fact reconciles: the silver source, its amount and the warehouse's amount."""

    fact: str
    source: str
    silver_amount: str
    warehouse_amount: str
    currency: str = "currency"


CHECKS = (
    Check("fact_transactions", "card_transactions", "amount", "amount"),
    Check("fact_trades", "trades", "price * quantity", "notional"),
    Check("fact_customer_interactions", "interactions", "duration_s", "duration_s", "'n/a'"),
)

SCHEMA = pa.schema(
    [
        ("business_date", pa.date32()),
        ("fact_table", pa.string()),
        ("currency", pa.string()),
        ("silver_rows", pa.int64()),
        ("warehouse_rows", pa.int64()),
        ("silver_amount", pa.decimal128(38, 6)),
        ("warehouse_amount", pa.decimal128(38, 6)),
        ("ok", pa.bool_()),
        ("run_id", pa.string()),
        ("checked_at", m.TS),
    ]
)


def compare(con: object, days: list[dt.date]) -> pa.Table:
    """Per fact, date and currency: both sides' counts and sums (views must be registered).

    ``con`` is a DuckDB connection with the silver sources and warehouse facts registered under
    their bare names.
    """
    parts = []
    for day, c in ((d, c) for d in days for c in CHECKS):
        sql = f"""
        WITH s AS (
            SELECT {c.currency} AS currency, count(*) AS n,
                   sum({c.silver_amount})::DECIMAL(38, 6) AS a
            FROM {c.source} WHERE year = $y AND month = $m AND day = $dd GROUP BY 1),
        w AS (
            SELECT {c.currency} AS currency, count(*) AS n,
                   sum({c.warehouse_amount})::DECIMAL(38, 6) AS a
            FROM {c.fact} WHERE business_date = $d GROUP BY 1)
        SELECT $d::DATE AS business_date, '{c.fact}' AS fact_table,
               coalesce(s.currency, w.currency) AS currency,
               coalesce(s.n, 0) AS silver_rows, coalesce(w.n, 0) AS warehouse_rows,
               coalesce(s.a, 0) AS silver_amount, coalesce(w.a, 0) AS warehouse_amount
        FROM s FULL OUTER JOIN w ON s.currency = w.currency ORDER BY 3
        """
        params = {"d": day, "y": day.year, "m": day.month, "dd": day.day}
        parts.append(arrow(con, sql, params))
    return pa.concat_tables(parts)


def record(
    diffs: pa.Table, days: list[dt.date], run_id: str, settings: Settings | None = None
) -> None:
    """Write the checks of ``days`` to ``_system/warehouse_reconciliation`` and raise on any gap."""
    store = table_store(settings or get_settings())
    ok = [
        r["silver_rows"] == r["warehouse_rows"] and r["silver_amount"] == r["warehouse_amount"]
        for r in diffs.to_pylist()
    ]
    now = dt.datetime.now(dt.UTC)
    data = pa.table(
        {
            **{n: diffs.column(n) for n in diffs.column_names},
            "ok": ok,
            "run_id": [run_id] * diffs.num_rows,
            "checked_at": [now] * diffs.num_rows,
        }
    ).cast(SCHEMA)
    if days:
        listed = ", ".join(f"'{d.isoformat()}'" for d in days)
        if store.exists(RECONCILIATION):
            store.write(
                RECONCILIATION, data, mode="overwrite", predicate=f"business_date IN ({listed})"
            )
        else:
            store.write(RECONCILIATION, data)
    bad = [r for r, good in zip(diffs.to_pylist(), ok, strict=True) if not good]
    if bad:
        lines = "; ".join(
            f"{r['fact_table']} {r['business_date']} {r['currency']}: "
            f"silver {r['silver_rows']} rows / "
            f"{r['silver_amount']}, warehouse {r['warehouse_rows']} rows / {r['warehouse_amount']}"
            for r in bad[:10]
        )
        raise DataQualityError(
            f"warehouse does not reconcile with silver ({len(bad)} gaps): {lines}"
        )
