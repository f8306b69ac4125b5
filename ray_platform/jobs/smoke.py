"""A trivial job proving the cluster runs the project's code end to end.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
        python -m ray_platform.jobs.smoke

It runs one task on every node and a small Ray Data pipeline, then prints one JSON line that
the caller can check: the nodes that answered, the pipeline's sum and the lake the job sees.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys

import ray

from ray_platform.jobs._runtime import connect, run_job
from ray_platform.settings import get_settings


@ray.remote(num_cpus=0.1)
def _where() -> str:
    return ray.get_runtime_context().get_node_id()


def run(rows: int) -> dict[str, object]:
    """Touch every alive node and sum ``range(rows)`` squared through Ray Data."""
    nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    # One task pinned to each node proves the worker node runs project code too.
    answered = ray.get(
        [
            _where.options(
                scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                    node_id=n, soft=False
                )
            ).remote()
            for n in nodes
        ]
    )
    ds = ray.data.range(rows).map_batches(lambda b: {"sq": b["id"] ** 2}, batch_format="numpy")
    return {
        "job": "smoke",
        "nodes": len(nodes),
        "nodes_answered": len(set(answered)),
        "sum_of_squares": int(ds.sum("sq")),
        "lake_uri": get_settings().lake_uri,
        "driver_host": socket.gethostname(),
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, join the cluster and print the result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m ray_platform.jobs.smoke")
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    connect(get_settings())
    print("RESULT " + json.dumps(run(args.rows)), flush=True)


if __name__ == "__main__":
    sys.exit(run_job("smoke", main))
