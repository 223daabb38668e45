"""Numba kernels: chosen eigenvalues (and one eigenvector) of a small dense symmetric matrix.

The GLCM's MCC needs two eigenvalues of an ``m x m`` symmetric matrix (``m`` up to a few
hundred grey levels, once per matrix and angle), not all of them. LAPACK's ``dsyevd``
spends two thirds of its time at these sizes on the tridiagonal eigenvalues it does not
need, and its call through numba copies and allocates each time. Here:

- :func:`tridiagonalize`: Householder reduction ``T = H^T A H`` (Golub & Van Loan,
  *Matrix Computations*, 4th ed., algorithm 8.3.1), the reflectors kept for
  :func:`back_transform`;
- :func:`tridiagonal_eigenvalue`: the ``k``-th smallest eigenvalue of ``T`` by Sturm
  counts (the signs of the LDL^T pivots of ``T - xI``, Sylvester's law of inertia;
  LAPACK ``dstebz``), bisection until the eigenvalue is alone in its bracket, then Newton
  steps on ``det(T - xI)`` kept inside the bracket;
- :func:`count_below`: how many eigenvalues lie below ``x``;
- :func:`tridiagonal_solve`: ``(T - sI) y = b`` by Gaussian elimination with partial
  pivoting (LAPACK ``dgtsv``), for inverse iteration.

Each is backward stable: the eigenvalues are those of a matrix within a few ``eps ||A||``
of ``A``, as LAPACK's; tested against ``numpy.linalg.eigh`` in
``tests/features/test_symeig.py``.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["back_transform", "count_below", "extreme_eigenvalue", "tridiagonal_eigenvalue",
           "tridiagonal_solve", "tridiagonalize"]

_SAFMIN = 2.2250738585072014e-308
_EPS = 2.220446049250313e-16


@numba.njit(cache=True)
def tridiagonalize(A: np.ndarray, d: np.ndarray, e: np.ndarray, V: np.ndarray,
                   tau: np.ndarray) -> None:
    """Reduce the symmetric ``A`` (overwritten) to tridiagonal ``T = H^T A H``.

    ``d`` (n): the diagonal of ``T``; ``e`` (n): its off-diagonal in ``e[:n-1]``. Reflector
    ``k`` (``H_k = I - tau[k] v v^T`` on indices ``k+1..n-1``) is ``V[k, :n-k-1]``;
    ``H = H_0 H_1 ... H_{n-3}``.
    """
    n = A.shape[0]
    p = np.empty(n)
    for k in range(n - 2):
        m = n - k - 1
        s = 0.0
        for i in range(k + 2, n):
            s += A[i, k] * A[i, k]
        x0 = A[k + 1, k]
        d[k] = A[k, k]
        if s == 0.0:  # already tridiagonal in this column
            e[k] = x0
            tau[k] = 0.0
            continue
        nx = np.sqrt(x0 * x0 + s)
        alpha = -nx if x0 >= 0 else nx
        v = V[k]
        v[0] = x0 - alpha
        for i in range(1, m):
            v[i] = A[k + 1 + i, k]
        t = 2.0 / (v[0] * v[0] + s)
        tau[k] = t
        for i in range(m):
            p[i] = 0.0
        for j in range(m):  # p = t A v (rows of the symmetric trailing block)
            vj = v[j]
            row = A[k + 1 + j]
            for i in range(m):
                p[i] += row[k + 1 + i] * vj
        K = 0.0
        for i in range(m):
            p[i] *= t
            K += v[i] * p[i]
        K *= 0.5 * t
        for i in range(m):
            p[i] -= K * v[i]
        for j in range(m):  # A -= v w^T + w v^T
            row = A[k + 1 + j]
            vj = v[j]
            pj = p[j]
            for i in range(m):
                row[k + 1 + i] -= vj * p[i] + pj * v[i]
        e[k] = alpha
    if n >= 2:
        d[n - 2] = A[n - 2, n - 2]
        e[n - 2] = A[n - 1, n - 2]
    d[n - 1] = A[n - 1, n - 1]


@numba.njit(cache=True)
def back_transform(V: np.ndarray, tau: np.ndarray, y: np.ndarray) -> None:
    """``y <- H y`` (an eigenvector of ``T`` to one of ``A``; see :func:`tridiagonalize`)."""
    n = y.shape[0]
    for k in range(n - 3, -1, -1):
        t = tau[k]
        if t == 0.0:
            continue
        v = V[k]
        dot = 0.0
        for i in range(n - k - 1):
            dot += v[i] * y[k + 1 + i]
        dot *= t
        for i in range(n - k - 1):
            y[k + 1 + i] -= dot * v[i]


@numba.njit(cache=True, inline="always")
def _pivmin(e: np.ndarray, n: int) -> float:
    big = 1.0
    for i in range(n - 1):
        if e[i] * e[i] > big:
            big = e[i] * e[i]
    return _SAFMIN * big


@numba.njit(cache=True, inline="always")
def _gershgorin(d: np.ndarray, e: np.ndarray, n: int) -> tuple[float, float, float]:
    """Gershgorin bounds ``(lo, hi)`` of ``T``'s eigenvalues and ``max(|lo|, |hi|)``."""
    lo = d[0]
    hi = d[0]
    for i in range(n):
        r = 0.0
        if i > 0:
            r += abs(e[i - 1])
        if i < n - 1:
            r += abs(e[i])
        lo = min(lo, d[i] - r)
        hi = max(hi, d[i] + r)
    return lo, hi, max(abs(lo), abs(hi))


