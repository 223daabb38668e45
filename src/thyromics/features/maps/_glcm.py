"""Numba kernel: GLCM features in a sliding box (PyRadiomics ``glcm``, symmetric).

For each centre voxel the co-occurrence matrices ``P(i, j | a)`` are counted over the
valid voxel pairs ``(x, x + a)`` that both lie in the box, one matrix per angle ``a``
(unidirectional offsets, see :func:`._engine.generate_angles`), symmetrised
(``P + P^T``) and normalised per angle. Only the grey levels present in the box are
stored; absent levels are zero rows and columns of PyRadiomics' full matrix and add
nothing to any sum, so the values are the same. Features are computed per angle and
averaged over the angles that have at least one pair (``nanmean``), exactly as in
PyRadiomics' ``RadiomicsGLCM``; JointAverage is returned per angle so that the caller
can apply PyRadiomics' plain mean. Formulas: Haralick et al. 1973 and the PyRadiomics
documentation (``i``, ``j`` are grey-level values, ``Ng`` the largest level in the ROI).

MCC is the square root of the second-largest eigenvalue of PyRadiomics'
``Q(i, j) = sum_k p(i,k) p(j,k) / (p_x(i) p_y(k) + eps)``, without a general eigen-solver
(see :func:`glcm_mcc`).
"""

from __future__ import annotations

import numba
import numpy as np

from ._box import box_levels, glcm_counts, kernel_box
from ._symeig import (
    back_transform,
    count_below,
    extreme_eigenvalue,
    tridiagonal_eigenvalue,
    tridiagonal_solve,
    tridiagonalize,
)
from .settings import MAP_FEATURES

__all__ = ["GLCM_ORDER", "angle_features", "glcm_mcc", "glcm_maps"]

GLCM_ORDER = MAP_FEATURES["glcm"]  # column order of the kernel's output
_NF = 24


@numba.njit(cache=True)
def _near_degenerate(lam1: float, lam: float, lam3: float, cmax: float) -> bool:
    """Whether the eps term can move the second eigenvalue by more than first-order theory
    says: an eigenvalue within ``1e3 cmax`` of it (e.g. a GLCM of two disconnected sets of
    grey levels has the eigenvalue 1 twice, and eps splits the pair)."""
    if cmax <= 1e-15 or lam < 1e-8:  # near 0 the eps term is as small as lambda itself
        return False
    gap = lam1 - lam
    if lam3 >= 0.0 and lam - lam3 < gap:
        gap = lam - lam3
    return gap < 1e3 * cmax


@numba.njit(cache=True)
def _near_degenerate_counts(d: np.ndarray, e: np.ndarray, n: int, lam: float,
                            cmax: float) -> bool:
    """:func:`_near_degenerate` from Sturm counts of ``B``'s tridiagonal form ``(d, e)``:
    whether ``S`` has an eigenvalue other than ``lam`` within ``1e3 cmax`` of it (the
    eigenvalues of ``S`` are the squares of ``B``'s)."""
    if cmax <= 1e-15 or lam < 1e-8:
        return False
    tol = 1e3 * cmax
    b = np.sqrt(lam + tol)
    if lam - tol <= 0.0:
        inside = count_below(d, e, n, b) - count_below(d, e, n, -b)
    else:
        a = np.sqrt(lam - tol)
        inside = (count_below(d, e, n, b) - count_below(d, e, n, a)
                  + count_below(d, e, n, -a) - count_below(d, e, n, -b))
    return inside >= 2


@numba.njit(cache=True)
def _cluster(s: np.ndarray, cmax: float) -> tuple[int, int]:
    """Positions ``lo..hi`` in ``s`` (eigenvalues of ``S``, descending) of the second
    eigenvalue and of every eigenvalue chained to it by gaps below ``1e3 cmax``."""
    lo = 1
    hi = 1
    tol = 1e3 * cmax
    while lo > 0 and s[lo - 1] - s[lo] < tol:
        lo -= 1
    while hi + 1 < s.shape[0] and s[hi] - s[hi + 1] < tol:
        hi += 1
    return lo, hi


