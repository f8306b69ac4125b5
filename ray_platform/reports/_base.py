"""What every report shares: its inputs pinned at a table version, its output folder, its run row.

A report reads silver, gold and ``_system`` tables through DuckDB over pyarrow datasets (zero
copy), each pinned at the version current when the report started, so the figures and the
versions it records always match. It writes its files under
``<lake>/reports/<name>/<date>/`` through the storage seam, then one row in
``_system/report_runs`` and one lineage event.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from ray_platform.errors import ConfigError
from ray_platform.lake import layout
from ray_platform.lineage import DatasetRef
from ray_platform.settings import Settings
from ray_platform.storage import Storage, storage_for
from ray_platform.tables import TableStore, table_store

REPORT_RUNS = layout.system_table("report_runs")
REPORTS_ROOT = "reports"
_CONFIG_DIR = Path(__file__).resolve().parent

REPORT_RUNS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("business_date", pa.date32()),
        ("run_id", pa.string()),
        ("status", pa.string()),  # OK or FAILED
        ("seconds", pa.float64()),
        ("files", pa.string()),  # JSON list of lake-relative paths
        ("error", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@cache
def load_config(name: str) -> dict[str, Any]:
    """A YAML configuration file of this package (``capital``, ``risk_weights``, ``firm``)."""
    import yaml

    path = _CONFIG_DIR / f"{name}.yaml"
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read report configuration {path}: {exc}") from None


@dataclass
class ReportResult:
    """One report run: where its files are, how long it took, its headline figures."""

    name: str
    business_date: str
    run_id: str
    status: str = "OK"
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)  # lake-relative paths
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the job's RESULT line and ``summary.json``)."""
        return {
            "name": self.name,
            "business_date": self.business_date,
            "run_id": self.run_id,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "files": self.files,
            "summary": self.summary,
            "error": self.error,
        }


class ReportContext:
    """A report's inputs (pinned tables in one DuckDB connection) and its output folder."""

    def __init__(self, name: str, day: dt.date, settings: Settings, run_id: str) -> None:
        import duckdb

        self.name = name
        self.day = day
        self.settings = settings
        self.run_id = run_id
        self.store: TableStore = table_store(settings)
        self.storage: Storage = storage_for(settings.lake_uri, settings.s3_endpoint_url)
        self.out_dir = f"{REPORTS_ROOT}/{name}/{day.isoformat()}"
        self.inputs: dict[str, DatasetRef] = {}
        self.files: list[str] = []
        self.started = time.perf_counter()
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")

    def close(self) -> None:
        """Release the DuckDB connection."""
        self.con.close()

    def use(self, path: str, alias: str) -> bool:
        """Expose table ``path`` as view ``alias``, pinned at its current version.

        Returns False (and registers nothing) when the table does not exist.
        """
        if not self.store.exists(path):
            return False
        version = self.store.version(path)
        self.con.register(alias, self.store.dataset(path, version))
        self.inputs[alias] = DatasetRef(path, version)
        return True

    def sql(self, query: str, **params: object) -> pa.Table:
        """Run ``query`` (``$name`` parameters) and return the result as Arrow."""
        rel = self.con.sql(query, params=params or None)
        return rel.to_arrow_table() if rel is not None else pa.table({})

    def write(self, file_name: str, data: bytes | str) -> str:
        """Write one output file into the report's folder; returns its lake-relative path."""
        path = f"{self.out_dir}/{file_name}"
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with self.storage.open(path, "wb") as fh:
            fh.write(raw)
        self.files.append(path)
        return path

    def elapsed(self) -> float:
        """Seconds since the report started."""
        return time.perf_counter() - self.started


def record_run(store: TableStore, result: ReportResult) -> None:
    """Append the run's row to ``_system/report_runs``."""
    row = {
        "name": result.name,
        "business_date": dt.date.fromisoformat(result.business_date),
        "run_id": result.run_id,
        "status": result.status,
        "seconds": result.seconds,
        "files": json.dumps(result.files),
        "error": result.error,
        "recorded_at": dt.datetime.now(dt.UTC),
    }
    store.write(REPORT_RUNS, pa.Table.from_pylist([row], schema=REPORT_RUNS_SCHEMA))


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as RFC 4180 CSV text with a header line (values quoted only when needed)."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
