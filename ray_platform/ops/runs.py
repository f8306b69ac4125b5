"""The DAG's run records: one row per step state change in the Delta table ``_system/dag_runs``.

Append-only on purpose: a step's history (running, failed, retried in a later run, succeeded) is
kept whole, and a killed job leaves its ``running`` row behind, which is how a later run and
``gbank status`` can tell the step never finished. The latest row of a (date, step) is its state.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.tables import TableStore

DAG_RUNS = "_system/dag_runs"
DONE = frozenset({"succeeded", "not_applicable"})
"""Statuses that let dependants run and that a plain rerun skips."""

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("business_date", pa.string()),
        ("step", pa.string()),
        ("status", pa.string()),
        ("attempts", pa.int64()),
        ("started_at", _TS),
        ("ended_at", _TS),
        ("rows", pa.int64()),
        ("table_versions", pa.string()),
        ("error", pa.string()),
        ("detail", pa.string()),
        ("recorded_ns", pa.int64()),
    ]
)


@dataclass(frozen=True)
class StepRecord:
    """One state of one step of one DAG run."""

    run_id: str
    business_date: dt.date
    step: str
    status: str
    attempts: int
    started_at: dt.datetime
    ended_at: dt.datetime | None = None
    rows: int | None = None
    table_versions: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    detail: dict[str, object] = field(default_factory=dict)
    recorded_ns: int = 0

    def row(self) -> dict[str, object]:
        """The record as a row of :data:`SCHEMA`."""
        return {
            "run_id": self.run_id,
            "business_date": self.business_date.isoformat(),
            "step": self.step,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "rows": self.rows,
            "table_versions": json.dumps(self.table_versions, sort_keys=True),
            "error": self.error,
            "detail": json.dumps(self.detail, sort_keys=True, default=str),
            "recorded_ns": self.recorded_ns or time.time_ns(),
        }

    @classmethod
    def from_row(cls, r: dict[str, object]) -> StepRecord:
        """A record back from a row of the table."""
        return cls(
            run_id=str(r["run_id"]),
            business_date=dt.date.fromisoformat(str(r["business_date"])),
            step=str(r["step"]),
            status=str(r["status"]),
            attempts=int(r["attempts"] or 0),  # type: ignore[call-overload]
            started_at=r["started_at"],  # type: ignore[arg-type]
            ended_at=r["ended_at"],  # type: ignore[arg-type]
            rows=r["rows"],  # type: ignore[arg-type]
            table_versions=json.loads(str(r["table_versions"] or "{}")),
            error=r["error"],  # type: ignore[arg-type]
            detail=json.loads(str(r["detail"] or "{}")),
            recorded_ns=int(r["recorded_ns"]),  # type: ignore[call-overload]
        )


class RunLog:
    """Reads and appends the run records in a lake (one Delta commit per record)."""

    def __init__(self, tables: TableStore, name: str = DAG_RUNS) -> None:
        self.tables, self.name = tables, name

    def append(self, record: StepRecord) -> None:
        """Append one record."""
        self.tables.write(self.name, pa.Table.from_pylist([record.row()], schema=SCHEMA))

    def records(self, business_date: dt.date | None = None) -> list[StepRecord]:
        """Every record (of one date), oldest first."""
        if not self.tables.exists(self.name):
            return []
        ds = self.tables.dataset(self.name)
        flt = None if business_date is None else pc.field("business_date") == str(business_date)
        rows = ds.to_table(filter=flt).sort_by("recorded_ns").to_pylist()
        return [StepRecord.from_row(r) for r in rows]

    def latest(self, business_date: dt.date) -> dict[str, StepRecord]:
        """The latest record of every step of ``business_date`` (its current state)."""
        return {r.step: r for r in self.records(business_date)}

    def last_runs(self, n: int = 5, business_date: dt.date | None = None) -> list[list[StepRecord]]:
        """The last ``n`` DAG runs (newest first), each as its final record per step."""
        runs: dict[str, dict[str, StepRecord]] = {}
        for r in self.records(business_date):
            runs.setdefault(r.run_id, {})[r.step] = r
        ordered = sorted(runs.values(), key=lambda s: max(r.recorded_ns for r in s.values()))
        return [list(s.values()) for s in reversed(ordered[-n:])] if n > 0 else []