@numba.njit(cache=True)
def _eps_block(P: np.ndarray, px: np.ndarray, py: np.ndarray, ri: np.ndarray, mr: int,
               ci: np.ndarray, mc: int, U: np.ndarray, eps: float) -> np.ndarray:
    """``F = Y^T E X`` on the eigenvectors ``U`` (columns) of ``S``: PyRadiomics' eps term
    in their basis (see :func:`_mcc_block`), ``m^2`` per column; PyRadiomics'
    ``eps / (q (q + eps))`` as it is (a rare level's ``q`` can be small enough for a series
    in ``eps / q`` to be off by more than 1e-9), once per cell for all the columns."""
    c = U.shape[1]
    sq = np.empty(mr)
    isq = np.empty(mr)
    for a in range(mr):
        sq[a] = np.sqrt(px[ri[a]])
        isq[a] = 1.0 / sq[a]
    left = np.zeros((c, mc))  # sum_i Y(i, a) P(i, k) e(i, k)
    right = np.zeros((c, mc))  # sum_j P(j, k) X(j, b)
    row = np.empty(mc)
    weighted = np.empty(mc)
    for a in range(mr):
        i = ri[a]
        for t in range(mc):
            p = P[i, ci[t]]
            row[t] = p
            q = px[i] * py[ci[t]]
            weighted[t] = p * (eps / (q * (q + eps))) if p > 0 else 0.0
        for b in range(c):
            f1 = -sq[a] * U[a, b]
            f2 = U[a, b] * isq[a]
            lb = left[b]
            rb = right[b]
            for t in range(mc):
                lb[t] += f1 * weighted[t]
                rb[t] += f2 * row[t]
    F = np.zeros((c, c))
    for a in range(c):
        for b in range(c):
            acc = 0.0
            for t in range(mc):
                acc += left[a, t] * right[b, t]
            F[a, b] = acc
    return F


@numba.njit(cache=True)
def _mcc_block(P: np.ndarray, px: np.ndarray, py: np.ndarray, ri: np.ndarray, mr: int,
               ci: np.ndarray, mc: int, U: np.ndarray, s: np.ndarray, cmax: float,
               eps: float) -> float:
    """The second eigenvalue of PyRadiomics' ``Q`` where ``S`` has eigenvalues within the
    eps term's reach of it (quasi-degenerate perturbation theory).

    ``U``: the unit eigenvectors of ``S`` by column, ``s``: their eigenvalues, descending.
    With ``X = Dx^-1/2 U`` and ``Y = Dx^1/2 U`` (right and left eigenvectors of ``Q0``,
    ``Y^T X = I``), ``Y^T Q X = diag(s) + F`` exactly, ``F = Y^T E X``,
    ``E(i, j) = -sum_k P(i,k) P(j,k) eps / (q (q + eps))``, ``q = p_x(i) p_y(k)``. The block
    of the cluster (:func:`_cluster`) is solved exactly; its coupling to the other
    eigenvalues is of second order over a gap of at least ``1e3 cmax``. Cost: ``m^2`` per
    eigenvalue of the cluster instead of PyRadiomics' ``m^3`` and general eigen-solver.
    """
    lo, hi = _cluster(s, cmax)
    hi = min(hi, U.shape[1] - 1)
    c = hi - lo + 1
    S0 = np.zeros((c, c))
    for a in range(c):
        S0[a, a] = s[lo + a]
    return _block_value(P, px, py, ri, mr, ci, mc, U[:, lo:hi + 1].copy(), S0, lo, eps)


@numba.njit(cache=True)
def _block_value(P: np.ndarray, px: np.ndarray, py: np.ndarray, ri: np.ndarray, mr: int,
                 ci: np.ndarray, mc: int, Uc: np.ndarray, S0: np.ndarray, lo: int,
                 eps: float) -> float:
    """MCC from the cluster block ``Y^T Q X = S0 + F`` (:func:`_mcc_block`): ``Uc`` an
    orthonormal basis of the cluster's invariant subspace of ``S``, ``S0 = Uc^T S Uc``
    (``diag(s)`` for eigenvectors), ``lo`` the position of the cluster's first eigenvalue
    (0: it holds the largest, 1)."""
    c = Uc.shape[1]
    F = _eps_block(P, px, py, ri, mr, ci, mc, Uc, eps)
    Z = np.zeros((c, c), dtype=np.complex128)
    for a in range(c):
        for b in range(c):
            Z[a, b] = F[a, b] + S0[a, b]
    ev = np.sort(np.linalg.eigvals(Z).real)
    lam = ev[c - 2] if lo == 0 else ev[c - 1]  # the first eigenvalue is in the cluster or above
    return min(np.sqrt(lam), 1.0) if lam > 0 else 0.0


