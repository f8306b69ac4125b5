"""A small lake for the query API and dashboard tests: hand-written warehouse and _system rows.

Only what the dashboard reads, with known numbers: VaR/ES for the firm and two desks over
three dates, stress results and backtests for two dates (the latest must win), transaction
labels for the fraud precision, data-quality results of two runs (the latest must win) and two
daily-DAG runs (one failed step). Built once per session under its own home.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import struct
import tempfile
import time
from functools import cache

import pyarrow as pa

from ray_platform.api.fraud import FraudFeed, FraudRecords
from ray_platform.governance.dq import _RESULTS_SCHEMA, RESULTS_TABLE
from ray_platform.ops.runs import RunLog, StepRecord
from ray_platform.risk.engine import BACKTEST_SCHEMA, METRICS_SCHEMA, STRESS_SCHEMA
from ray_platform.settings import Settings, load_settings
from ray_platform.tables import table_store

DATES = (dt.date(2026, 1, 5), dt.date(2026, 1, 6), dt.date(2026, 1, 7))
LATEST = DATES[-1]
DESKS = ("FX", "RATES")
# VaR by (date, desk or FIRM); ES is 1.25 x VaR.
VAR = {
    (d, desk): base * (1 + 0.1 * i)
    for i, d in enumerate(DATES)
    for desk, base in (("FIRM", 1_000_000.0), ("FX", 600_000.0), ("RATES", 550_000.0))
}
STRESS = {"equity_crash": -2_500_000.0, "rates_up_200bp": -1_200_000.0, "usd_rally": 300_000.0}
ZONES = {"FIRM": "green", "FX": "amber", "RATES": "red"}
# Alerted transactions and their warehouse label (None: not loaded yet, still to review).
LABELS = {"T1": 1, "T2": 0, "T3": 1, "T4": 1, "T5": None, "T6": None}


def _metrics() -> pa.Table:
    rows = [
        {"as_of": d, "scope": "firm" if desk == "FIRM" else "desk",
         "desk": None if desk == "FIRM" else desk, "method": "historical", "confidence": 0.99,
         "horizon_days": 1, "horizon_method": "none", "var": v, "es": v * 1.25,
         "component_var": v, "currency": "EUR", "paths": 0, "window": 250, "run_id": "t"}
        for (d, desk), v in VAR.items()
    ]  # fmt: skip
    # another method, confidence and horizon the trend must leave out
    rows += [r | {"method": "parametric", "var": 9e9} for r in rows[:3]]
    rows += [r | {"horizon_days": 10, "var": 8e9} for r in rows[:3]]
    return pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)


def _stress() -> pa.Table:
    rows = [
        {"as_of": d, "scenario": n, "scenario_type": "hypothetical", "scope": "firm",
         "desk": None, "pnl": p * (1 if d == LATEST else 7), "currency": "EUR", "run_id": "t"}
        for d in DATES[-2:]
        for n, p in STRESS.items()
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=STRESS_SCHEMA)


def _backtests() -> pa.Table:
    rows = [
        {"as_of": d, "scope": "firm" if desk == "FIRM" else "desk",
         "desk": None if desk == "FIRM" else desk, "method": "historical", "confidence": 0.99,
         "days": 250, "exceptions": {"green": 2, "amber": 6, "red": 11}[z] if d == LATEST else 0,
         "zone": z if d == LATEST else "green"}
        for d in DATES[-2:]
        for desk, z in ZONES.items()
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=BACKTEST_SCHEMA)


def _transactions() -> pa.Table:
    ids = [t for t, label in LABELS.items() if label is not None] + ["T-other"]
    return pa.table(
        {
            "transaction_id": ids,
            "business_date": [LATEST] * len(ids),
            "amount": [100.0] * len(ids),
            "is_fraud": pa.array([LABELS.get(t) or 0 for t in ids], pa.int32()),
        }
    )


def _dq() -> pa.Table:
    old = dt.datetime(2026, 1, 7, 6, tzinfo=dt.UTC)
    new = dt.datetime(2026, 1, 7, 7, tzinfo=dt.UTC)
    rows = []
    for at, fresh_ok in ((old, False), (new, True)):
        for table, hours in (("silver/transactions", 2.5), ("silver/trades", 30.0)):
            rows += [
                {"run_id": str(at), "checked_at": at, "day": LATEST, "table": table,
                 "check": "freshness", "passed": fresh_ok and hours < 26, "metric": hours,
                 "threshold": 26.0, "detail": ""},
                {"run_id": str(at), "checked_at": at, "day": LATEST, "table": table,
                 "check": "completeness", "passed": True, "metric": 0.999, "threshold": 0.99,
                 "detail": ""},
            ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=_RESULTS_SCHEMA)


def _runs(settings: Settings) -> None:
    log = RunLog(table_store(settings))
    t0 = dt.datetime(2026, 1, 7, 1, tzinfo=dt.UTC)
    for k, (run, day, failed) in enumerate((("run-a", DATES[1], False), ("run-b", LATEST, True))):
        for i, step in enumerate(("lake", "warehouse", "risk")):
            started = t0 + dt.timedelta(hours=k, minutes=10 * i)
            status = "failed" if failed and step == "risk" else "succeeded"
            log.append(StepRecord(run, day, step, "running", 1, started))
            log.append(StepRecord(run, day, step, status, 1, started,
                                  started + dt.timedelta(minutes=5)))  # fmt: skip


@cache
def build() -> Settings:
    """The lake's settings (a fresh home of its own)."""
    s = load_settings(home=tempfile.mkdtemp(prefix="api_home_"))
    store = table_store(s)
    store.write("gold/warehouse/fact_risk_metrics", _metrics(), mode="overwrite")
    store.write("gold/warehouse/fact_stress_results", _stress(), mode="overwrite")
    store.write("gold/warehouse/fact_backtests", _backtests(), mode="overwrite")
    store.write("gold/warehouse/fact_transactions", _transactions(), mode="overwrite")
    store.write(RESULTS_TABLE, _dq(), mode="overwrite")
    _runs(s)
    return s


def totp_now(secret: str, at: float | None = None) -> str:
    """The current 6-digit TOTP code of a base32 secret (RFC 6238, as an authenticator app)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class StubFeed(FraudFeed):
    """Known scores and alerts instead of the Kafka topics."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "scores-stub", "alerts-stub")
        hour = 1_767_780_000_000  # 2026-01-07 10:00 UTC
        decisions = {"T1": "decline", "T2": "review", "T3": "review", "T4": "decline",
                     "T5": "review", "T6": "review"}  # fmt: skip
        self.alerts = [
            {"transaction_id": t, "fraud_probability": 0.6 + 0.05 * i, "decision": d,
             "model_version": "7", "ts_ms": hour + (i // 4) * 3_600_000}
            for i, (t, d) in enumerate(decisions.items())
        ]  # fmt: skip
        low = [
            {"transaction_id": f"L{i}", "fraud_probability": 0.01 * i, "decision": "approve",
             "model_version": "7", "ts_ms": hour}
            for i in range(10)
        ]  # fmt: skip
        self.scores = low + self.alerts

    def records(self) -> FraudRecords:
        return FraudRecords(self.scores, self.alerts)
