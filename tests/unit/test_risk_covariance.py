from __future__ import annotations

import numpy as np
import pytest

from ray_platform.risk.covariance import equal_weight_covariance, ewma_covariance, nearest_pd

pytestmark = pytest.mark.unit


def test_ewma_matches_the_riskmetrics_recursion():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 3)) * 0.01
    lam = 0.94
    s = np.outer(x[0], x[0])
    for r in x[1:]:
        s = lam * s + (1 - lam) * np.outer(r, r)
    # the recursion's weights, renormalised to sum to one, are what ewma_covariance uses
    w = (1 - lam) * lam ** np.arange(399, -1, -1)
    w[0] = lam**399
    assert np.allclose(
        ewma_covariance(x, lam) * 1.0, (x * (w / w.sum())[:, None]).T @ x, rtol=1e-10
    )
    assert np.allclose(ewma_covariance(x, lam), s, rtol=1e-6)
    assert np.allclose(equal_weight_covariance(x), x.T @ x / 400)


def test_pd_matrix_is_left_alone():
    a = np.array([[2.0, 0.5], [0.5, 1.0]])
    out, rep = nearest_pd(a)
    assert not rep.repaired and np.array_equal(out, a)


def test_non_pd_matrix_is_repaired_and_reported():
    corr = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    vols = np.array([0.1, 0.2, 0.3])
    cov = corr * np.outer(vols, vols)
    assert np.linalg.eigvalsh(cov)[0] < 0
    out, rep = nearest_pd(cov)
    assert rep.repaired and rep.min_eigenvalue_before < 0 < rep.min_eigenvalue_after
    np.linalg.cholesky(out)  # does not raise
    assert np.allclose(np.diag(out), vols**2)  # volatilities are kept
    assert np.allclose(out, out.T)
    assert "repaired" in rep.summary()
    # nearest: no farther than the crude fix of clipping eigenvalues
    vals, vecs = np.linalg.eigh(corr)
    clipped = (vecs * np.clip(vals, 1e-10, None)) @ vecs.T
    d = np.sqrt(np.diag(clipped))
    crude = clipped / np.outer(d, d)
    assert np.linalg.norm(out / np.outer(vols, vols) - corr) <= np.linalg.norm(crude - corr) + 1e-9


def test_rank_deficient_and_zero_variance_factors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 8))
    x[:, 3] = 0.0  # a factor that never moved
    cov = equal_weight_covariance(x)
    out, rep = nearest_pd(cov)
    assert rep.repaired and rep.zero_variance_factors == 1
    np.linalg.cholesky(out)
