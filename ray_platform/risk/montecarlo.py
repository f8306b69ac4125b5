"""Monte Carlo VaR: correlated normal or Student-t factor shocks, full revaluation, in blocks.

Paths are cut into blocks of ``block_size``. Block ``b`` draws its numbers from its own
generator, ``SeedSequence(entropy=seed, spawn_key=(b,))`` (the ``b``-th child that
``SeedSequence(seed).spawn`` would give), so a block's P&L depends only on the run seed and
``b``: however blocks are grouped into Ray tasks, and whatever the number of workers, the run
gives the same numbers. Results are put back together in block order.

Per block: ``Z`` standard normal (paths x factors), shocks ``X = Z L'`` with ``L`` the
Cholesky factor of the (repaired) factor covariance; Student-t shocks are the same ``X``
scaled per path by ``sqrt((dof - 2) / W)``, ``W`` chi-square with ``dof`` degrees of freedom
(a multivariate t with the same covariance). The 10-day horizon scales the 1-day shocks by
sqrt(10) and revalues in full. Each block keeps only P&L per desk per path, so memory stays
at one block's worth of instrument values whatever the number of paths.

Inside Ray the blocks run as tasks (one per worker, ``num_cpus=1``, and ``num_gpus=1`` when the
cluster reports a GPU: the revaluation then runs on CuPy or PyTorch, see :mod:`.gpu`). Without
Ray, or with ``use_ray=False``, they run in this process.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ray_platform.errors import InvalidArgument
from ray_platform.risk.gpu import Backend, cluster_has_gpu, select_backend
from ray_platform.risk.pricing import PricingModel

DISTRIBUTIONS = ("normal", "student_t")


@dataclass(frozen=True)
class MCSpec:
    """What to simulate."""

    paths: int = 20_000
    block_size: int = 5_000
    seed: int = 20_260_101
    distributions: tuple[str, ...] = DISTRIBUTIONS
    horizons: tuple[int, ...] = (1, 10)
    dof: float = 5.0

    def __post_init__(self) -> None:
        if self.paths < 1 or self.block_size < 1:
            raise InvalidArgument("paths and block_size must be positive")
        if bad := set(self.distributions) - set(DISTRIBUTIONS):
            raise InvalidArgument(f"unknown distributions {sorted(bad)}; use {DISTRIBUTIONS}")
        if self.dof <= 2:
            raise InvalidArgument("Student-t needs dof > 2 for a finite variance")

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return math.ceil(self.paths / self.block_size)


@dataclass
class MCResult:
    """P&L per desk per path for every (distribution, horizon), and how the run went."""

    pnl: dict[tuple[str, int], np.ndarray]
    stats: dict[str, Any] = field(default_factory=dict)


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The generator of block ``block``: independent of how many blocks or workers there are."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


def run_block(
    model: PricingModel, chol: np.ndarray, spec: MCSpec, block: int, backend: Backend
) -> dict[tuple[str, int], np.ndarray]:
    """Simulate and revalue one block; P&L per desk (block paths x desks) per variant."""
    m = min(spec.block_size, spec.paths - block * spec.block_size)
    rng = block_rng(spec.seed, block)
    z = rng.standard_normal((m, chol.shape[0]))
    w = rng.chisquare(spec.dof, m) if "student_t" in spec.distributions else None
    x = backend.asarray(z) @ backend.asarray(chol).T
    out = {}
    for dist in spec.distributions:
        xd = x if dist == "normal" else x * backend.asarray(np.sqrt((spec.dof - 2) / w))[:, None]
        for h in spec.horizons:
            scaled = xd if h == 1 else xd * math.sqrt(h)
            out[(dist, h)] = backend.to_numpy(model.pnl(scaled, backend))
    return out


def run_blocks(
    model: PricingModel, chol: np.ndarray, spec: MCSpec, blocks: list[int], want_gpu: bool
) -> tuple[list[dict[tuple[str, int], np.ndarray]], dict[str, Any]]:
    """Run ``blocks`` in order in this process; also report the backend, time and peak RSS."""
    backend = select_backend(want_gpu)
    started = time.perf_counter()
    results = [run_block(model, chol, spec, b, backend) for b in blocks]
    stats = {
        "backend": backend.name,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    return results, stats


_remote_blocks = None


def _remote():
    global _remote_blocks
    if _remote_blocks is None:
        import ray

        _remote_blocks = ray.remote(run_blocks)
    return _remote_blocks


def simulate(
    model: PricingModel,
    chol: np.ndarray,
    spec: MCSpec,
    workers: int | None = None,
    use_ray: bool | None = None,
    want_gpu: bool | None = None,
) -> MCResult:
    """Simulate every block, on Ray tasks when Ray is initialised (or ``use_ray``)."""
    import ray

    if use_ray is None:
        use_ray = ray.is_initialized()
    if want_gpu is None:
        want_gpu = use_ray and cluster_has_gpu()
    n_blocks = spec.n_blocks
    if workers is None:
        workers = int(ray.cluster_resources().get("CPU", 1)) if use_ray else 1
    workers = max(1, min(int(workers), n_blocks))
    groups = [g.tolist() for g in np.array_split(np.arange(n_blocks), workers)]
    started = time.perf_counter()
    if use_ray:
        model_ref, chol_ref = ray.put(model), ray.put(chol)
        task = _remote().options(num_cpus=1, num_gpus=1 if want_gpu else 0)
        answers = ray.get([task.remote(model_ref, chol_ref, spec, g, want_gpu) for g in groups])
    else:
        answers = [run_blocks(model, chol, spec, g, want_gpu) for g in groups]
    blocks = [r for results, _ in answers for r in results]
    pnl = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
    stats = {
        "paths": spec.paths,
        "blocks": n_blocks,
        "workers": workers,
        "ray": use_ray,
        "backend": answers[0][1]["backend"],
        "wall_s": time.perf_counter() - started,
        "task_seconds": [a[1]["seconds"] for a in answers],
        "worker_peak_rss_mb": max(a[1]["peak_rss_mb"] for a in answers),
    }
    return MCResult(pnl, stats)
