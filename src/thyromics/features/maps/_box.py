"""Numba helpers shared by the map kernels: a voxel's kernel box, its grey levels, and
the features of a run-length / size-zone / dependence matrix."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["kernel_box", "box_levels", "level_at", "glcm_counts", "matrix_features"]


@numba.njit(cache=True, inline="always")
def kernel_box(coords: np.ndarray, v: int, radius: np.ndarray, shape: tuple):
    """``(z0, z1, y0, y1, x0, x1)``: voxel ``v``'s box ``[c - r, c + r]``, inclusive,
    clipped to an array of ``shape``."""
    cz, cy, cx = coords[v, 0], coords[v, 1], coords[v, 2]
    return (max(cz - radius[0], 0), min(cz + radius[0], shape[0] - 1),
            max(cy - radius[1], 0), min(cy + radius[1], shape[1] - 1),
            max(cx - radius[2], 0), min(cx + radius[2], shape[2] - 1))


@numba.njit(cache=True, inline="always")
def level_at(disc: np.ndarray, offsets: np.ndarray, a: int, z: int, y: int, x: int,
             z0: int, z1: int, y0: int, y1: int, x0: int, x1: int) -> int:
    """Grey level of the neighbour ``(z, y, x) + offsets[a]``; 0 when it lies outside the
    box ``[z0, z1] x [y0, y1] x [x0, x1]`` (or outside the ROI, whose level is 0)."""
    qz = z + offsets[a, 0]
    qy = y + offsets[a, 1]
    qx = x + offsets[a, 2]
    if qz < z0 or qz > z1 or qy < y0 or qy > y1 or qx < x0 or qx > x1:
        return 0
    return disc[qz, qy, qx]


@numba.njit(cache=True)
def glcm_counts(disc: np.ndarray, lut: np.ndarray, m: int, angles: np.ndarray,
                z0: int, z1: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Co-occurrence counts ``P[angle, lut[i], lut[j]]`` over the voxel pairs
    ``(x, x + angle)`` both in the ROI and in the box (unidirectional, not symmetrised)."""
    na = angles.shape[0]
    P = np.zeros((na, m, m))
    for z in range(z0, z1 + 1):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                gi = disc[z, y, x]
                if gi == 0:
                    continue
                li = lut[gi]
                for a in range(na):
                    gj = level_at(disc, angles, a, z, y, x, z0, z1, y0, y1, x0, x1)
                    if gj > 0:
                        P[a, li, lut[gj]] += 1.0
    return P


@numba.njit(cache=True, inline="always")
def box_levels(disc: np.ndarray, z0: int, z1: int, y0: int, y1: int, x0: int, x1: int,
               ng: int):
    """``(lut, levels, m)``: the ``m`` grey levels (> 0) present in the box in ascending
    order, and ``lut[level]`` = its index (-1 for absent levels)."""
    lut = np.full(ng + 1, -1, dtype=np.int64)
    g = np.empty(ng + 1)
    m = 0
    for z in range(z0, z1 + 1):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                gl = disc[z, y, x]
                if gl > 0 and lut[gl] < 0:
                    lut[gl] = m
                    g[m] = gl
                    m += 1
    order = np.argsort(g[:m])
    gs = np.empty(m)
    for k in range(m):
        gs[k] = g[order[k]]
        lut[int(gs[k])] = k
    return lut, gs, m


@numba.njit(cache=True)
def matrix_features(P: np.ndarray, g: np.ndarray, m: int, nj: int, f: np.ndarray) -> float:
    """The 16 run-length / size-zone features (GLDM's 14 are among them) of ``P[:m, 1:nj + 1]`` (rows = levels ``g``,
    column ``j`` = run length or zone size ``j``) into ``f``; returns the total count."""
    eps = np.spacing(1.0)
    pg = np.zeros(m)
    pr = np.zeros(nj + 1)
    n = 0.0
    for i in range(m):
        for j in range(1, nj + 1):
            p = P[i, j]
            pg[i] += p
            pr[j] += p
            n += p
    if n == 0:
        return 0.0
    sre = 0.0
    lre = 0.0
    rln = 0.0
    npx = 0.0
    uj = 0.0
    for j in range(1, nj + 1):
        jj = float(j)
        sre += pr[j] / (jj * jj)
        lre += pr[j] * jj * jj
        rln += pr[j] * pr[j]
        npx += pr[j] * jj
        uj += pr[j] / n * jj
    rv = 0.0
    for j in range(1, nj + 1):
        rv += pr[j] / n * (j - uj) ** 2
    gln = 0.0
    ui = 0.0
    lgl = 0.0
    hgl = 0.0
    for i in range(m):
        gi = g[i]
        gln += pg[i] * pg[i]
        ui += pg[i] / n * gi
        lgl += pg[i] / (gi * gi)
        hgl += pg[i] * gi * gi
    glv = 0.0
    for i in range(m):
        glv += pg[i] / n * (g[i] - ui) ** 2
    ent = 0.0
    sl = 0.0
    sh = 0.0
    ll = 0.0
    lh = 0.0
    for i in range(m):
        gi2 = g[i] * g[i]
        for j in range(1, nj + 1):
            p = P[i, j]
            if p == 0:
                continue
            jj2 = float(j) * j
            pn = p / n
            ent -= pn * np.log2(pn + eps)
            sl += p / (gi2 * jj2)
            sh += p * gi2 / jj2
            ll += p * jj2 / gi2
            lh += p * gi2 * jj2
    f[0] = sre / n
    f[1] = lre / n
    f[2] = gln / n
    f[3] = gln / (n * n)
    f[4] = rln / n
    f[5] = rln / (n * n)
    f[6] = n / npx
    f[7] = glv
    f[8] = rv
    f[9] = ent
    f[10] = lgl / n
    f[11] = hgl / n
    f[12] = sl / n
    f[13] = sh / n
    f[14] = ll / n
    f[15] = lh / n
    return n