@numba.njit(cache=True, inline="always")
def _remove_component(U: np.ndarray, i: int, y: np.ndarray) -> None:
    """``y -= (U[:, i] . y) U[:, i]`` (Gram-Schmidt against the unit column ``i``)."""
    dot = 0.0
    for a in range(y.shape[0]):
        dot += U[a, i] * y[a]
    for a in range(y.shape[0]):
        y[a] -= dot * U[a, i]


@numba.njit(cache=True)
def _tridiagonal_cluster(B: np.ndarray, d: np.ndarray, e: np.ndarray, V: np.ndarray,
                         tau: np.ndarray, n: int, cmax: float, second_top: float,
                         smallest: float) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """The cluster of :func:`_cluster` from ``B``'s tridiagonal form, without all of
    ``B``'s eigenvalues and vectors: ``(Uc, S0, lo, ok)`` for :func:`_block_value`.

    The eigenvalues of ``S`` (squares of ``B``'s) are taken in descending order from both
    ends of ``B``'s spectrum (``second_top``, ``smallest``: ``B``'s eigenvalues ``n - 2``
    and ``0``, known), only as far as the chain of gaps below ``1e3 cmax`` from the second
    reaches (Sturm counts tell where it ends); each member's eigenvector by inverse iteration on the tridiagonal form
    (orthogonalised against the members with an eigenvalue of ``B`` within 1e-3, as LAPACK
    ``dstein``), turned into an orthonormal basis of the cluster's subspace;
    ``S0 = (B Uc)^T (B Uc)`` is then exact for that subspace, whatever the mixing of
    nearly equal eigenvalues. ``ok`` is False when an iteration breaks down (a singular
    shift): the caller uses the dense solver.
    """
    tol = 1e3 * cmax
    ulp = 4.0 * np.spacing(1.0)
    mus = np.empty(n)  # eigenvalues of B, in descending order of their squares
    vals = np.full(n, np.nan)
    vals[n - 2] = second_top
    vals[0] = smallest
    vals[n - 1] = extreme_eigenvalue(d, e, n, n - 1, 1.0)
    top = n - 1  # the next eigenvalue from the top, and from the bottom
    bottom = 0
    count = 0
    while top >= bottom:
        a = 0.0
        top_in = True
        bottom_in = True
        if count >= 2:  # the chain goes on only within tol of the last square
            a2 = mus[count - 1] ** 2 - tol
            a = np.sqrt(a2) if a2 > 0 else 0.0
            top_in = count_below(d, e, n, a) <= top  # vals[top] >= a
            bottom_in = count_below(d, e, n, -a) > bottom  # vals[bottom] < -a
            if not (top_in or bottom_in):
                break
        if top_in and np.isnan(vals[top]):
            vals[top] = tridiagonal_eigenvalue(d, e, n, top, a, vals[top + 1] + ulp)
        if bottom_in and np.isnan(vals[bottom]):
            vals[bottom] = tridiagonal_eigenvalue(d, e, n, bottom, vals[bottom - 1] - ulp
                                                  if bottom > 0 else -np.inf, -a)
        if top_in and (not bottom_in or vals[top] ** 2 >= vals[bottom] ** 2):
            mus[count] = vals[top]
            top -= 1
        else:
            mus[count] = vals[bottom]
            bottom += 1
        count += 1
    lo = 0 if count >= 2 and mus[0] ** 2 - mus[1] ** 2 < tol else 1
    c = count - lo
    Uc = np.zeros((n, c))
    y = np.empty(n)
    for j in range(c):
        mu = mus[lo + j]
        off = 1e-9 * max(abs(mu), 1e-3)
        for a in range(n):
            y[a] = np.sin(1.0 + 12.9898 * (a + 1) + 78.233 * (j + 1))
        for _ in range(3):
            if not tridiagonal_solve(d, e, n, mu + off, y):
                return Uc, np.zeros((c, c)), lo, False
            for i in range(j):  # orthogonalise within the group of near-equal mu
                if abs(mus[lo + i] - mu) < 1e-3:
                    _remove_component(Uc, i, y)
            norm = np.sqrt(np.sum(y * y))
            if not (np.isfinite(norm) and norm > 0):
                return Uc, np.zeros((c, c)), lo, False
            for a in range(n):
                y[a] /= norm
                Uc[a, j] = y[a]
    for j in range(c):
        back_transform(V, tau, Uc[:, j])
    # an orthonormal basis (the vectors of members far apart are orthogonal already)
    for j in range(c):
        col = Uc[:, j]
        for i in range(j):
            _remove_component(Uc, i, col)
        norm = np.sqrt(np.sum(col * col))
        if not (np.isfinite(norm) and norm > 0.5):
            return Uc, np.zeros((c, c)), lo, False
        col /= norm
    # S0 = (B Uc)^T (B Uc) in loops: no BLAS, whose kernels differ from CPU to CPU
    W = np.zeros((n, c))
    for a in range(n):
        for b in range(n):
            bab = B[a, b]
            for j in range(c):
                W[a, j] += bab * Uc[b, j]
    S0 = np.zeros((c, c))
    for a in range(n):
        for i in range(c):
            for j in range(c):
                S0[i, j] += W[a, i] * W[a, j]
    return Uc, S0, lo, True


