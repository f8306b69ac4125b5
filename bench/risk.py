"""Benchmark: Monte Carlo VaR, 2,000 instruments (500 options), 100,000 paths, full revaluation.

Run as ``.venv/bin/python bench/risk.py [--paths N]``; writes ``bench/results/risk.json``.

The portfolio is synthetic (800 equities in four currencies, 500 bonds, 200 FX forwards, 500
options on 100 underlyings; 6 desks) with a known factor-model covariance, so the figures
measure simulation and revaluation, not estimation. Three runs of the same computation, same
seed: a single-process NumPy reference (BLAS limited to one thread, as in a Ray task), then
Ray with 1 worker and with 2 workers on an in-process Ray instance started here with
``ray.init(num_cpus=2, object_store_memory=500 MiB, include_dashboard=False)``. The three must
give identical P&L; the JSON records wall times, paths x instruments revalued per second and
peak resident memory of the driver and of the busiest worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from machine import machine

from ray_platform.risk.data import MarketData, Portfolio
from ray_platform.risk.factors import FactorPanel
from ray_platform.risk.measures import from_sample
from ray_platform.risk.montecarlo import MCSpec, simulate
from ray_platform.risk.pricing import compile_model

RESULT = Path(__file__).parent / "results" / "risk.json"
AS_OF = dt.date(2026, 1, 7)
DESKS = ("EQ_CASH", "EQ_DERIV", "RATES", "CREDIT", "FX", "TREASURY")


def book(seed: int = 42):
    """The synthetic portfolio, its compiled model and the Cholesky factor of its covariance."""
    rng = np.random.default_rng(seed)
    ccys = ("EUR", "USD", "GBP", "JPY")
    eq = [f"EQ{i:010d}" for i in range(800)]
    eq_ccy = [ccys[i % 4] for i in range(800)]
    under = eq[:100]
    rows, pos = [], []
    for i, isin in enumerate(eq):
        rows.append({"isin": isin, "asset_class": "equity", "currency": eq_ccy[i]})
        pos.append((DESKS[i % 2], isin, float(rng.integers(100, 20_000))))
    for i in range(500):
        isin = f"OP{i:010d}"
        u = under[i % 100]
        rows.append(
            {
                "isin": isin,
                "asset_class": "option",
                "currency": eq_ccy[i % 100],
                "underlying_isin": u,
                "strike": str(round(float(rng.uniform(80, 120)), 2)),
                "expiry": (AS_OF + dt.timedelta(days=int(rng.integers(30, 700)))).isoformat(),
                "option_type": "call" if i % 2 else "put",
            }
        )
        pos.append(("EQ_DERIV", isin, float(rng.integers(-500, 500))))
    for i in range(500):
        isin = f"BD{i:010d}"
        rows.append(
            {
                "isin": isin,
                "asset_class": "bond",
                "currency": ("EUR", "USD")[i % 2],
                "coupon": str(round(float(rng.uniform(0.5, 6)), 3)),
                "maturity": dt.date(
                    AS_OF.year + int(rng.integers(1, 31)), int(rng.integers(1, 13)), 15
                ).isoformat(),
            }
        )
        pos.append(
            (("RATES", "CREDIT", "TREASURY")[i % 3], isin, float(rng.integers(10_000, 5_000_000)))
        )
    for i in range(200):
        isin = f"FX{i:010d}"
        q = ccys[1 + i % 3]
        rows.append(
            {
                "isin": isin,
                "asset_class": "fx",
                "currency": q,
                "quote_currency": q,
                "base_currency": "EUR",
            }
        )
        pos.append((("FX", "TREASURY")[i % 2], isin, float(rng.integers(-1_000_000, 10_000_000))))
    keys = sorted({k for r in rows for k in r})
    instruments = pa.table({k: pa.array([r.get(k) for r in rows], pa.string()) for k in keys})
    positions = pa.table(
        {"desk": [p[0] for p in pos], "isin": [p[1] for p in pos], "quantity": [p[2] for p in pos]}
    )
    # today's factor levels
    names, levels = [], []
    for isin in eq:
        names.append(f"EQ:{isin}")
        levels.append(float(rng.uniform(20, 200)) if isin not in under else 100.0)
    for c, lv in (("USD", 1.09), ("GBP", 0.86), ("JPY", 160.0)):
        names.append(f"FX:{c}")
        levels.append(lv)
    for c, base in (("EUR", 0.022), ("USD", 0.042), ("GBP", 0.04), ("JPY", 0.006)):
        for k, t in enumerate(("3M", "1Y", "2Y", "5Y", "10Y", "30Y")):
            names.append(f"IR:{c}:{t}")
            levels.append(base + 0.002 * k)
    for u in under:
        for k, t in enumerate(("1M", "3M", "6M", "1Y")):
            names.append(f"VOL:{u}:{t}")
            levels.append(0.25 + 0.01 * k)
    order = np.argsort(names)
    names = [names[i] for i in order]
    lv = np.array(levels)[order]
    panel = FactorPanel([AS_OF], names, lv[None, :])
    # bond prices (the model fits each bond's spread to its close)
    bonds = [r["isin"] for r in rows if r["asset_class"] == "bond"]
    prices = pa.table(
        {"date": [AS_OF] * len(bonds), "isin": bonds, "close": rng.uniform(85, 115, len(bonds))}
    )
    empty = {"date": pa.array([], pa.date32())}
    market = MarketData.from_arrow(
        AS_OF,
        prices,
        pa.table(
            {
                **empty,
                "base": pa.array([], pa.string()),
                "quote": pa.array([], pa.string()),
                "rate": pa.array([], pa.float64()),
            }
        ),
        pa.table(
            {
                **empty,
                "currency": pa.array([], pa.string()),
                "tenor": pa.array([], pa.string()),
                "rate": pa.array([], pa.float64()),
            }
        ),
        pa.table(
            {
                **empty,
                "underlying_isin": pa.array([], pa.string()),
                "tenor": pa.array([], pa.string()),
                "vol": pa.array([], pa.float64()),
            }
        ),
    )
    model = compile_model(Portfolio.from_arrow(AS_OF, positions, instruments), market, panel)
    assert not model.unpriced and model.n_instruments == 2000, model.unpriced[:3]
    # a factor-model covariance: 10 common factors plus idiosyncratic noise, daily scale
    f = len(names)
    kinds = np.array([n.split(":")[0] for n in names])
    scale = np.select(
        [kinds == "EQ", kinds == "FX", kinds == "IR", kinds == "VOL"], [0.015, 0.005, 0.0005, 0.01]
    )
    b = rng.normal(size=(f, 10)) * 0.25
    corr = b @ b.T + np.eye(f)
    d = np.sqrt(np.diag(corr))
    cov = corr / np.outer(d, d) * np.outer(scale, scale)
    return model, np.linalg.cholesky(cov)


def timed(model, chol, spec, **kw):
    started = time.perf_counter()
    res = simulate(model, chol, spec, **kw)
    return time.perf_counter() - started, res


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--block-size", type=int, default=10_000)
    args = parser.parse_args()
    import ray
    from threadpoolctl import threadpool_limits

    model, chol = book()
    spec = MCSpec(
        paths=args.paths,
        block_size=args.block_size,
        seed=1,
        distributions=("normal",),
        horizons=(1,),
    )
    n = args.paths * model.n_instruments
    with threadpool_limits(1):  # a Ray task gets one BLAS thread; so does the reference
        ref_s, ref = timed(model, chol, spec, use_ray=False)
    driver_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=500 * 1024**2,
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        timed(
            model,
            chol,
            MCSpec(paths=2_000, block_size=1_000, distributions=("normal",), horizons=(1,)),
            workers=2,
        )  # warm workers
        one_s, one = timed(model, chol, spec, workers=1)
        two_s, two = timed(model, chol, spec, workers=2)
    finally:
        ray.shutdown()
    key = ("normal", 1)
    identical = bool(
        np.array_equal(ref.pnl[key], one.pnl[key]) and np.array_equal(ref.pnl[key], two.pnl[key])
    )
    fig = from_sample(ref.pnl[key], 0.99)

    def run(seconds, res):
        return {
            "wall_s": round(seconds, 3),
            "path_instruments_per_s": round(n / seconds),
            "paths_per_s": round(args.paths / seconds),
            "worker_peak_rss_mb": round(res.stats["worker_peak_rss_mb"], 1),
        }

    result = {
        "benchmark": "risk_monte_carlo",
        "command": ".venv/bin/python bench/risk.py"
        + (f" --paths {args.paths}" if args.paths != 100_000 else ""),
        "machine": machine("numpy"),
        "ray": {
            "version": ray.__version__,
            "cluster": "new local instance: ray.init(address='local', num_cpus=2, "
            "object_store_memory=500 MiB)",
        },
        "portfolio": {
            "instruments": model.n_instruments,
            **model.counts,
            "factors": model.n_factors,
            "desks": len(model.desks),
        },
        "paths": args.paths,
        "block_size": args.block_size,
        "blocks": spec.n_blocks,
        "revaluation": "full (Black-Scholes options, bonds from the curve), normal shocks, 1 day",
        "numpy_reference": {
            **run(ref_s, ref),
            "note": "single process, in-line blocks, 1 BLAS thread",
        },
        "ray_1_worker": run(one_s, one),
        "ray_2_workers": run(two_s, two),
        "ratio_ray_1_worker_over_numpy": round(one_s / ref_s, 3),
        "speedup_2_workers_over_1": round(one_s / two_s, 3),
        "driver_peak_rss_mb": round(driver_rss, 1),
        "identical_pnl_numpy_ray1_ray2": identical,
        "firm_var_99_1d_eur": round(fig.var, 2),
        "firm_es_99_1d_eur": round(fig.es, 2),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
