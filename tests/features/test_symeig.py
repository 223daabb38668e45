"""The small symmetric eigen-kernels of the MCC (``features/maps/_symeig.py``) against
numpy's LAPACK (``eigh``, ``solve``) on seeded random, graded, degenerate and split
matrices, and on GLCM-like matrices ``D^-1/2 P D^-1/2`` whose top eigenvalue is 1."""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.features.maps._symeig import (
    back_transform,
    count_below,
    extreme_eigenvalue,
    tridiagonal_eigenvalue,
    tridiagonal_solve,
    tridiagonalize,
)


def _reduce(A: np.ndarray):
    n = A.shape[0]
    d, e, tau = np.empty(n), np.empty(n), np.empty(n)
    V = np.empty((n, n))
    tridiagonalize(A.copy(), d, e, V, tau)
    return d, e, V, tau


def _dense_t(d, e):
    n = len(d)
    return np.diag(d) + np.diag(e[:n - 1], 1) + np.diag(e[:n - 1], -1)


def _glcm_like(rng, n, zeros=0.5):
    P = rng.random((n, n)) * (rng.random((n, n)) > zeros)
    P = P + P.T + np.diag(rng.random(n))
    P /= P.sum()
    p = P.sum(1)
    return P / np.sqrt(np.outer(p, p))


def _matrices():
    rng = np.random.default_rng(20261201)
    out = []
    for n in (1, 2, 3, 4, 7, 20, 63):
        X = rng.standard_normal((n, n))
        out.append((f"gauss{n}", X + X.T))
    for n in (2, 5, 35, 120):
        out.append((f"glcm{n}", _glcm_like(rng, n)))
    g = np.logspace(0, -12, 12)  # graded: entries from 1 to 1e-12
    X = rng.standard_normal((12, 12))
    out.append(("graded", (X + X.T) * np.outer(g, g)))
    # two disconnected blocks: the eigenvalue 1 twice, and a split tridiagonal
    A = np.zeros((9, 9))
    A[:4, :4] = _glcm_like(rng, 4, 0.0)
    A[4:, 4:] = _glcm_like(rng, 5, 0.0)
    out.append(("two blocks", A))
    out.append(("identity", np.eye(6)))
    out.append(("diagonal", np.diag([3.0, -1.0, 0.0, 2.0, 2.0])))
    Q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    out.append(("triple eigenvalue", Q @ np.diag([1, 1, 1, 0.5, 0.2, -0.3, -0.3, 0.0]) @ Q.T))
    return out


@pytest.mark.parametrize("name,A", _matrices(), ids=[m[0] for m in _matrices()])
def test_eigenvalues_counts_and_vectors_match_lapack(name, A):
    n = A.shape[0]
    ref = np.linalg.eigvalsh(A)
    scale = max(1.0, np.abs(ref).max())
    d, e, V, tau = _reduce(A)
    # the tridiagonal form has the eigenvalues of A
    np.testing.assert_allclose(np.linalg.eigvalsh(_dense_t(d, e)), ref, rtol=0,
                               atol=1e-13 * scale)
    for k in range(n):
        assert tridiagonal_eigenvalue(d, e, n, k) == pytest.approx(ref[k], abs=1e-13 * scale)
    # Laguerre from below, and from the largest eigenvalue downwards; with a wrong pole the
    # counts reject the result and bisection gives the right one
    assert extreme_eigenvalue(d, e, n, 0, ref[-1]) == pytest.approx(ref[0], abs=1e-13 * scale)
    if n >= 2:
        for pole in (ref[-1], ref[-1] + 0.3 * scale, ref[-1] - 0.2 * scale):
            assert extreme_eigenvalue(d, e, n, n - 2, pole) == pytest.approx(
                ref[n - 2], abs=1e-13 * scale)
    # Sturm counts between the eigenvalues (away from them by more than rounding)
    for x in np.unique(np.concatenate([ref - 1e-6 * scale, ref + 1e-6 * scale])):
        assert count_below(d, e, n, x) == int(np.sum(ref < x))
    # H T H^T = A: every column of H T H^T through back_transform
    T = _dense_t(d, e)
    H = np.eye(n)
    for j in range(n):
        back_transform(V, tau, H[:, j])
    np.testing.assert_allclose(H @ T @ H.T, A, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(H.T @ H, np.eye(n), rtol=0, atol=1e-13)


def test_tridiagonal_solve_matches_numpy_with_pivoting():
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 50):
        d = rng.standard_normal(n)
        e = rng.standard_normal(n) * 3.0  # large off-diagonal: rows are interchanged
        shift = 0.3
        b = rng.standard_normal(n)
        y = b.copy()
        assert tridiagonal_solve(d, e, n, shift, y)
        np.testing.assert_allclose(y, np.linalg.solve(_dense_t(d, e) - shift * np.eye(n), b),
                                   rtol=1e-10, atol=1e-12)


def test_tridiagonal_solve_reports_a_singular_system():
    d = np.array([1.0, 1.0])
    e = np.array([1.0, 0.0])  # [[1, 1], [1, 1]]: singular
    assert not tridiagonal_solve(d, e, 2, 0.0, np.ones(2))
