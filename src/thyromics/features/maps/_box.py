"""Numba helpers shared by the map kernels: a voxel's kernel box and its grey levels."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["kernel_box", "box_levels"]


@numba.njit(cache=True, inline="always")
def kernel_box(coords: np.ndarray, v: int, radius: np.ndarray, shape: tuple):
    """``(z0, z1, y0, y1, x0, x1)``: voxel ``v``'s box ``[c - r, c + r]``, inclusive,
    clipped to an array of ``shape``."""
    cz, cy, cx = coords[v, 0], coords[v, 1], coords[v, 2]
    return (max(cz - radius[0], 0), min(cz + radius[0], shape[0] - 1),
            max(cy - radius[1], 0), min(cy + radius[1], shape[1] - 1),
            max(cx - radius[2], 0), min(cx + radius[2], shape[2] - 1))


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
