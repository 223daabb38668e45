"""The one compiled pass of the native engine: every texture matrix and first-order
statistic of one (filtered) image, from one discretised array.

The matrices are counted over the whole cropped ROI box, which is the voxel-map kernel of
:mod:`thyromics.features.maps` with a single window covering the box: the run-length
features come from the same per-box function as the maps (``glrlm_box``), the GLCM,
size-zone, dependence and neighbourhood-difference features from the same per-matrix
formulas (``angle_features`` with the MCC of
:func:`~thyromics.features.maps._glcm.glcm_mcc`, ``glszm_values``, ``gldm_values``,
``ngtdm_values``), the first-order statistics from ``firstorder_values``. The GLCM,
GLSZM, GLDM and NGTDM counts are taken here on a zero-padded flat copy of the ROI (one
load per neighbour, no bounds tests; the GLDM and NGTDM in one pass over the neighbours),
in the maps' order, so the sums are the same; a segment's GLCM may also be non-symmetric
or weighted over angles (PyRadiomics ``symmetricalGLCM``, ``weightingNorm``), which maps
never are.

Output layout (:data:`LAYOUT`): 19 first-order values (PyRadiomics' 18 and the deprecated
StandardDeviation), 24 GLCM, 16 GLRLM, 16 GLSZM, 14 GLDM, 5 NGTDM.
"""

from __future__ import annotations

import numba
import numpy as np

from thyromics.features.maps._firstorder import firstorder_values, order_ranks
from thyromics.features.maps._glcm import angle_features
from thyromics.features.maps._neighbour import gldm_values, ngtdm_values
from thyromics.features.maps._runzone import (
    glrlm_add_angle,
    glrlm_finish,
    glszm_values,
    run_step,
)

__all__ = ["FAMILY_BITS", "LAYOUT", "N_VALUES", "image_pass"]

#: (family, first column, number of columns) of :func:`image_pass`'s output.
LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("firstorder", 0, 19), ("glcm", 19, 24), ("glrlm", 43, 16), ("glszm", 59, 16),
    ("gldm", 75, 14), ("ngtdm", 89, 5))
N_VALUES = 94
#: Bit of each family in ``image_pass``'s ``families`` argument.
FAMILY_BITS = {name: 1 << k for k, (name, _, _) in enumerate(LAYOUT)}
_GLCM_NF = 24


@numba.njit(cache=True)
def _roi_size(disc: np.ndarray) -> int:
    n = 0
    for z in range(disc.shape[0]):
        for y in range(disc.shape[1]):
            for x in range(disc.shape[2]):
                if disc[z, y, x] > 0:
                    n += 1
    return n


