"""OpenLineage-style run events, kept in the lake itself.

Every job run appends one event per step: the job, the run id, its inputs and outputs (each a
dataset name with the table version read or written, or a bronze file with its sha256), the code
version and row counts. :func:`upstream` walks the events backwards from a table to the bronze
files it came from, which is what ``gbank lineage TABLE`` prints.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from ray_platform.tables import TableStore

LINEAGE_TABLE = "_system/lineage"
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DatasetRef:
    """A dataset a run read or wrote: a table (with version) or a bronze file (with sha256)."""

    name: str
    version: int | None = None
    rows: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RunEvent:
    """One completed (or failed) step of a job run."""

    run_id: str
    job: str
    step: str
    status: str  # COMPLETE or FAIL, as in OpenLineage
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()
    business_date: str | None = None
    triggered_by: str = field(default_factory=lambda: os.environ.get("USER", "unknown"))
    code_version: str = field(default_factory=lambda: code_version())
    event_time: datetime = field(default_factory=lambda: datetime.now(UTC))


@lru_cache(maxsize=1)
def code_version() -> str:
    """The code's version: ``GBANK_CODE_VERSION`` if set (jobs get it), else the git commit."""
    if env := os.environ.get("GBANK_CODE_VERSION"):
        return env
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=_PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job", pa.string()),
        ("step", pa.string()),
        ("status", pa.string()),
        ("business_date", pa.string()),
        ("triggered_by", pa.string()),
        ("code_version", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("inputs", pa.string()),  # JSON list of DatasetRef
        ("outputs", pa.string()),
    ]
)


def record(events: list[RunEvent], tables: TableStore) -> None:
    """Append run events to the lineage table in one commit."""
    if not events:
        return
    rows = []
    for e in events:
        row = asdict(e)
        row["inputs"] = json.dumps([asdict(d) for d in e.inputs])
        row["outputs"] = json.dumps([asdict(d) for d in e.outputs])
        rows.append(row)
    tables.write(LINEAGE_TABLE, pa.Table.from_pylist(rows, schema=_SCHEMA))


def events(tables: TableStore) -> list[RunEvent]:
    """Every recorded event, oldest first."""
    if not tables.exists(LINEAGE_TABLE):
        return []
    out = []
    for row in tables.read(LINEAGE_TABLE).sort_by("event_time").to_pylist():
        row["inputs"] = tuple(DatasetRef(**d) for d in json.loads(row["inputs"]))
        row["outputs"] = tuple(DatasetRef(**d) for d in json.loads(row["outputs"]))
        out.append(RunEvent(**row))
    return out


@dataclass
class LineageNode:
    """A dataset and the runs that produced it, with their own inputs, recursively."""

    dataset: str
    runs: list[tuple[RunEvent, list[LineageNode]]] = field(default_factory=list)


def upstream(table: str, tables: TableStore, max_depth: int = 8) -> LineageNode:
    """The tree of runs and inputs that produced ``table`` (latest run per business date)."""
    all_events = [e for e in events(tables) if e.status == "COMPLETE"]

    def walk(name: str, depth: int) -> LineageNode:
        node = LineageNode(name)
        if depth >= max_depth:
            return node
        latest: dict[str | None, RunEvent] = {}
        for e in all_events:
            if any(o.name == name for o in e.outputs):
                latest[e.business_date] = e  # events are oldest first: keep the last
        for e in latest.values():
            node.runs.append((e, [walk(i.name, depth + 1) for i in e.inputs]))
        return node

    return walk(table, 0)


def render(node: LineageNode, indent: str = "") -> list[str]:
    """The tree as indented text lines."""
    lines = [f"{indent}{node.dataset}"]
    for run, inputs in node.runs:
        lines.append(
            f"{indent}  <- {run.job}/{run.step} run {run.run_id} ({run.business_date}, "
            f"code {run.code_version}, by {run.triggered_by})"
        )
        for child in inputs:
            lines.extend(render(child, indent + "     "))
    return lines
