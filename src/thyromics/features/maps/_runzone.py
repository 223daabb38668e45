"""Numba kernels: GLRLM and GLSZM features in a sliding box (PyRadiomics ``glrlm``/``glszm``).

Per centre voxel, everything happens inside its kernel box (clipped to the crop), on the
valid voxels only (discretised level > 0), as PyRadiomics' C code does with a voxel-based
bounding box:

- GLRLM (Galloway 1975): for every unidirectional angle ``a`` (distance 1: 13 in 3D, 4 in
  2D or with force2D), every line of the box along ``a`` is walked from the voxel where it
  enters the box; maximal runs of consecutive valid voxels of one level give
  ``P(i, j | a)``. As in PyRadiomics, an angle where no line holds more than one valid
  voxel is emptied, an empty angle (``N_r(a) = 0``) gives NaN for that angle, and every
  feature is the mean over the non-empty angles (``nanmean``; no distance weighting, the
  ``weightingNorm`` default). ``N_p(a) = sum_j j P(j | a)``.
- GLSZM (Thibault 2009): zones are connected sets of valid voxels of one level inside the
  box, connected through the bidirectional angles (26-connectivity in 3D, 8 in 2D or with
  force2D); ``P(i, s)`` counts zones of level ``i`` and size ``s``; ``N_z`` zones,
  ``N_p = sum s P``.

``i`` and ``j`` are grey-level values and run lengths / zone sizes; only the cells present
in a box are stored, as absent ones add nothing to any sum. Feature formulas are those of
PyRadiomics' ``RadiomicsGLRLM`` / ``RadiomicsGLSZM``.
"""

from __future__ import annotations

import numba
import numpy as np

from ._box import box_levels, kernel_box, matrix_features
from .settings import MAP_FEATURES

__all__ = ["GLRLM_ORDER", "GLSZM_ORDER", "glrlm_add_angle", "glrlm_box", "glrlm_finish",
           "glrlm_maps", "glszm_box", "glszm_maps", "glszm_values", "run_step"]

GLRLM_ORDER = MAP_FEATURES["glrlm"]  # column order of the kernel's output
GLSZM_ORDER = MAP_FEATURES["glszm"]  # column order of the kernel's output
_NF = 16


@numba.njit(cache=True)
def glrlm_box(disc: np.ndarray, z0: int, z1: int, y0: int, y1: int, x0: int, x1: int,
              lut: np.ndarray, gs: np.ndarray, m: int, nl: int, angles: np.ndarray,
              weights: np.ndarray, out: np.ndarray) -> None:
    """GLRLM features (16, :data:`GLRLM_ORDER`) of the box ``[z0, z1] x [y0, y1] x [x0, x1]``.

    ``lut[level]`` is the row of a level among the ``m`` levels ``gs``; ``nl`` the longest
    possible run. Without ``weights`` (empty) every feature is the mean over the non-empty
    angles (NaN when there is none); with one weight per angle the weighted sum of the
    angles' matrices gives one matrix (PyRadiomics ``weightingNorm``).
    """
    na = angles.shape[0]
    P = np.zeros((m, nl + 1))
    W = np.zeros((m, nl + 1))
    weighted = weights.shape[0] > 0
    acc = np.zeros(_NF)
    f = np.empty(_NF)
    cnt = 0
    for a in range(na):
        dz, dy, dx = angles[a, 0], angles[a, 1], angles[a, 2]
        P[:, :] = 0.0
        multi = False
        for z in range(z0, z1 + 1):
            for y in range(y0, y1 + 1):
                for x in range(x0, x1 + 1):
                    pz = z - dz
                    py = y - dy
                    px = x - dx
                    if z0 <= pz <= z1 and y0 <= py <= y1 and x0 <= px <= x1:
                        continue  # not where a line enters the box
                    qz, qy, qx = z, y, x
                    run_gl = 0
                    rl = 0
                    elements = 0
                    while z0 <= qz <= z1 and y0 <= qy <= y1 and x0 <= qx <= x1:
                        run_gl, rl, elements = run_step(disc[qz, qy, qx], run_gl, rl, elements,
                                                        P, lut)
                        qz += dz
                        qy += dy
                        qx += dx
                    if run_gl > 0:
                        P[lut[run_gl], rl] += 1.0
                    if elements > 1:
                        multi = True
        cnt += glrlm_add_angle(P, multi, weights, a, W, gs, m, nl, f, acc)
    glrlm_finish(weighted, W, gs, m, nl, acc, cnt, out)


@numba.njit(cache=True, inline="always")
def run_step(gl: int, run_gl: int, rl: int, elements: int, P: np.ndarray, lut: np.ndarray
             ) -> tuple[int, int, int]:
    """One voxel of level ``gl`` (0: not in the ROI) along a line: the current run
    ``(run_gl, rl)`` grows or is counted into ``P`` (row ``lut[level]``, column = length);
    ``elements`` counts the ROI voxels of the line."""
    if gl > 0:
        elements += 1
        if gl == run_gl:
            rl += 1
        else:
            if run_gl > 0:
                P[lut[run_gl], rl] += 1.0
            run_gl = gl
            rl = 1
    elif run_gl > 0:
        P[lut[run_gl], rl] += 1.0
        run_gl = 0
    return run_gl, rl, elements


@numba.njit(cache=True)
def glrlm_add_angle(P: np.ndarray, multi: bool, weights: np.ndarray, a: int, W: np.ndarray,
                    gs: np.ndarray, m: int, nl: int, f: np.ndarray, acc: np.ndarray) -> int:
    """One angle's run-length matrix ``P`` into the sums of :func:`glrlm_box`: into ``W``
    when weighted, else its features into ``acc``; 1 when it counts as a non-empty angle.
    ``multi``: some line of this angle has more than one voxel (else PyRadiomics empties
    the angle)."""
    if not multi:
        return 0
    if weights.shape[0] > 0:
        W += weights[a] * P
        return 0
    if matrix_features(P, gs, m, nl, f) > 0:
        for k in range(_NF):
            acc[k] += f[k]
        return 1
    return 0


