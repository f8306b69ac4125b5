"""SOX control evidence for one business date: what ran, on what, who ran it, and did it balance.

Sources, each read at a pinned version: ``_system/lineage`` (every run step recorded for the
business date, with inputs and outputs and their table versions or file hashes, who triggered
it and the code version), ``_system/reconciliation`` (every silver run of the ingest date,
reruns included), ``_system/bronze_manifest`` (files landed that date). Control exceptions:

- ``SOX-1 step failed``: a lineage step whose status is not ``COMPLETE``;
- ``SOX-2 unbalanced``: a reconciliation row where read != written + quarantined + duplicates;
- ``SOX-3 feed held``: a feed refused by a schema change (kept in bronze, not in silver);
- ``SOX-4 count error``: a bronze file whose records could not be counted on landing;
- ``SOX-5 no lineage``: a reconciled silver run with no lineage event for the date.

Files: ``runs.csv``, ``datasets.csv``, ``reconciliation.csv``, ``bronze.csv``,
``exceptions.csv``, ``summary.json``, ``summary.html``.
"""

from __future__ import annotations

import json
from typing import Any

from ray_platform.lake import layout
from ray_platform.lineage import LINEAGE_TABLE
from ray_platform.reports._base import ReportContext, csv_text
from ray_platform.reports.html import Section

RECONCILIATION = layout.system_table("reconciliation")
RUN_COLUMNS = [
    "run_id",
    "job",
    "step",
    "status",
    "triggered_by",
    "code_version",
    "event_time",
    "inputs",
    "outputs",
]
DATASET_COLUMNS = ["run_id", "job", "step", "direction", "dataset", "version", "rows", "sha256"]
RECON_COLUMNS = [
    "run_id",
    "ingest_date",
    "table",
    "read",
    "written",
    "quarantined",
    "duplicates_dropped",
    "balanced",
    "held",
    "recorded_at",
]
BRONZE_COLUMNS = ["source", "files", "records", "bytes", "count_errors"]
EXCEPTION_COLUMNS = ["control", "run_id", "subject", "detail"]


def _lineage(ctx: ReportContext) -> list[dict[str, Any]]:
    if not ctx.use(LINEAGE_TABLE, "lineage"):
        return []
    return ctx.sql(
        """SELECT run_id, job, step, status, triggered_by, code_version,
                  strftime(event_time, '%Y-%m-%dT%H:%M:%S.%fZ') AS event_time, inputs, outputs
           FROM lineage WHERE business_date = $d ORDER BY event_time, run_id, step""",
        d=ctx.day.isoformat(),
    ).to_pylist()


def _reconciliation(ctx: ReportContext) -> list[dict[str, Any]]:
    if not ctx.use(RECONCILIATION, "reconciliation"):
        return []
    return ctx.sql(
        """SELECT run_id, ingest_date, "table", "read", written, quarantined,
                  duplicates_dropped, balanced, held,
                  strftime(recorded_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS recorded_at
           FROM reconciliation WHERE ingest_date = $d ORDER BY recorded_at, "table" """,
        d=ctx.day.isoformat(),
    ).to_pylist()


def _bronze(ctx: ReportContext) -> list[dict[str, Any]]:
    if not ctx.use(layout.BRONZE_MANIFEST, "bronze_manifest"):
        return []
    return ctx.sql(
        """SELECT source, count(*) AS files, coalesce(sum(record_count), 0)::BIGINT AS records,
                  sum(size_bytes)::BIGINT AS bytes, count(count_error)::BIGINT AS count_errors,
                  list(bronze_path ORDER BY bronze_path)
                      FILTER (WHERE count_error IS NOT NULL) AS error_files
           FROM bronze_manifest WHERE ingest_date = $d GROUP BY source ORDER BY source""",
        d=ctx.day,
    ).to_pylist()