@numba.njit(cache=True)
def glcm_mcc(P: np.ndarray, px: np.ndarray, py: np.ndarray, m: int, ng_levels: int,
             symmetric: bool) -> float:
    """Maximal correlation coefficient of one normalised matrix ``P[:m, :m]``.

    PyRadiomics takes ``sqrt`` of the second-largest eigenvalue of
    ``Q(i, j) = sum_k P(i,k) P(j,k) / (p_x(i) p_y(k) + eps)`` from a general (non-symmetric)
    eigen-solver. Without ``eps``, ``Q0 = Dx^-1 P Dy^-1 P^T`` is similar to the symmetric
    ``S = B B^T`` with ``B = Dx^-1/2 P Dy^-1/2`` (``Q0 = Dx^-1/2 S Dx^1/2``), so its
    eigenvalues are the squared singular values of ``B``; for a symmetric GLCM ``B`` is
    itself symmetric and they are the squared eigenvalues of ``B`` (``eigh``). The ``eps``
    term is then added exactly to first order: with ``u`` the unit eigenvector of ``S``,
    the left and right eigenvectors of ``Q0`` are ``Dx^1/2 u`` and ``Dx^-1/2 u`` and
    ``d lambda = -sum_k [sum_i sqrt(p_x(i)) u_i P(i,k) c(i,k)] [sum_j P(j,k) u_j / sqrt(p_x(j))]``,
    ``c(i,k) = eps / (p_x(i) p_y(k) (p_x(i) p_y(k) + eps))`` (relative size
    ``eps / (p_x p_y)``, so the neglected second order is below 1e-15). Where other
    eigenvalues lie within reach of the eps term (two sets of levels that never meet give
    the eigenvalue 1 twice), their block is solved together (:func:`_mcc_block`).

    Returns 1 for a single grey level in the ROI (``ng_levels < 2``), 0 when fewer than two
    levels take part in this matrix or the eigenvalue is not positive (PyRadiomics: the real
    part of the square root of a negative number); at most 1 (rounding of a second
    eigenvalue equal to the first).
    """
    if ng_levels < 2:
        return 1.0
    eps = np.spacing(1.0)
    ri = np.empty(m, dtype=np.int64)
    ci = np.empty(m, dtype=np.int64)
    mr = 0
    mc = 0
    for i in range(m):
        if px[i] > 0:
            ri[mr] = i
            mr += 1
        if py[i] > 0:
            ci[mc] = i
            mc += 1
    if mr < 2 or mc < 2:
        return 0.0
    rs = np.empty(mr)
    cs = np.empty(mc)
    for a in range(mr):
        rs[a] = 1.0 / np.sqrt(px[ri[a]])
    for b in range(mc):
        cs[b] = 1.0 / np.sqrt(py[ci[b]])
    B = np.empty((mr, mc))
    qmin = np.inf  # cmax = eps / min(p_x p_y) over the non-zero entries
    for a in range(mr):
        pa = px[ri[a]]
        for b in range(mc):
            p = P[ri[a], ci[b]]
            B[a, b] = p * rs[a] * cs[b]
            if p > 0:
                q = pa * py[ci[b]]
                if q < qmin:
                    qmin = q
    cmax = eps / qmin if qmin < np.inf else 0.0
    u = np.empty(mr)
    if symmetric and mr == mc:
        # the eigenvalues of S are mu^2 for the eigenvalues mu of B; the largest mu is 1
        # (eigenvector sqrt(p)), the second-largest mu^2 is the larger square of B's second
        # largest and its smallest eigenvalue: two eigenvalues of B's tridiagonal form
        A = B.copy()
        d = np.empty(mr)
        e = np.empty(mr)
        V = np.empty((mr, mr))
        tau = np.empty(mr)
        tridiagonalize(A, d, e, V, tau)
        top = extreme_eigenvalue(d, e, mr, mr - 2, 1.0)
        bottom = extreme_eigenvalue(d, e, mr, 0, 1.0) if mr > 2 else top
        mu = top if top * top >= bottom * bottom else bottom
        lam = mu * mu
        if _near_degenerate_counts(d, e, mr, lam, cmax):
            Uc, S0, lo, ok = _tridiagonal_cluster(B, d, e, V, tau, mr, cmax, top, bottom)
            if ok:
                return _block_value(P, px, py, ri, mr, ci, mc, Uc, S0, lo, eps)
            w2, V = np.linalg.eigh(B)
            order = np.argsort(-(w2 * w2))
            return _mcc_block(P, px, py, ri, mr, ci, mc, V[:, order].copy(),
                              (w2 * w2)[order], cmax, eps)
        # |d lambda| <= cmax (E <= cmax Q0 elementwise, ||S|| = 1): skip the eps term when it
        # moves MCC = sqrt(lambda) by less than 1e-13 relative
        if lam <= 0 or cmax / (2.0 * lam) < 1e-13:
            return min(np.sqrt(lam), 1.0) if lam > 0 else 0.0
        # the eigenvector of mu: two steps of inverse iteration on the tridiagonal form
        # (the shift is within 1e-9 of mu; it only scales a first-order term)
        off = 1e-9 * max(abs(mu), 1e-3)
        for a in range(mr):
            u[a] = 1.0 + 0.01 * a
        ok = True
        for _ in range(2):
            ok = ok and tridiagonal_solve(d, e, mr, mu + off, u)
            norm = np.sqrt(np.sum(u * u))
            ok = ok and np.isfinite(norm) and norm > 0
            if ok:
                u /= norm
        if ok:
            back_transform(V, tau, u)
        else:  # (nearly) singular shift: take the eigenvector from eigh
            w2, V = np.linalg.eigh(B)
            best = 0
            for k in range(mr):
                if abs(w2[k] - mu) < abs(w2[best] - mu):
                    best = k
            for a in range(mr):
                u[a] = V[a, best]
    else:
        U, sv, _ = np.linalg.svd(B, full_matrices=False)
        if sv.shape[0] < 2:
            return 0.0
        lam = sv[1] * sv[1]
        if _near_degenerate(sv[0] * sv[0], lam, sv[2] * sv[2] if sv.shape[0] > 2 else -1.0,
                            cmax):
            return _mcc_block(P, px, py, ri, mr, ci, mc, U, sv * sv, cmax, eps)
        for a in range(mr):
            u[a] = U[a, 1]
    if cmax > 1e-15:  # the eps of PyRadiomics' denominator, to first order
        lam += _eps_block(P, px, py, ri, mr, ci, mc, u.reshape((mr, 1)), eps)[0, 0]
    return min(np.sqrt(lam), 1.0) if lam > 0 else 0.0