@numba.njit(cache=True)
def _padded(disc: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(levels, roi, Y, X)``: the levels in a flat copy of ``disc`` padded with ``pad``
    voxels of -1 on every side (a neighbour is then one load at a fixed flat offset,
    without bounds tests; -1 and 0 are both "no ROI voxel" to every count but the run
    lengths, whose lines end at the padding), the flat positions of the ROI voxels in
    raster order, and the padded row and plane sizes."""
    sz, sy, sx = disc.shape
    Y = sy + 2 * pad
    X = sx + 2 * pad
    levels = np.full((sz + 2 * pad) * Y * X, -1, dtype=np.int64)
    roi = np.empty(_roi_size(disc), dtype=np.int64)
    n = 0
    for z in range(sz):
        for y in range(sy):
            for x in range(sx):
                g = disc[z, y, x]
                i = ((z + pad) * Y + y + pad) * X + x + pad
                levels[i] = g
                if g > 0:
                    roi[n] = i
                    n += 1
    return levels, roi, Y, X


@numba.njit(cache=True)
def _flat_offsets(offsets: np.ndarray, Y: int, X: int) -> np.ndarray:
    out = np.empty(offsets.shape[0], dtype=np.int64)
    for a in range(offsets.shape[0]):
        out[a] = (offsets[a, 0] * Y + offsets[a, 1]) * X + offsets[a, 2]
    return out


@numba.njit(cache=True)
def _roi_glcm_counts(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray,
                     lut: np.ndarray, m: int) -> np.ndarray:
    """``glcm_counts`` over the whole ROI (the same integer counts) on :func:`_padded`."""
    na = offsets.shape[0]
    P = np.zeros((na, m, m))
    for a in range(na):
        o = offsets[a]
        Pa = P[a]
        for t in range(roi.shape[0]):
            i = roi[t]
            gj = levels[i + o]
            if gj > 0:
                Pa[lut[levels[i]], lut[gj]] += 1.0
    return P


@numba.njit(cache=True)
def _roi_runs(levels: np.ndarray, shape: tuple, pad: int, Y: int, X: int,
              angles: np.ndarray, lut: np.ndarray, gs: np.ndarray, m: int, nl: int,
              weights: np.ndarray, out: np.ndarray) -> None:
    """GLRLM of the whole ROI: ``glrlm_box``'s runs on :func:`_padded` (whose padding holds
    -1): a line starts where the voxel one step back is padding and runs until padding;
    the same runs, so the same integer counts."""
    sz, sy, sx = shape
    na = angles.shape[0]
    P = np.zeros((m, nl + 1))
    W = np.zeros((m, nl + 1))
    acc = np.zeros(16)
    f = np.empty(16)
    cnt = 0
    for a in range(na):
        o = (angles[a, 0] * Y + angles[a, 1]) * X + angles[a, 2]
        P[:, :] = 0.0
        multi = False
        for z in range(sz):
            for y in range(sy):
                i = ((z + pad) * Y + y + pad) * X + pad
                for _ in range(sx):
                    if levels[i - o] < 0:  # a line enters the box here
                        q = i
                        run_gl = 0
                        rl = 0
                        elements = 0
                        gl = levels[q]
                        while gl >= 0:
                            run_gl, rl, elements = run_step(gl, run_gl, rl, elements, P, lut)
                            q += o
                            gl = levels[q]
                        if run_gl > 0:
                            P[lut[run_gl], rl] += 1.0
                        if elements > 1:
                            multi = True
                    i += 1
        cnt += glrlm_add_angle(P, multi, weights, a, W, gs, m, nl, f, acc)
    glrlm_finish(weights.shape[0] > 0, W, gs, m, nl, acc, cnt, out)


@numba.njit(cache=True)
def _roi_zones(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, ng: int,
               out: np.ndarray) -> None:
    """GLSZM of the whole ROI: ``glszm_box``'s flood fill on :func:`_padded` (zones found
    from the same raster-order seeds, so the same zone list), without bounds tests or
    index arithmetic per neighbour."""
    no = offsets.shape[0]
    n = roi.shape[0]
    seen = np.zeros(levels.shape[0], dtype=np.bool_)
    stack = np.empty(n, dtype=np.int64)
    zlev = np.empty(n, dtype=np.int64)
    zsize = np.empty(n, dtype=np.int64)
    nzones = 0
    for t in range(n):
        i = roi[t]
        if seen[i]:
            continue
        gl = levels[i]
        seen[i] = True
        stack[0] = i
        top = 1
        size = 0
        while top > 0:
            top -= 1
            k = stack[top]
            size += 1
            for a in range(no):
                q = k + offsets[a]
                if not seen[q] and levels[q] == gl:
                    seen[q] = True
                    stack[top] = q
                    top += 1
        zlev[nzones] = gl
        zsize[nzones] = size
        nzones += 1
    glszm_values(zlev, zsize, nzones, ng, out)


@numba.njit(cache=True)
def _neighbour_pass(levels: np.ndarray, roi: np.ndarray, offsets: np.ndarray, ng: int,
                    alpha: int, gldm: bool, ngtdm: bool, out_gldm: np.ndarray,
                    out_ngtdm: np.ndarray) -> None:
    """GLDM and NGTDM of the whole ROI in one pass over each voxel's neighbours: the
    counts of ``gldm_box`` / ``ngtdm_box`` (same order, so the same sums) on
    :func:`_padded`."""
    no = offsets.shape[0]
    P = np.zeros((ng, no + 2))
    n = np.zeros(ng + 1)
    s = np.zeros(ng + 1)
    for t in range(roi.shape[0]):
        i = roi[t]
        gi = levels[i]
        dep = 0
        cnt = 0.0
        tot = 0.0
        for a in range(no):
            gj = levels[i + offsets[a]]
            if gj > 0:
                cnt += 1.0
                tot += gj
                if abs(gi - gj) <= alpha:
                    dep += 1
        P[gi - 1, dep + 1] += 1.0
        n[gi] += 1.0
        s[gi] += 0.0 if cnt == 0 else abs(gi - tot / cnt)
    if gldm:
        gldm_values(P, ng, no, out_gldm)
    if ngtdm:
        ngtdm_values(n, s, ng, out_ngtdm)


@numba.njit(cache=True)
def _glcm(levels: np.ndarray, roi: np.ndarray, lut: np.ndarray, gs: np.ndarray, m: int,
          ng: int, offsets: np.ndarray, weights: np.ndarray, symmetric: bool,
          out: np.ndarray, mcc: bool) -> None:
    """GLCM features of the whole array (PyRadiomics ``RadiomicsGLCM``, segment-based).

    One matrix per angle over the voxel pairs ``(x, x + a)`` both in the ROI, symmetrised
    when ``symmetric``; features per angle, averaged over the angles that have pairs
    (``nanmean`` per feature), or one matrix of the weighted angles when ``weights`` is
    not empty.
    """
    na = offsets.shape[0]
    P = _roi_glcm_counts(levels, roi, offsets, lut, m)
    f = np.empty(_GLCM_NF)
    if weights.shape[0] > 0:
        W = np.zeros((m, m))
        for a in range(na):
            for i in range(m):
                for j in range(m):
                    v = P[a, i, j] + P[a, j, i] if symmetric else P[a, i, j]
                    W[i, j] += weights[a] * v
        s = W.sum()
        if s == 0:
            for k in range(_GLCM_NF):
                out[k] = np.nan
            return
        W /= s
        angle_features(W, gs, m, ng, m, symmetric, f, mcc)
        for k in range(_GLCM_NF):
            out[k] = f[k]
        return
    acc = np.zeros(_GLCM_NF)
    cnt = np.zeros(_GLCM_NF)
    Pa = np.empty((m, m))
    for a in range(na):
        s = 0.0
        for i in range(m):
            for j in range(m):
                v = P[a, i, j] + P[a, j, i] if symmetric else P[a, i, j]
                Pa[i, j] = v
                s += v
        if s == 0:
            continue  # PyRadiomics deletes an angle without pairs
        Pa /= s
        angle_features(Pa, gs, m, ng, m, symmetric, f, mcc)
        for k in range(_GLCM_NF):
            if not np.isnan(f[k]):
                acc[k] += f[k]
                cnt[k] += 1.0
    for k in range(_GLCM_NF):
        out[k] = acc[k] / cnt[k] if cnt[k] > 0 else np.nan


@numba.njit(cache=True)
def image_pass(vals: np.ndarray, disc: np.ndarray, lut: np.ndarray, gs: np.ndarray,
               m: int, ng: int, families: int, glcm_angles: np.ndarray,
               glcm_weights: np.ndarray, symmetric: bool, rl_angles: np.ndarray,
               rl_weights: np.ndarray, zone_offsets: np.ndarray, nb_offsets: np.ndarray,
               alpha: int, voxel_volume: float, shift: float, mcc: bool) -> np.ndarray:
    """Every enabled family of one image's ROI in one call.

    Parameters
    ----------
    vals : (Z, Y, X) float64
        Intensities of the ROI's bounding box (a 2D image has ``Z = 1``).
    disc : (Z, Y, X) int32
        Discretised levels inside the ROI (1..ng), 0 outside.
    lut, gs, m
        ``lut[level]`` -> index among the ``m`` levels present in the ROI, ``gs`` their
        values (ascending).
    ng : int
        Largest level in the ROI.
    families : int
        Bit mask of :data:`FAMILY_BITS`; families left out stay NaN.
    glcm_angles, rl_angles : (Na, 3) int64
        Unidirectional offsets: GLCM (the ``distances``), GLRLM (distance 1).
    glcm_weights, rl_weights : (Na,) float64
        Per-angle weights (``weightingNorm``), or empty for per-angle averaging.
    symmetric : bool
        Symmetrise the GLCM (``symmetricalGLCM``).
    zone_offsets, nb_offsets : (No, 3) int64
        Bidirectional offsets: GLSZM connectivity (distance 1), GLDM / NGTDM neighbours.
    alpha : int
        GLDM coarseness (``gldm_a``).
    voxel_volume, shift : float
        For TotalEnergy; ``voxelArrayShift``.
    mcc : bool
        Compute the GLCM's MCC (else NaN: one eigen-solve per matrix, most of the GLCM's
        cost, saved when the feature is not asked for).

    Returns
    -------
    (94,) float64 in :data:`LAYOUT`.
    """
    out = np.full(N_VALUES, np.nan)
    sz, sy, sx = disc.shape
    if families & 1:
        n = _roi_size(disc)
        buf = np.empty(n)
        hist = np.zeros(ng + 1)
        k = 0
        for z in range(sz):
            for y in range(sy):
                for x in range(sx):
                    g = disc[z, y, x]
                    if g > 0:
                        buf[k] = vals[z, y, x]
                        hist[g] += 1.0
                        k += 1
        # the order statistics by selection (a whole 2D ultrasound ROI: 30,000 values)
        firstorder_values(np.partition(buf, order_ranks(n)), n, hist, ng, voxel_volume, shift,
                          out[0:19])
    if families & (2 | 4 | 8 | 16 | 32):
        pad = 1
        for a in range(glcm_angles.shape[0]):
            for d in range(3):
                pad = max(pad, abs(glcm_angles[a, d]))
        for a in range(nb_offsets.shape[0]):
            for d in range(3):
                pad = max(pad, abs(nb_offsets[a, d]))
        levels, roi, Y, X = _padded(disc, pad)
        if families & 4:
            _roi_runs(levels, disc.shape, pad, Y, X, rl_angles, lut, gs, m,
                      max(sz, sy, sx), rl_weights, out[43:59])
        if families & 8:
            _roi_zones(levels, roi, _flat_offsets(zone_offsets, Y, X), ng, out[59:75])
        if families & 2:
            _glcm(levels, roi, lut, gs, m, ng, _flat_offsets(glcm_angles, Y, X), glcm_weights,
                  symmetric, out[19:43], mcc)
        if families & (16 | 32):
            _neighbour_pass(levels, roi, _flat_offsets(nb_offsets, Y, X), ng, alpha,
                            (families & 16) != 0, (families & 32) != 0, out[75:89],
                            out[89:94])
    return out