def control_exceptions(
    runs: list[dict[str, Any]], recon: list[dict[str, Any]], bronze: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every control exception found in the evidence (see the module docstring)."""
    out = []
    for r in runs:
        if r["status"] != "COMPLETE":
            out.append(
                {
                    "control": "SOX-1 step failed",
                    "run_id": r["run_id"],
                    "subject": f"{r['job']}/{r['step']}",
                    "detail": f"status {r['status']}",
                }
            )
    lineage_runs = {r["run_id"] for r in runs}
    for r in recon:
        if not r["balanced"]:
            detail = (
                f"read {r['read']} != written {r['written']} + quarantined "
                f"{r['quarantined']} + duplicates {r['duplicates_dropped']}"
            )
            out.append(
                {
                    "control": "SOX-2 unbalanced",
                    "run_id": r["run_id"],
                    "subject": r["table"],
                    "detail": detail,
                }
            )
        if r["held"]:
            out.append(
                {
                    "control": "SOX-3 feed held",
                    "run_id": r["run_id"],
                    "subject": r["table"],
                    "detail": "schema change refused; held in bronze",
                }
            )
    for run_id in sorted({r["run_id"] for r in recon} - lineage_runs):
        out.append(
            {
                "control": "SOX-5 no lineage",
                "run_id": run_id,
                "subject": "silver",
                "detail": "reconciled silver run has no lineage event for the date",
            }
        )
    for b in bronze:
        for path in b.get("error_files") or []:
            out.append(
                {
                    "control": "SOX-4 count error",
                    "run_id": "",
                    "subject": path,
                    "detail": "record count failed on landing",
                }
            )
    return out


def _datasets(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        for direction in ("inputs", "outputs"):
            for d in json.loads(r[direction] or "[]"):
                rows.append(
                    {
                        "run_id": r["run_id"],
                        "job": r["job"],
                        "step": r["step"],
                        "direction": direction[:-1],
                        "dataset": d["name"],
                        "version": d.get("version"),
                        "rows": d.get("rows"),
                        "sha256": d.get("sha256"),
                    }
                )
    return rows


def build(ctx: ReportContext) -> tuple[dict[str, Any], list[Section]]:
    """Collect the evidence, write its files, return the summary and HTML sections."""
    runs, recon, bronze = _lineage(ctx), _reconciliation(ctx), _bronze(ctx)
    datasets = _datasets(runs)
    exceptions = control_exceptions(runs, recon, bronze)
    run_rows = [
        r
        | {
            "inputs": len(json.loads(r["inputs"] or "[]")),
            "outputs": len(json.loads(r["outputs"] or "[]")),
        }
        for r in runs
    ]
    ctx.write("runs.csv", csv_text(run_rows, RUN_COLUMNS))
    ctx.write("datasets.csv", csv_text(datasets, DATASET_COLUMNS))
    ctx.write("reconciliation.csv", csv_text(recon, RECON_COLUMNS))
    ctx.write("bronze.csv", csv_text(bronze, BRONZE_COLUMNS))
    ctx.write("exceptions.csv", csv_text(exceptions, EXCEPTION_COLUMNS))
    run_ids = sorted({r["run_id"] for r in runs})
    summary = {
        "runs": len(run_ids),
        "steps": len(runs),
        "failed_steps": sum(1 for r in runs if r["status"] != "COMPLETE"),
        "triggered_by": sorted({r["triggered_by"] for r in runs}),
        "code_versions": sorted({r["code_version"] for r in runs}),
        "datasets_read": sum(1 for d in datasets if d["direction"] == "input"),
        "datasets_written": sum(1 for d in datasets if d["direction"] == "output"),
        "reconciliation_rows": len(recon),
        "unbalanced": sum(1 for r in recon if not r["balanced"]),
        "bronze_files": sum(b["files"] for b in bronze),
        "control_exceptions": len(exceptions),
        "controls_passed": not exceptions,
    }
    sections = [
        Section(
            "Controls",
            pairs=[
                ("All controls passed", not exceptions),
                ("Control exceptions", len(exceptions)),
                ("Runs", len(run_ids)),
                ("Steps", len(runs)),
                ("Triggered by", ", ".join(summary["triggered_by"]) or "-"),
                ("Code versions", ", ".join(summary["code_versions"]) or "-"),
            ],
        ),
        Section(
            "Control exceptions",
            columns=EXCEPTION_COLUMNS,
            rows=[[e[c] for c in EXCEPTION_COLUMNS] for e in exceptions],
            notes=() if exceptions else ("None.",),
        ),
        Section(
            "Pipeline steps",
            columns=["Run", "Job", "Step", "Status", "By", "Code", "In", "Out"],
            rows=[
                [
                    r["run_id"],
                    r["job"],
                    r["step"],
                    r["status"] == "COMPLETE",
                    r["triggered_by"],
                    r["code_version"],
                    r["inputs"],
                    r["outputs"],
                ]
                for r in run_rows
            ],
        ),
        Section(
            "Reconciliation",
            columns=["Run", "Table", "Read", "Written", "Quarantined", "Duplicates", "Balanced"],
            rows=[
                [
                    r["run_id"],
                    r["table"],
                    r["read"],
                    r["written"],
                    r["quarantined"],
                    r["duplicates_dropped"],
                    r["balanced"],
                ]
                for r in recon
            ],
        ),
        Section(
            "Bronze landing",
            columns=BRONZE_COLUMNS,
            rows=[[b[c] for c in BRONZE_COLUMNS] for b in bronze],
        ),
    ]
    return summary, sections