@numba.njit(cache=True, inline="always")
def _bit_symmetric(P: np.ndarray, m: int) -> bool:
    """Whether ``P[:m, :m]`` equals its transpose to the bit (a symmetrised GLCM does:
    ``c_ij + c_ji`` is ``c_ji + c_ij``; its marginals are then the same sums, in the
    same order)."""
    for i in range(m):
        for j in range(i):
            if P[i, j] != P[j, i]:
                return False
    return True


@numba.njit(cache=True)
def angle_features(P: np.ndarray, g: np.ndarray, m: int, ng: int, ng_levels: int,
                   symmetric: bool, f: np.ndarray, mcc: bool) -> None:
    """The 24 features (:data:`GLCM_ORDER`) of one normalised matrix ``P[:m, :m]`` into ``f``.

    ``g`` holds the grey-level values of the ``m`` rows, ``ng`` is the largest level in the
    ROI and ``ng_levels`` the number of levels in the ROI (PyRadiomics' ``Ng`` and matrix
    size); ``symmetric`` says the matrix was symmetrised (see :func:`glcm_mcc`). Without
    ``mcc`` the MCC (an eigen-solve, most of the cost) is left NaN.
    """
    eps = np.spacing(1.0)
    px = np.zeros(m)
    py = np.zeros(m)
    for i in range(m):
        for j in range(m):
            px[i] += P[i, j]
            py[j] += P[i, j]
    ux = 0.0
    uy = 0.0
    ac = 0.0
    cont = 0.0
    je = 0.0
    hxy = 0.0
    maxp = 0.0
    psub = np.zeros(ng)
    padd = np.zeros(2 * ng + 1)
    # a symmetric matrix has P(i, j) = P(j, i) and p_x = p_y, so each logarithm below is
    # that of its mirror cell (p_x(i) p_x(j) = p_x(j) p_x(i) exactly): half of them are
    # taken from the upper triangle, the sums keep their order and their bits
    half = symmetric and _bit_symmetric(P, m)
    lg = np.empty((m, m)) if half else np.empty((0, 0))
    for i in range(m):
        for j in range(m):
            p = P[i, j]
            if p == 0:  # adds exactly 0 to every sum (most of a GLCM's cells)
                continue
            ux += g[i] * p
            uy += g[j] * p
            ac += g[i] * g[j] * p
            cont += (g[i] - g[j]) ** 2 * p
            je += p * p
            if half and j < i:
                hxy -= p * lg[j, i]
            else:
                lp = np.log2(p + eps)
                if half:
                    lg[i, j] = lp
                hxy -= p * lp
            if p > maxp:
                maxp = p
            psub[int(abs(g[i] - g[j]))] += p
            padd[int(g[i] + g[j])] += p
    cp = 0.0
    cs = 0.0
    ct = 0.0
    sx2 = 0.0
    sy2 = 0.0
    corm = 0.0
    hxy1 = 0.0
    hxy2 = 0.0
    for i in range(m):
        for j in range(m):
            q = px[i] * py[j]
            if q == 0:  # then p is 0 too
                continue
            if half and j < i:
                lq = lg[j, i]
            else:
                lq = np.log2(q + eps)
                if half:
                    lg[i, j] = lq
            hxy2 -= q * lq
            p = P[i, j]
            if p == 0:
                continue
            t = g[i] + g[j] - ux - uy
            cp += t ** 4 * p
            cs += t ** 3 * p
            ct += t ** 2 * p
            sx2 += (g[i] - ux) ** 2 * p
            sy2 += (g[j] - uy) ** 2 * p
            corm += (g[i] - ux) * (g[j] - uy) * p
            hxy1 -= p * lq
    sigx = sx2 ** 0.5
    sigy = sy2 ** 0.5
    corr = 1.0 if sigx * sigy == 0 else corm / (sigx * sigy + eps)
    hx = 0.0
    hy = 0.0
    for i in range(m):
        hx -= px[i] * np.log2(px[i] + eps)
        hy -= py[i] * np.log2(py[i] + eps)
    div = max(hx, hy)
    imc1 = (hxy - hxy1) / div if div != 0 else 0.0
    if hxy2 == hxy:
        imc2 = 0.0
    else:
        arg = 1.0 - np.e ** (-2.0 * (hxy2 - hxy))
        imc2 = arg ** 0.5 if arg >= 0 else np.nan
    da = 0.0
    de = 0.0
    idm = 0.0
    idmn = 0.0
    idd = 0.0
    idn = 0.0
    iv = 0.0
    for k in range(ng):
        pk = psub[k]
        da += k * pk
        de -= pk * np.log2(pk + eps)
        idm += pk / (1.0 + k * k)
        idmn += pk / (1.0 + (k * k) / (ng * ng))
        idd += pk / (1.0 + k)
        idn += pk / (1.0 + k / ng)
        if k >= 1:
            iv += pk / (k * k)
    dv = 0.0
    for k in range(ng):
        dv += psub[k] * (k - da) ** 2
    sa = 0.0
    se = 0.0
    for k in range(2, 2 * ng + 1):
        sa += k * padd[k]
        se -= padd[k] * np.log2(padd[k] + eps)
    ss = sx2
    mcc_value = glcm_mcc(P, px, py, m, ng_levels, symmetric) if mcc else np.nan
    f[0] = ac
    f[1] = ux
    f[2] = cp
    f[3] = cs
    f[4] = ct
    f[5] = cont
    f[6] = corr
    f[7] = da
    f[8] = de
    f[9] = dv
    f[10] = je
    f[11] = hxy
    f[12] = imc1
    f[13] = imc2
    f[14] = idm
    f[15] = mcc_value
    f[16] = idmn
    f[17] = idd
    f[18] = idn
    f[19] = iv
    f[20] = maxp
    f[21] = sa
    f[22] = se
    f[23] = ss


