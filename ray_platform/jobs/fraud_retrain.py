"""The daily fraud retrain: Ray Train, MLflow logging, registry and promotion gate.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.fraud_retrain --date 2026-01-25

Trains on the window in ``models/config/fraud_xgb.yaml`` ending on ``--date`` (the last week is
the holdout), registers a new ``fraud-xgb`` version as ``challenger`` and moves ``champion``
only if the gate passes. Prints one ``RESULT {json}`` line; a window that cannot train exits
non-zero with one line saying why, the champion untouched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from ray_platform.jobs._runtime import connect, run_job


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, join the cluster, retrain, print RESULT."""
    from models.retrain import retrain
    from models.train import TrainConfig
    from ray_platform.errors import PlatformError
    from ray_platform.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.fraud_retrain")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--config", default=None, help="hyperparameters YAML")
    parser.add_argument("--training-days", type=int, default=None)
    args = parser.parse_args(argv)
    settings = get_settings()
    config = TrainConfig.load(args.config or settings.fraud_config)
    if args.training_days:
        config = config.model_copy(update={"training_days": args.training_days})
    connect(settings)
    try:
        result = retrain(args.date, settings, config=config)
    except PlatformError as exc:
        print(f"fraud_retrain: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.exit_code)
    print("RESULT " + json.dumps({"job": "fraud_retrain", **result}, default=str), flush=True)


if __name__ == "__main__":
    sys.exit(run_job("fraud_retrain", main))
