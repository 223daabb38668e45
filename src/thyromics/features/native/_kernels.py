"""The one compiled pass of the native engine: every texture matrix and first-order
statistic of one (filtered) image, from one discretised array.

The matrices are counted over the whole cropped ROI box, which is the voxel-map kernel of
:mod:`thyromics.features.maps` with a single window covering the box: the run-length,
size-zone, dependence and neighbourhood-difference features come from the same per-box
functions as the maps (``glrlm_box``, ``glszm_box``, ``gldm_box``, ``ngtdm_box``), the
GLCM features from the same per-matrix formulas (``angle_features``, with the MCC of
:func:`~thyromics.features.maps._glcm.glcm_mcc`), the first-order statistics from
``firstorder_values``. Only the GLCM counting lives here, because a segment's GLCM may be
non-symmetric or weighted over angles (PyRadiomics ``symmetricalGLCM``,
``weightingNorm``), which maps never are.

Output layout (:data:`LAYOUT`): 19 first-order values (PyRadiomics' 18 and the deprecated
StandardDeviation), 24 GLCM, 16 GLRLM, 16 GLSZM, 14 GLDM, 5 NGTDM.
"""

from __future__ import annotations

import numba
import numpy as np

from thyromics.features.maps._box import glcm_counts
from thyromics.features.maps._firstorder import firstorder_values, order_ranks
from thyromics.features.maps._glcm import angle_features
from thyromics.features.maps._neighbour import gldm_box, ngtdm_box
from thyromics.features.maps._runzone import glrlm_box, glszm_box

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
def _glcm(disc: np.ndarray, lut: np.ndarray, gs: np.ndarray, m: int, ng: int,
          angles: np.ndarray, weights: np.ndarray, symmetric: bool, out: np.ndarray,
          mcc: bool) -> None:
    """GLCM features of the whole array (PyRadiomics ``RadiomicsGLCM``, segment-based).

    One matrix per angle over the voxel pairs ``(x, x + a)`` both in the ROI, symmetrised
    when ``symmetric``; features per angle, averaged over the angles that have pairs
    (``nanmean`` per feature), or one matrix of the weighted angles when ``weights`` is
    not empty.
    """
    na = angles.shape[0]
    sz, sy, sx = disc.shape
    P = glcm_counts(disc, lut, m, angles, 0, sz - 1, 0, sy - 1, 0, sx - 1)
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
    z1, y1, x1 = sz - 1, sy - 1, sx - 1
    if families & 1:
        n = 0
        for z in range(sz):
            for y in range(sy):
                for x in range(sx):
                    if disc[z, y, x] > 0:
                        n += 1
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
    if families & 2:
        _glcm(disc, lut, gs, m, ng, glcm_angles, glcm_weights, symmetric, out[19:43], mcc)
    if families & 4:
        nl = max(sz, sy, sx)
        glrlm_box(disc, 0, z1, 0, y1, 0, x1, lut, gs, m, nl, rl_angles, rl_weights, out[43:59])
    if families & 8:
        glszm_box(disc, 0, z1, 0, y1, 0, x1, zone_offsets, ng, out[59:75])
    if families & 16:
        gldm_box(disc, 0, z1, 0, y1, 0, x1, nb_offsets, ng, alpha, out[75:89])
    if families & 32:
        ngtdm_box(disc, 0, z1, 0, y1, 0, x1, nb_offsets, ng, out[89:94])
    return out
