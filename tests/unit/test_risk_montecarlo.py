from __future__ import annotations

import numpy as np
import pytest

from ray_platform.errors import InvalidArgument
from ray_platform.risk.factors import build_panel
from ray_platform.risk.gpu import numpy_backend, select_backend
from ray_platform.risk.montecarlo import MCSpec, block_rng, run_blocks, simulate
from ray_platform.risk.pricing import DEFAULT_CURVE_PROXY, compile_model, needed_factors
from tests.unit.risk_inputs import small_book

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def model_and_chol():
    pf, mk, _ = small_book()
    panel = build_panel(mk, needed_factors(pf, mk, DEFAULT_CURVE_PROXY), 300)
    model = compile_model(pf, mk, panel)
    moves = panel.moves(1)
    cov = moves.T @ moves / len(moves) + np.eye(moves.shape[1]) * 1e-12
    return model, np.linalg.cholesky(cov)


def test_block_seeds_are_the_spawned_children():
    seq = np.random.SeedSequence(99).spawn(5)
    for b in range(5):
        want = np.random.Generator(np.random.PCG64(seq[b])).standard_normal(4)
        assert np.array_equal(block_rng(99, b).standard_normal(4), want)


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_same_numbers_whatever_the_number_of_workers(model_and_chol, workers):
    model, chol = model_and_chol
    spec = MCSpec(paths=5_500, block_size=1_000, seed=7)  # a short last block too
    one = simulate(model, chol, spec, workers=1, use_ray=False)
    many = simulate(model, chol, spec, workers=workers, use_ray=False)
    assert many.stats["workers"] == workers
    for key in one.pnl:
        assert one.pnl[key].shape == (5_500, len(model.desks))
        assert np.array_equal(one.pnl[key], many.pnl[key])


def test_blocks_do_not_depend_on_their_grouping(model_and_chol):
    model, chol = model_and_chol
    spec = MCSpec(paths=4_000, block_size=1_000, seed=3)
    together, _ = run_blocks(model, chol, spec, [0, 1, 2, 3], False)
    apart = [run_blocks(model, chol, spec, [b], False)[0][0] for b in (3, 1, 0, 2)]
    for b, got in zip((3, 1, 0, 2), apart, strict=True):
        for key in got:
            assert np.array_equal(got[key], together[b][key])


def test_student_t_has_fatter_tails_and_the_same_variance(model_and_chol):
    model, chol = model_and_chol
    mc = simulate(model, chol, MCSpec(paths=40_000, block_size=10_000, dof=4), use_ray=False)
    n, t = mc.pnl[("normal", 1)].sum(axis=1), mc.pnl[("student_t", 1)].sum(axis=1)
    assert np.quantile(-t, 0.999) > np.quantile(-n, 0.999)
    assert np.std(t) == pytest.approx(np.std(n), rel=0.1)
    ten = mc.pnl[("normal", 10)].sum(axis=1)
    assert np.std(ten) == pytest.approx(np.sqrt(10) * np.std(n), rel=0.1)


def test_backend_falls_back_to_numpy_without_a_gpu():
    assert select_backend(False).name == "numpy"
    assert select_backend(True).name in ("numpy", "cupy", "torch")
    assert numpy_backend().to_numpy(np.ones(2)).tolist() == [1.0, 1.0]


def test_bad_specs_are_refused():
    with pytest.raises(InvalidArgument):
        MCSpec(distributions=("cauchy",))
    with pytest.raises(InvalidArgument):
        MCSpec(dof=2)