@numba.njit(cache=True)
def glrlm_finish(weighted: bool, W: np.ndarray, gs: np.ndarray, m: int, nl: int,
                 acc: np.ndarray, cnt: int, out: np.ndarray) -> None:
    """The GLRLM features of :func:`glrlm_box`'s sums: the weighted matrix's, or the mean
    over the non-empty angles (NaN when there is none)."""
    if weighted:
        if matrix_features(W, gs, m, nl, out) == 0:
            out[:] = np.nan
        return
    for k in range(_NF):
        out[k] = acc[k] / cnt if cnt > 0 else np.nan


@numba.njit(cache=True, parallel=True)
def glrlm_maps(disc: np.ndarray, coords: np.ndarray, radius: np.ndarray,
               angles: np.ndarray, ng: int) -> np.ndarray:
    """GLRLM features (N, 16) in :data:`GLRLM_ORDER`; parameters as
    :func:`~thyromics.features.maps._glcm.glcm_maps` (``angles`` of distance 1)."""
    nvox = coords.shape[0]
    out = np.empty((nvox, _NF))
    no_weights = np.empty(0)
    for v in numba.prange(nvox):
        z0, z1, y0, y1, x0, x1 = kernel_box(coords, v, radius, disc.shape)
        lut, gs, m = box_levels(disc, z0, z1, y0, y1, x0, x1, ng)
        nl = max(z1 - z0, y1 - y0, x1 - x0) + 1  # longest possible run
        glrlm_box(disc, z0, z1, y0, y1, x0, x1, lut, gs, m, nl, angles, no_weights, out[v])
    return out


@numba.njit(cache=True)
def glszm_box(disc: np.ndarray, z0: int, z1: int, y0: int, y1: int, x0: int, x1: int,
              offsets: np.ndarray, ng: int, out: np.ndarray) -> None:
    """GLSZM features (16, :data:`GLSZM_ORDER`) of the box ``[z0, z1] x [y0, y1] x [x0, x1]``;
    ``offsets`` are the bidirectional distance-1 angles (the connectivity)."""
    no = offsets.shape[0]
    by = y1 - y0 + 1
    bx = x1 - x0 + 1
    nbox = (z1 - z0 + 1) * by * bx
    seen = np.zeros(nbox, dtype=np.bool_)
    stack = np.empty(nbox, dtype=np.int64)
    zlev = np.empty(nbox, dtype=np.int64)
    zsize = np.empty(nbox, dtype=np.int64)
    nzones = 0
    for z in range(z0, z1 + 1):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                gl = disc[z, y, x]
                li = ((z - z0) * by + (y - y0)) * bx + (x - x0)
                if gl == 0 or seen[li]:
                    continue
                seen[li] = True
                stack[0] = li
                top = 1
                size = 0
                while top > 0:
                    top -= 1
                    k = stack[top]
                    size += 1
                    kz = k // (by * bx) + z0
                    ky = (k // bx) % by + y0
                    kx = k % bx + x0
                    for a in range(no):
                        qz = kz + offsets[a, 0]
                        qy = ky + offsets[a, 1]
                        qx = kx + offsets[a, 2]
                        if qz < z0 or qz > z1 or qy < y0 or qy > y1 or qx < x0 or qx > x1:
                            continue
                        lq = ((qz - z0) * by + (qy - y0)) * bx + (qx - x0)
                        if not seen[lq] and disc[qz, qy, qx] == gl:
                            seen[lq] = True
                            stack[top] = lq
                            top += 1
                zlev[nzones] = gl
                zsize[nzones] = size
                nzones += 1
    glszm_values(zlev, zsize, nzones, ng, out)


@numba.njit(cache=True)
def glszm_values(zlev: np.ndarray, zsize: np.ndarray, nzones: int, ng: int,
                 out: np.ndarray) -> None:
    """GLSZM features (16) of the zones ``zlev[:nzones]`` (levels), ``zsize`` (sizes)."""
    # compact matrix: rows = levels present (ascending), columns = zone sizes
    lut = np.full(ng + 1, -1, dtype=np.int64)
    maxs = 0
    for k in range(nzones):
        lut[zlev[k]] = 0
        if zsize[k] > maxs:
            maxs = zsize[k]
    gs = np.empty(nzones)
    m = 0
    for gl in range(1, ng + 1):
        if lut[gl] == 0:
            lut[gl] = m
            gs[m] = gl
            m += 1
    P = np.zeros((m, maxs + 1))
    for k in range(nzones):
        P[lut[zlev[k]], zsize[k]] += 1.0
    if matrix_features(P, gs, m, maxs, out) == 0:
        out[:] = np.nan


@numba.njit(cache=True, parallel=True)
def glszm_maps(disc: np.ndarray, coords: np.ndarray, radius: np.ndarray,
               offsets: np.ndarray, ng: int) -> np.ndarray:
    """GLSZM features (N, 16) in :data:`GLSZM_ORDER`; ``offsets`` are the bidirectional
    distance-1 angles (the connectivity)."""
    nvox = coords.shape[0]
    out = np.empty((nvox, _NF))
    for v in numba.prange(nvox):
        z0, z1, y0, y1, x0, x1 = kernel_box(coords, v, radius, disc.shape)
        glszm_box(disc, z0, z1, y0, y1, x0, x1, offsets, ng, out[v])
    return out
