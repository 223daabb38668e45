"""Numba kernel: first-order statistics in a sliding box (PyRadiomics ``firstorder``).

Every formula follows PyRadiomics' ``RadiomicsFirstOrder`` (version 3) evaluated on the
valid voxels ``X`` of the box around each voxel (see :mod:`._engine` for what "valid"
means), with ``N`` valid voxels, ``c`` = ``voxelArrayShift`` and ``p(i)`` the histogram of
the discretised levels in the box:

Energy = sum (X + c)^2; TotalEnergy = V_voxel * Energy; Entropy = -sum p log2(p + eps);
percentiles by linear interpolation (numpy's default); MAD = mean |X - mean|;
rMAD = MAD of the voxels with P10 <= X <= P90; RMS = sqrt(Energy / N);
Skewness = m3 / m2^1.5 and Kurtosis = m4 / m2^2 (0 when m2 = 0); Variance = m2;
Uniformity = sum p^2.
"""

from __future__ import annotations

import numba
import numpy as np

from .settings import MAP_FEATURES

__all__ = ["FIRSTORDER_ORDER", "firstorder_maps", "firstorder_values", "order_ranks"]

FIRSTORDER_ORDER = MAP_FEATURES["firstorder"]  # column order of the kernel's output


@numba.njit(cache=True, inline="always")
def _percentile(s: np.ndarray, n: int, q: float) -> float:
    # numpy 'linear' method on sorted s[:n], with numpy's two-sided lerp
    vi = q / 100.0 * (n - 1)
    lo = int(np.floor(vi))
    hi = min(lo + 1, n - 1)
    t = vi - lo
    a = s[lo]
    b = s[hi]
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


@numba.njit(cache=True)
def order_ranks(n: int) -> np.ndarray:
    """The ranks :func:`firstorder_values` reads of its sorted intensities (minimum, maximum,
    median and the two neighbours of each percentile), ascending: ``np.partition`` on them
    gives it the values a full sort would at those places."""
    ranks = np.empty(12, dtype=np.int64)
    k = 0
    for q in (10.0, 25.0, 75.0, 90.0):
        lo = int(np.floor(q / 100.0 * (n - 1)))  # as _percentile
        ranks[k] = lo
        ranks[k + 1] = min(lo + 1, n - 1)
        k += 2
    ranks[8] = 0
    ranks[9] = n - 1
    ranks[10] = n // 2
    ranks[11] = max(n // 2 - 1, 0)
    return np.unique(ranks)


@numba.njit(cache=True)
def firstorder_values(s: np.ndarray, n: int, hist: np.ndarray, ng: int, voxel_volume: float,
                      shift: float, out: np.ndarray) -> None:
    """The 18 features (:data:`FIRSTORDER_ORDER`) of the ``n`` sorted intensities ``s`` with
    the level histogram ``hist[1:ng + 1]`` into ``out``, then the standard deviation
    (PyRadiomics' deprecated ``StandardDeviation``) into ``out[18]`` when it has room.
    Only the :func:`order_ranks` of ``s`` need to be in sorted place."""
    eps = np.spacing(1.0)
    mean = 0.0
    energy = 0.0
    for k in range(n):
        mean += s[k]
        energy += (s[k] + shift) ** 2
    mean /= n
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    mad = 0.0
    for k in range(n):
        d = s[k] - mean
        m2 += d * d
        m3 += d * d * d
        m4 += d * d * d * d
        mad += abs(d)
    m2 /= n
    m3 /= n
    m4 /= n
    mad /= n
    p10 = _percentile(s, n, 10.0)
    p90 = _percentile(s, n, 90.0)
    p25 = _percentile(s, n, 25.0)
    p75 = _percentile(s, n, 75.0)
    if n % 2 == 1:
        med = s[n // 2]
    else:
        med = (s[n // 2 - 1] + s[n // 2]) / 2.0
    # robust MAD on P10 <= X <= P90
    rm = 0.0
    rn = 0
    for k in range(n):
        if s[k] >= p10 and s[k] <= p90:
            rm += s[k]
            rn += 1
    rmad = np.nan
    if rn > 0:
        rm /= rn
        rmad = 0.0
        for k in range(n):
            if s[k] >= p10 and s[k] <= p90:
                rmad += abs(s[k] - rm)
        rmad /= rn
    ent = 0.0
    uni = 0.0
    for g in range(1, ng + 1):
        if hist[g] > 0:
            p = hist[g] / n
            ent -= p * np.log2(p + eps)
            uni += p * p
    m2d = m2 if m2 != 0.0 else 1.0
    out[0] = energy
    out[1] = energy * voxel_volume
    out[2] = ent
    out[3] = s[0]
    out[4] = p10
    out[5] = p90
    out[6] = s[n - 1]
    out[7] = mean
    out[8] = med
    out[9] = p75 - p25
    out[10] = s[n - 1] - s[0]
    out[11] = mad
    out[12] = rmad
    out[13] = np.sqrt(energy / n)
    out[14] = m3 / m2d ** 1.5
    out[15] = m4 / m2d ** 2.0
    out[16] = m2
    out[17] = uni
    if out.shape[0] > 18:
        out[18] = np.sqrt(m2)


@numba.njit(cache=True, parallel=True)
def firstorder_maps(vals: np.ndarray, disc: np.ndarray, coords: np.ndarray,
                    radius: np.ndarray, ng: int, voxel_volume: float,
                    shift: float) -> np.ndarray:
    """First-order features for each voxel in ``coords``.

    Parameters
    ----------
    vals : (Z, Y, X) float64
        Intensities.
    disc : (Z, Y, X) int32
        Discretised levels, 0 where a voxel may not take part in a kernel.
    coords : (N, 3) int64
        Centre voxels.
    radius : (3,) int64
        Kernel half-width per axis (0 on a forced-2D axis).
    ng : int
        Largest grey level in the ROI.
    voxel_volume : float
        Voxel volume in mm^3 (for TotalEnergy).
    shift : float
        ``voxelArrayShift``.

    Returns
    -------
    (N, 18) float64, columns in :data:`FIRSTORDER_ORDER`.
    """
    nvox = coords.shape[0]
    out = np.empty((nvox, 18), dtype=np.float64)
    kmax = (2 * radius[0] + 1) * (2 * radius[1] + 1) * (2 * radius[2] + 1)
    sz, sy, sx = disc.shape
    for v in numba.prange(nvox):
        buf = np.empty(kmax, dtype=np.float64)
        hist = np.zeros(ng + 1, dtype=np.float64)
        cz, cy, cx = coords[v, 0], coords[v, 1], coords[v, 2]
        n = 0
        for z in range(max(cz - radius[0], 0), min(cz + radius[0], sz - 1) + 1):
            for y in range(max(cy - radius[1], 0), min(cy + radius[1], sy - 1) + 1):
                for x in range(max(cx - radius[2], 0), min(cx + radius[2], sx - 1) + 1):
                    g = disc[z, y, x]
                    if g > 0:
                        buf[n] = vals[z, y, x]
                        hist[g] += 1.0
                        n += 1
        firstorder_values(np.sort(buf[:n]), n, hist, ng, voxel_volume, shift, out[v])
    return out
