"""Factor covariance: EWMA (RiskMetrics, lambda 0.94), equal weights, and nearest-PD repair.

Both estimators assume a zero mean daily move, as RiskMetrics does; over a year of daily
moves the mean is noise next to the volatility. A matrix that is not positive definite (more
factors than observations, a factor that never moved, rounding) is repaired by
:func:`nearest_pd`: Higham's (2002) alternating projections to the nearest correlation
matrix, eigenvalues floored at a small positive value, the original volatilities put back.
The repair is reported, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ewma_covariance(moves: np.ndarray, lam: float = 0.94) -> np.ndarray:
    """EWMA covariance of ``moves`` (observations x factors, oldest first), weights summing to 1."""
    n = moves.shape[0]
    w = (1 - lam) * lam ** np.arange(n - 1, -1, -1, dtype=np.float64)
    w /= w.sum()
    xw = moves * np.sqrt(w)[:, None]
    return xw.T @ xw


def equal_weight_covariance(moves: np.ndarray) -> np.ndarray:
    """Equally weighted (zero-mean) covariance of ``moves``."""
    return moves.T @ moves / moves.shape[0]


@dataclass(frozen=True)
class PDRepair:
    """What :func:`nearest_pd` did."""

    repaired: bool
    min_eigenvalue_before: float
    min_eigenvalue_after: float
    frobenius_change: float
    iterations: int
    zero_variance_factors: int

    def summary(self) -> str:
        """One line for the run report."""
        if not self.repaired:
            return "covariance positive definite; no repair"
        return (
            f"covariance not positive definite (min eigenvalue {self.min_eigenvalue_before:.3e}); "
            f"repaired to the nearest PD matrix in {self.iterations} iterations "
            f"(min eigenvalue {self.min_eigenvalue_after:.3e}, Frobenius change "
            f"{self.frobenius_change:.3e}, {self.zero_variance_factors} zero-variance factors)"
        )


def _is_pd(a: np.ndarray) -> bool:
    try:
        np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return False
    return True


def nearest_pd(
    cov: np.ndarray, eig_floor: float = 1e-10, max_iter: int = 100, tol: float = 1e-9
) -> tuple[np.ndarray, PDRepair]:
    """``cov`` if it is positive definite, else its repair; and the report."""
    cov = (cov + cov.T) / 2
    n = cov.shape[0]
    if n == 0:
        return cov, PDRepair(False, 0.0, 0.0, 0.0, 0, 0)
    min_before = float(np.linalg.eigvalsh(cov)[0])
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    zero = std <= 0
    if _is_pd(cov) and min_before > 0:
        return cov, PDRepair(False, min_before, min_before, 0.0, 0, 0)
    tiny = max(float(std.max()) * 1e-8, 1e-12) if std.size else 1e-12
    std = np.where(zero, tiny, std)
    corr = cov / np.outer(std, std)
    corr[zero, :] = 0.0
    corr[:, zero] = 0.0
    np.fill_diagonal(corr, 1.0)
    # Higham (2002): alternate projections onto the PSD cone and the unit-diagonal matrices,
    # with Dykstra's correction on the PSD step.
    y = corr.copy()
    ds = np.zeros_like(corr)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported after the loop)
        r = y - ds
        vals, vecs = np.linalg.eigh(r)
        x = (vecs * np.clip(vals, 0, None)) @ vecs.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        change = np.linalg.norm(y_new - y) / max(np.linalg.norm(y), 1.0)
        y = y_new
        if change < tol:
            break
    vals, vecs = np.linalg.eigh((y + y.T) / 2)
    vals = np.clip(vals, eig_floor, None)
    y = (vecs * vals) @ vecs.T
    d = np.sqrt(np.diag(y))
    y = y / np.outer(d, d)
    out = y * np.outer(std, std)
    out = (out + out.T) / 2
    jitter = eig_floor * float(np.mean(np.diag(out)))
    while not _is_pd(out):  # floating-point slack on nearly singular inputs
        out = out + np.eye(n) * jitter
        jitter *= 10
    min_after = float(np.linalg.eigvalsh(out)[0])
    return out, PDRepair(
        True, min_before, min_after, float(np.linalg.norm(out - cov)), iterations, int(zero.sum())
    )