@numba.njit(cache=True)
def count_below(d: np.ndarray, e: np.ndarray, n: int, x: float) -> int:
    """The number of eigenvalues of ``T`` below ``x`` (negative LDL^T pivots of ``T - xI``)."""
    pivmin = _pivmin(e, n)
    q = d[0] - x
    if abs(q) < pivmin:
        q = -pivmin
    c = 1 if q < 0 else 0
    for i in range(1, n):
        q = d[i] - x - e[i - 1] * e[i - 1] / q
        if abs(q) < pivmin:
            q = -pivmin
        if q < 0:
            c += 1
    return c


@numba.njit(cache=True)
def _count_newton(d: np.ndarray, e: np.ndarray, n: int, x: float, pivmin: float
                  ) -> tuple[int, float]:
    """Sturm count below ``x`` and ``d/dx log|det(T - xI)|`` (sum of ``q_i' / q_i``)."""
    q = d[0] - x
    if abs(q) < pivmin:
        q = -pivmin
    dq = -1.0
    c = 1 if q < 0 else 0
    r = 1.0 / q
    s = dq * r
    for i in range(1, n):
        e2 = e[i - 1] * e[i - 1]
        dq = -1.0 + e2 * dq * r * r
        q = d[i] - x - e2 * r
        if abs(q) < pivmin:
            q = -pivmin
        if q < 0:
            c += 1
        r = 1.0 / q
        s += dq * r
    return c, s


@numba.njit(cache=True)
def tridiagonal_eigenvalue(d: np.ndarray, e: np.ndarray, n: int, k: int,
                           lo_hint: float = -np.inf, hi_hint: float = np.inf) -> float:
    """The ``k``-th smallest eigenvalue (0-based) of the symmetric tridiagonal ``T``;
    ``lo_hint``, ``hi_hint``: a bracket believed to hold it (used when its Sturm counts
    confirm that it does).

    Bisection on Sturm counts until the bracket holds this eigenvalue alone, then Newton
    steps on ``det(T - xI)`` (a simple root there), each checked by its own Sturm count
    and replaced by bisection when it leaves the bracket. Stops at a bracket or step of a
    few ulps of ``||T||``: the accuracy of LAPACK's bisection (``dstebz``); a converged
    Newton step is kept only when the Sturm counts on either side of it confirm it.
    """
    pivmin = _pivmin(e, n)
    lo, hi, tnorm = _gershgorin(d, e, n)
    lo -= 2.0 * tnorm * _EPS * n + 2.0 * pivmin
    hi += 2.0 * tnorm * _EPS * n + 2.0 * pivmin
    tol = 4.0 * _EPS * tnorm + 2.0 * pivmin
    c_lo = 0  # eigenvalues below lo
    c_hi = n  # eigenvalues below hi
    if lo < lo_hint < hi:
        c = count_below(d, e, n, lo_hint)
        if c <= k:
            lo = lo_hint
            c_lo = c
    if lo < hi_hint < hi:
        c = count_below(d, e, n, hi_hint)
        if c >= k + 1:
            hi = hi_hint
            c_hi = c
    x = 0.5 * (lo + hi)
    for _ in range(200):
        c, s = _count_newton(d, e, n, x, pivmin)
        if c <= k:
            lo = x
            c_lo = c
        else:
            hi = x
            c_hi = c
        if hi - lo <= tol:
            return 0.5 * (lo + hi)
        if c_lo == k and c_hi == k + 1 and s != 0.0 and np.isfinite(s):
            step = 1.0 / s
            xn = x - step
            if abs(step) <= tol:
                # converged: accepted only when the counts put the eigenvalue within tol
                # (a step at another eigenvalue is small too)
                a = xn - tol
                b = xn + tol
                ca = count_below(d, e, n, a)
                cb = count_below(d, e, n, b)
                if ca <= k and cb >= k + 1:
                    return xn
                if ca <= k and a > lo:
                    lo = a
                    c_lo = ca
                if cb >= k + 1 and b < hi:
                    hi = b
                    c_hi = cb
            elif lo < xn < hi:
                x = xn
                continue
        x = 0.5 * (lo + hi)
    return 0.5 * (lo + hi)


