"""One small lake shared by the report tests, built once per session (no services).

Two business dates through ``run_lake_day`` (lineage recorded), then planted defects: a D2
trade with a bad ISIN check digit, one with a bad counterparty LEI, an unbalanced
reconciliation row, and (after a first Basel run without it) a hand-made
``fact_risk_metrics`` table.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.pipeline import run_lake_day
from ray_platform.reports import run_daily_reports, run_report
from ray_platform.risk.engine import METRICS_SCHEMA
from ray_platform.settings import load_settings
from ray_platform.tables import table_store

D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)
BAD_ISIN_TRADE, BAD_LEI_TRADE = "TR20260106999901", "TR20260106999902"
METRICS = "gold/warehouse/fact_risk_metrics"
# Firm-wide historical 99 % 10-day VaR by date (what the Basel report must use).
FIRM_VAR_10D = {dt.date(2026, 1, 1): 4.0e6, dt.date(2026, 1, 2): 5.0e6, D1: 6.0e6, D2: 3.0e6}


def _flip_last_digit(text: str) -> str:
    return text[:-1] + str((int(text[-1]) + 1) % 10)


def _metrics() -> pa.Table:
    rows = []
    for day, var in FIRM_VAR_10D.items():
        base = {
            "as_of": day,
            "method": "historical",
            "confidence": 0.99,
            "currency": "EUR",
            "horizon_method": "sqrt",
            "run_id": "t",
            "es": var * 1.2,
        }
        rows += [
            base | {"scope": "firm", "horizon_days": 10, "var": var, "window": 250},
            base | {"scope": "firm", "horizon_days": 10, "var": var * 0.9, "window": 500},
            base | {"scope": "firm", "horizon_days": 1, "var": var / 3.0, "window": 250},
            base | {"scope": "desk", "desk": "FX", "horizon_days": 10, "var": 9e9},
            base | {"scope": "firm", "horizon_days": 10, "var": 9e9, "confidence": 0.975},
            base | {"scope": "firm", "horizon_days": 10, "var": 9e9, "method": "parametric"},
        ]
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)


@cache
def build() -> dict:
    """The lake, and the reports run over it, as a dict the tests read."""
    home = tempfile.mkdtemp(prefix="reports_home_")
    settings = load_settings(home=home)
    generate_bank(
        settings.landing_uri, GeneratorConfig(customers=120, days=2, seed=7, history_days=5)
    )
    runs = {d: run_lake_day(d, settings, kafka_topics=(), use_ray=False) for d in (D1, D2)}
    store = table_store(settings)
    trades = store.read("silver/trades")
    d2 = trades.filter(pc.equal(trades["day"], 6)).slice(0, 2)
    bad_isin = d2.slice(0, 1)
    bad_isin = bad_isin.set_column(0, "trade_id", pa.array([BAD_ISIN_TRADE]))
    bad_isin = bad_isin.set_column(
        1, "isin", pa.array([_flip_last_digit(bad_isin["isin"][0].as_py())])
    )
    bad_lei = d2.slice(1, 1).set_column(0, "trade_id", pa.array([BAD_LEI_TRADE]))
    i = bad_lei.schema.get_field_index("counterparty_lei")
    bad_lei = bad_lei.set_column(
        i, "counterparty_lei", pa.array([_flip_last_digit(bad_lei[i][0].as_py())])
    )
    store.write("silver/trades", pa.concat_tables([bad_isin, bad_lei]))
    recon = store.read("_system/reconciliation").slice(0, 1).to_pylist()[0]
    recon |= {
        "run_id": runs[D2].run_id,
        "ingest_date": D2.isoformat(),
        "table": "positions",
        "read": 10,
        "written": 7,
        "quarantined": 1,
        "duplicates_dropped": 0,
        "balanced": False,
        "held": False,
    }
    store.write(
        "_system/reconciliation",
        pa.Table.from_pylist([recon], schema=store.read("_system/reconciliation").schema),
    )
    basel_without_var = run_report("basel3", D2, settings)
    store.write(METRICS, _metrics(), mode="overwrite")
    daily = run_daily_reports(D2, settings)
    return {
        "settings": settings,
        "store": store,
        "runs": runs,
        "daily": daily,
        "basel_without_var": basel_without_var,
    }


def read_file(settings, path: str) -> bytes:
    """A report file's bytes (``path`` relative to the lake root)."""
    from ray_platform.storage import storage_for

    with storage_for(settings.lake_uri).open(path) as fh:
        return fh.read()
