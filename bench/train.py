"""Plain ``xgboost.train`` against Ray Train ``XGBoostTrainer`` on the same data and rounds.

    .venv/bin/python bench/train.py --rows 500000 --rounds 100

Needs the local Ray cluster (``gbank cluster up``). Writes ``bench/results/train.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.views import MODEL_FEATURES
from models.train import TrainConfig, time_split, train_local, train_ray

RUN_DATE = dt.date(2026, 1, 28)


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(0, 1, (rows, len(MODEL_FEATURES))).astype("float32"),
                      columns=list(MODEL_FEATURES))  # fmt: skip
    logit = -6 + 2.0 * df["amount_zscore"] + 1.5 * df["card_txn_count_1h"]
    df["is_fraud"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    start = pd.Timestamp(RUN_DATE - dt.timedelta(days=27), tz="UTC")
    df["transaction_ts"] = start + pd.to_timedelta(np.sort(rng.random(rows)) * 28, unit="D")
    return df


def main() -> None:
    import ray

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=500_000)
    p.add_argument("--rounds", type=int, default=100)
    p.add_argument("--out", default="bench/results/train.json")
    a = p.parse_args()
    cfg = TrainConfig(num_boost_round=a.rounds, early_stopping_rounds=a.rounds + 1,
                      params={"max_depth": 6, "eta": 0.1, "max_bin": 256})  # fmt: skip
    split = time_split(frame(a.rows), RUN_DATE, cfg)
    load_before = os.getloadavg()
    local = train_local(split, cfg)
    # The local cluster runs without Ray's token auth (see services/ray_cluster.py); a driver
    # that finds ~/.ray/auth_token would otherwise try token auth and its actors never start.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address="auto", log_to_driver=False)
    began = time.monotonic()
    distributed = train_ray(split, cfg)
    wall = time.monotonic() - began
    result = {
        "command": " ".join([".venv/bin/python", *sys.argv]),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.platform()}",
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "rows": a.rows, "train_rows": len(split.train), "features": len(MODEL_FEATURES),
        "rounds": a.rounds,
        "xgboost_train_s": round(local.seconds, 2),
        "ray_train_xgboosttrainer_s": round(distributed.seconds, 2),
        "ray_train_wall_s": round(wall, 2),
        "ratio": round(distributed.seconds / local.seconds, 2),
        "notes": "xgboost.train: nthread=1 in-process; Ray Train: 2 workers x 1 CPU on the local "
        "2-node cluster, one report at the end. Timings include Ray Train's fixed start-up "
        "(worker group, dataset shards), which dominates small data.",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
