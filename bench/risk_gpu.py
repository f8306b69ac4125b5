"""Benchmark on a GPU machine: the ``bench/risk.py`` portfolio at 10 million paths.

Run as ``.venv/bin/python bench/risk_gpu.py [--paths N]`` on a machine with a CUDA GPU and
CuPy or PyTorch installed; writes ``bench/results/risk_gpu.json`` with the card's name. It
revalues on the GPU in-process (blocks of 200,000 paths; random numbers still drawn on the
CPU per block, so the scenarios are exactly those of a CPU run) and checks the first block
against the NumPy revaluation. Without a usable GPU it exits with status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from risk import book, machine  # bench/risk.py, beside this script

from ray_platform.risk.gpu import gpu_name, numpy_backend, select_backend
from ray_platform.risk.measures import from_sample
from ray_platform.risk.montecarlo import MCSpec, run_block, simulate

RESULT = Path(__file__).parent / "results" / "risk_gpu.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paths", type=int, default=10_000_000)
    parser.add_argument("--block-size", type=int, default=200_000)
    args = parser.parse_args()
    backend = select_backend(True)
    if backend.name == "numpy":
        print(
            "no GPU: CuPy or PyTorch with a CUDA device is needed; nothing recorded",
            file=sys.stderr,
        )
        sys.exit(2)
    model, chol = book()
    spec = MCSpec(
        paths=args.paths,
        block_size=args.block_size,
        seed=1,
        distributions=("normal",),
        horizons=(1,),
    )
    check = MCSpec(
        paths=20_000, block_size=20_000, seed=1, distributions=("normal",), horizons=(1,)
    )
    on_gpu = run_block(model, chol, check, 0, backend)[("normal", 1)]
    on_cpu = run_block(model, chol, check, 0, numpy_backend())[("normal", 1)]
    max_rel = float(np.max(np.abs(on_gpu - on_cpu)) / np.max(np.abs(on_cpu)))
    started = time.perf_counter()
    res = simulate(model, chol, spec, use_ray=False, want_gpu=True)
    wall = time.perf_counter() - started
    fig = from_sample(res.pnl[("normal", 1)], 0.99)
    result = {
        "benchmark": "risk_monte_carlo_gpu",
        "command": ".venv/bin/python bench/risk_gpu.py",
        "gpu": gpu_name(),
        "backend": backend.name,
        "machine": machine(),
        "paths": args.paths,
        "block_size": args.block_size,
        "instruments": model.n_instruments,
        "wall_s": round(wall, 3),
        "path_instruments_per_s": round(args.paths * model.n_instruments / wall),
        "max_rel_diff_vs_numpy_first_block": max_rel,
        "firm_var_99_1d_eur": round(fig.var, 2),
        "firm_es_99_1d_eur": round(fig.es, 2),
    }
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
