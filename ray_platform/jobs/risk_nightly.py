"""The nightly risk job: VaR, ES, stress tests and backtests for one business date.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.risk_nightly --date 2026-01-07

Reads the silver positions and market data, runs :func:`ray_platform.risk.run_risk` (Monte
Carlo blocks as Ray tasks) and replaces that date's rows in ``gold/warehouse/fact_risk_metrics``,
``fact_stress_results`` and ``fact_backtests`` (and the data-quality tables under
``gold/risk/``), so a rerun is idempotent. Records one lineage event and prints one
``RESULT {json}`` line with the headline figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.jobs._runtime import connect, run_job
from ray_platform.lake.layout import gold_table
from ray_platform.lineage import DatasetRef, RunEvent, record
from ray_platform.risk import EngineConfig, MCSpec, load_market, load_portfolio, run_risk
from ray_platform.risk.data import input_refs
from ray_platform.settings import get_settings
from ray_platform.tables import TableStore, table_store

METRICS = gold_table("warehouse/fact_risk_metrics")
STRESS = gold_table("warehouse/fact_stress_results")
BACKTESTS = gold_table("warehouse/fact_backtests")
UNPRICED = gold_table("risk/unpriced_positions")
ISSUES = gold_table("risk/market_data_issues")


def _replace_date(tables: TableStore, name: str, data: pa.Table, as_of: dt.date) -> DatasetRef:
    """Overwrite ``as_of``'s rows of ``name`` with ``data`` in one commit."""
    if tables.exists(name):
        version = tables.write(name, data, mode="overwrite", predicate=f"as_of = '{as_of}'")
    else:
        version = tables.write(name, data, mode="overwrite")
    return DatasetRef(name, version, data.num_rows)


def headline(metrics: pa.Table, method: str, confidence: float, horizon: int) -> float | None:
    """The firm-wide VaR for one method, confidence and 1-day/10-day horizon."""
    m = metrics.filter(
        pc.and_(
            pc.and_(pc.equal(metrics["scope"], "firm"), pc.equal(metrics["method"], method)),
            pc.and_(
                pc.equal(metrics["confidence"], confidence),
                pc.equal(metrics["horizon_days"], horizon),
            ),
        )
    )
    return round(float(m["var"][0].as_py()), 2) if m.num_rows else None


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, join the cluster, run the engine, write the tables, print RESULT."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.risk_nightly")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--paths", type=int, default=20_000, help="Monte Carlo paths")
    parser.add_argument("--block-size", type=int, default=5_000, help="paths per block")
    parser.add_argument("--seed", type=int, default=20_260_101, help="run seed")
    parser.add_argument("--workers", type=int, default=None, help="Ray tasks (default: CPUs)")
    parser.add_argument("--scenarios", default=None, help="stress scenarios YAML file")
    args = parser.parse_args(argv)

    settings = get_settings()
    connect(settings)
    tables = table_store(settings)
    run_id = f"risk-{args.date}-{uuid.uuid4().hex[:8]}"
    inputs = input_refs(tables)
    portfolio = load_portfolio(args.date, tables)
    market = load_market(args.date, tables, settings.reporting_currency)
    spec = MCSpec(paths=args.paths, block_size=args.block_size, seed=args.seed)
    config = EngineConfig(mc=spec, scenarios_path=args.scenarios)
    run = run_risk(portfolio, market, config, run_id=run_id, workers=args.workers)
    outputs = tuple(
        _replace_date(tables, name, data, args.date)
        for name, data in (
            (METRICS, run.metrics),
            (STRESS, run.stress),
            (BACKTESTS, run.backtests),
            (UNPRICED, run.unpriced),
            (ISSUES, run.issues),
        )
    )
    record(
        [
            RunEvent(run_id, "risk_nightly", "risk", "COMPLETE", inputs, outputs,
                     business_date=args.date.isoformat())
        ],
        tables,
    )  # fmt: skip
    mc = run.report["monte_carlo"]
    result = {
        "job": "risk_nightly",
        "run_id": run_id,
        "as_of": args.date.isoformat(),
        "currency": market.base_currency,
        "metrics_rows": run.metrics.num_rows,
        "stress_rows": run.stress.num_rows,
        "backtest_rows": run.backtests.num_rows,
        "unpriced_positions": run.unpriced.num_rows,
        "market_data_issues": run.issues.num_rows,
        "covariance_repaired": run.report["covariance_repaired"],
        "var_99_1d": {
            m: headline(run.metrics, m, 0.99, 1)
            for m in ("historical", "parametric_ewma", "mc_normal", "mc_student_t")
        },
        "es_975_1d_historical": float(
            run.metrics.filter(
                pc.and_(
                    pc.and_(
                        pc.equal(run.metrics["scope"], "firm"),
                        pc.equal(run.metrics["method"], "historical"),
                    ),
                    pc.and_(
                        pc.equal(run.metrics["confidence"], 0.975),
                        pc.equal(run.metrics["horizon_days"], 1),
                    ),
                )
            )["es"][0].as_py()
        ),
        "mc": {k: mc[k] for k in ("paths", "blocks", "workers", "backend", "ray")},
        "mc_wall_s": round(mc["wall_s"], 3),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(run_job("risk_nightly", main))
