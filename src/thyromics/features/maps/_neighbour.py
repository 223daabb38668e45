"""Numba kernels: GLDM and NGTDM features in a sliding box (PyRadiomics ``gldm``/``ngtdm``).

Neighbours of a voxel are the valid voxels at the (bidirectional) angle offsets that lie
inside the same box. Per box, as PyRadiomics' C code does with a voxel-based bounding box:

- GLDM (Sun & Wee 1983): ``P(i, j)`` counts the box voxels of level ``i`` with ``j - 1``
  dependent neighbours (``|i - i_nb| <= alpha``); ``N_z`` = voxels in the box.
- NGTDM (Amadasun & King 1989): ``n_i`` voxels of level ``i``, ``s_i = sum |i - A_x|``
  with ``A_x`` the mean level of a voxel's neighbours (0 when it has none);
  ``p_i = n_i / N_vp``.

Feature formulas are those of PyRadiomics' ``RadiomicsGLDM`` / ``RadiomicsNGTDM``.
"""

from __future__ import annotations

import numba
import numpy as np

from ._box import kernel_box, level_at, matrix_features
from .settings import MAP_FEATURES

__all__ = ["GLDM_ORDER", "NGTDM_ORDER", "gldm_box", "gldm_maps", "gldm_values", "ngtdm_box",
           "ngtdm_maps", "ngtdm_values"]

GLDM_ORDER = MAP_FEATURES["gldm"]  # column order of the kernel's output
NGTDM_ORDER = MAP_FEATURES["ngtdm"]  # column order of the kernel's output


#: The 16 matrix features (:func:`matrix_features`) that GLDM reports, in GLDM_ORDER:
#: SRE, LRE, GLN, RLN, RLNN, GLV, RV, RE, LGL, HGL, SRLGL, SRHGL, LRLGL, LRHGL.
_GLDM_FROM_MATRIX = np.array([0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15])


@numba.njit(cache=True)
def gldm_box(disc: np.ndarray, z0: int, z1: int, y0: int, y1: int, x0: int, x1: int,
             offsets: np.ndarray, ng: int, alpha: int, out: np.ndarray) -> None:
    """GLDM features (14, :data:`GLDM_ORDER`) of the box ``[z0, z1] x [y0, y1] x [x0, x1]``.

    The dependence matrix has rows = levels 1..ng and column ``k`` = dependence size
    ``k`` (1 + the number of dependent neighbours), so its features are the run-length
    formulas of :func:`matrix_features` with sizes in place of run lengths.
    """
    no = offsets.shape[0]
    P = np.zeros((ng, no + 2))
    for z in range(z0, z1 + 1):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                gi = disc[z, y, x]
                if gi == 0:
                    continue
                dep = 0
                for a in range(no):
                    gj = level_at(disc, offsets, a, z, y, x, z0, z1, y0, y1, x0, x1)
                    if gj > 0 and abs(gi - gj) <= alpha:
                        dep += 1
                P[gi - 1, dep + 1] += 1.0
    gldm_values(P, ng, no, out)


@numba.njit(cache=True)
def gldm_values(P: np.ndarray, ng: int, no: int, out: np.ndarray) -> None:
    """The 14 GLDM features of the dependence matrix ``P`` (``ng x (no + 2)``, ``no``
    neighbour offsets) into ``out`` (NaN when it is empty)."""
    levels = np.arange(1, ng + 1).astype(np.float64)
    f = np.empty(16)
    if matrix_features(P, levels, ng, no + 1, f) == 0:
        for k in range(14):
            out[k] = np.nan
        return
    for k in range(14):
        out[k] = f[_GLDM_FROM_MATRIX[k]]


@numba.njit(cache=True, parallel=True)
def gldm_maps(disc: np.ndarray, coords: np.ndarray, radius: np.ndarray,
              offsets: np.ndarray, ng: int, alpha: int) -> np.ndarray:
    """GLDM features (N, 14) in :data:`GLDM_ORDER`; ``offsets`` are bidirectional
    (see :func:`gldm_box`)."""
    nvox = coords.shape[0]
    out = np.empty((nvox, 14))
    for v in numba.prange(nvox):
        z0, z1, y0, y1, x0, x1 = kernel_box(coords, v, radius, disc.shape)
        gldm_box(disc, z0, z1, y0, y1, x0, x1, offsets, ng, alpha, out[v])  # never empty
    return out


@numba.njit(cache=True)
def ngtdm_box(disc: np.ndarray, z0: int, z1: int, y0: int, y1: int, x0: int, x1: int,
              offsets: np.ndarray, ng: int, out: np.ndarray) -> None:
    """NGTDM features (5, :data:`NGTDM_ORDER`) of the box ``[z0, z1] x [y0, y1] x [x0, x1]``."""
    no = offsets.shape[0]
    n = np.zeros(ng + 1)
    s = np.zeros(ng + 1)
    for z in range(z0, z1 + 1):
        for y in range(y0, y1 + 1):
            for x in range(x0, x1 + 1):
                gi = disc[z, y, x]
                if gi == 0:
                    continue
                cnt = 0.0
                tot = 0.0
                for a in range(no):
                    gj = level_at(disc, offsets, a, z, y, x, z0, z1, y0, y1, x0, x1)
                    if gj > 0:
                        cnt += 1.0
                        tot += gj
                d = 0.0 if cnt == 0 else abs(gi - tot / cnt)
                n[gi] += 1.0
                s[gi] += d
    ngtdm_values(n, s, ng, out)


@numba.njit(cache=True)
def ngtdm_values(n: np.ndarray, s: np.ndarray, ng: int, out: np.ndarray) -> None:
    """The 5 NGTDM features from ``n_i`` and ``s_i`` (indexed by level 1..ng) into ``out``."""
    nvp = n.sum()
    lv = np.empty(ng + 1, dtype=np.int64)
    ngp = 0
    for i in range(1, ng + 1):
        if n[i] > 0:
            lv[ngp] = i
            ngp += 1
    ps = 0.0
    ssum = 0.0
    for k in range(ngp):
        i = lv[k]
        ps += n[i] / nvp * s[i]
        ssum += s[i]
    coarse = 1.0 / ps if ps != 0 else 1e6
    con = 0.0
    absd = 0.0
    comp = 0.0
    stre = 0.0
    for a in range(ngp):
        i = lv[a]
        pi = n[i] / nvp
        for b in range(ngp):
            j = lv[b]
            pj = n[j] / nvp
            con += pi * pj * (i - j) ** 2
            absd += abs(i * pi - j * pj)
            comp += abs(i - j) * (pi * s[i] + pj * s[j]) / (pi + pj)
            stre += (pi + pj) * (i - j) ** 2
    div = ngp * (ngp - 1)
    out[0] = coarse
    out[1] = con * ssum / nvp / div if div != 0 else 0.0
    out[2] = ps / absd if absd != 0 else 0.0
    out[3] = comp / nvp
    out[4] = stre / ssum if ssum != 0 else 0.0


@numba.njit(cache=True, parallel=True)
def ngtdm_maps(disc: np.ndarray, coords: np.ndarray, radius: np.ndarray,
               offsets: np.ndarray, ng: int) -> np.ndarray:
    """NGTDM features (N, 5) in :data:`NGTDM_ORDER`; ``offsets`` are bidirectional."""
    nvox = coords.shape[0]
    out = np.empty((nvox, 5))
    for v in numba.prange(nvox):
        z0, z1, y0, y1, x0, x1 = kernel_box(coords, v, radius, disc.shape)
        ngtdm_box(disc, z0, z1, y0, y1, x0, x1, offsets, ng, out[v])
    return out