@numba.njit(cache=True)
def tridiagonal_solve(d: np.ndarray, e: np.ndarray, n: int, shift: float,
                      b: np.ndarray) -> bool:
    """Solve ``(T - shift I) y = b`` in place of ``b`` (partial pivoting); False if singular."""
    # rows i: sub-diagonal dl[i-1], diagonal dd[i], super-diagonal du[i], second du2[i]
    dd = np.empty(n)
    du = np.zeros(n)
    du2 = np.zeros(n)
    dl = np.zeros(n)
    for i in range(n):
        dd[i] = d[i] - shift
    for i in range(n - 1):
        du[i] = e[i]
        dl[i] = e[i]
    for i in range(n - 1):
        if abs(dd[i]) >= abs(dl[i]):  # no interchange
            if dd[i] == 0.0:
                return False
            f = dl[i] / dd[i]
            dd[i + 1] -= f * du[i]
            b[i + 1] -= f * b[i]
        else:  # interchange rows i and i+1
            f = dd[i] / dl[i]
            dd[i] = dl[i]
            tmp = dd[i + 1]
            dd[i + 1] = du[i] - f * tmp
            if i < n - 2:
                du2[i] = du[i + 1]
                du[i + 1] = -f * du2[i]
            du[i] = tmp
            tmp = b[i]
            b[i] = b[i + 1]
            b[i + 1] = tmp - f * b[i + 1]
    if dd[n - 1] == 0.0:
        return False
    b[n - 1] /= dd[n - 1]
    if n >= 2:
        b[n - 2] = (b[n - 2] - du[n - 2] * b[n - 1]) / dd[n - 2]
    for i in range(n - 3, -1, -1):
        b[i] = (b[i] - du[i] * b[i + 1] - du2[i] * b[i + 2]) / dd[i]
    return True


@numba.njit(cache=True)
def _laguerre_sums(d: np.ndarray, e: np.ndarray, n: int, x: float, pivmin: float
                   ) -> tuple[float, float]:
    """``G = sum 1/(x - l_j)`` and ``H = sum 1/(x - l_j)^2`` over the eigenvalues of ``T``,
    from the LDL^T pivots of ``T - xI`` and their first two derivatives in ``x``."""
    q = d[0] - x
    if abs(q) < pivmin:
        q = -pivmin
    dq = -1.0
    d2q = 0.0
    r = 1.0 / q
    g = dq * r  # G = (log det(T - xI))' with det(T - xI) = prod q_i
    h = (dq * r) ** 2 - d2q * r
    for i in range(1, n):
        e2 = e[i - 1] * e[i - 1]
        r2 = r * r
        d2q_new = e2 * r2 * (d2q - 2.0 * dq * dq * r)
        dq_new = -1.0 + e2 * dq * r2
        q = d[i] - x - e2 * r
        if abs(q) < pivmin:
            q = -pivmin
        dq = dq_new
        d2q = d2q_new
        r = 1.0 / q
        g += dq * r
        h += (dq * r) ** 2 - d2q * r
    return g, h


@numba.njit(cache=True)
def extreme_eigenvalue(d: np.ndarray, e: np.ndarray, n: int, k: int, pole: float) -> float:
    """The ``k``-th smallest eigenvalue of ``T`` where it is the smallest (``k = 0``), the
    largest (``k = n - 1``) or the largest but one (``k = n - 2``, the largest being
    ``pole``, e.g. 1 for the MCC's ``B``); other ``k``: :func:`tridiagonal_eigenvalue`.

    Laguerre's method (cubically convergent; for a polynomial with real roots each step
    stays between the start and the nearest root in its direction: Wilkinson, *The
    Algebraic Eigenvalue Problem*, 7.63) from below ``T``'s spectrum for ``k = 0``, from
    above it for ``k = n - 1``, and from above ``pole`` with the pole divided out for
    ``k = n - 2``. The result is kept
    only when Sturm counts on either side of it confirm it; otherwise, and when the
    iteration breaks down, :func:`tridiagonal_eigenvalue`'s bisection gives it.
    """
    pivmin = _pivmin(e, n)
    lo, hi, tnorm = _gershgorin(d, e, n)
    tol = 4.0 * _EPS * tnorm + 2.0 * pivmin
    if not (k == 0 or k >= n - 2):
        return tridiagonal_eigenvalue(d, e, n, k)
    up = k == 0
    deflate = not up and k == n - 2
    # from below the spectrum, or above the pole by 0.1 ||T|| (nearer, the pivots of
    # T - xI lose the precision of their derivatives)
    if up:
        x = lo - 2.0 * tnorm * _EPS * n - 2.0 * pivmin
    elif deflate:
        x = pole + 0.1 * tnorm
    else:
        x = hi + 2.0 * tnorm * _EPS * n + 2.0 * pivmin
    deg = float(n - 1 if deflate else n)
    for _ in range(60):
        if deflate and abs(x - pole) < 1e-150:
            break
        g, h = _laguerre_sums(d, e, n, x, pivmin)
        if deflate:
            g -= 1.0 / (x - pole)
            h -= 1.0 / ((x - pole) * (x - pole))
        if not (np.isfinite(g) and np.isfinite(h)):
            break
        disc = (deg - 1.0) * (deg * h - g * g)
        root = np.sqrt(disc) if disc > 0 else 0.0
        den = g - root if up else g + root  # towards the nearest root above / below
        if den == 0.0:
            break
        step = deg / den
        x -= step
        if abs(step) <= tol:
            a = x - tol
            b = x + tol
            if count_below(d, e, n, a) <= k and count_below(d, e, n, b) >= k + 1:
                return x
            break
    return tridiagonal_eigenvalue(d, e, n, k)