@numba.njit(cache=True, parallel=True)
def glcm_maps(disc: np.ndarray, coords: np.ndarray, radius: np.ndarray,
              angles: np.ndarray, ng: int, ng_levels: int, mcc: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    """GLCM features for each voxel in ``coords``.

    Parameters
    ----------
    disc : (Z, Y, X) int32
        Discretised levels, 0 where a voxel may not take part.
    coords : (N, 3) int64
        Centre voxels.
    radius : (3,) int64
        Kernel half-width per axis.
    angles : (Na, 3) int64
        Unidirectional offsets.
    ng : int
        Largest grey level in the ROI.
    ng_levels : int
        Number of distinct grey levels in the ROI (PyRadiomics' matrix size).
    mcc : bool
        Compute MCC (one eigen-solve per voxel and angle; else NaN).

    Returns
    -------
    feats : (N, 24) float64
        Angle-averaged features in :data:`GLCM_ORDER` (column 1 left NaN).
    ux : (N, Na) float64
        Per-angle ``mu_x`` (NaN for an angle without pairs), for JointAverage.
    """
    nvox = coords.shape[0]
    na = angles.shape[0]
    feats = np.empty((nvox, _NF))
    uxs = np.empty((nvox, na))
    for v in numba.prange(nvox):
        z0, z1, y0, y1, x0, x1 = kernel_box(coords, v, radius, disc.shape)
        lut, gs, m = box_levels(disc, z0, z1, y0, y1, x0, x1, ng)
        P = glcm_counts(disc, lut, m, angles, z0, z1, y0, y1, x0, x1)
        acc = np.zeros(_NF)
        cnt = np.zeros(_NF)
        f = np.empty(_NF)
        for a in range(na):
            Pa = P[a] + P[a].T
            s = Pa.sum()
            if s == 0:
                uxs[v, a] = np.nan
                continue
            Pa /= s
            angle_features(Pa, gs, m, ng, ng_levels, True, f, mcc)
            uxs[v, a] = f[1]
            for k in range(_NF):
                if not np.isnan(f[k]):
                    acc[k] += f[k]
                    cnt[k] += 1.0
        for k in range(_NF):
            feats[v, k] = acc[k] / cnt[k] if cnt[k] > 0 else np.nan
        feats[v, 1] = np.nan
        for gl in range(m):
            lut[int(gs[gl])] = -1
    return feats, uxs
