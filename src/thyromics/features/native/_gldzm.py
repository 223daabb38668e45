"""Grey level distance zone matrix (IBSI GLDZM; ``ibsi`` convention, ``ibsi_features``).

IBSI reference manual (arXiv:1612.07003), "Grey level distance zone based features",
after Thibault et al. 2014: zones are the connected groups of voxels of one grey level in
the intensity mask (26-connected in 3D, 8-connected in a slice, as the GLSZM); a zone's
distance is the smallest distance to the ROI edge of its voxels, on the morphological
mask, counted in 6-connected (3D) or 4-connected (slice) steps, 1 on the edge (the
taxicab distance to the nearest voxel outside the mask, the grid's border outside too).
``d_ij`` counts the zones of level ``i`` and distance ``j``; ``N_s`` zones, ``N_v`` voxels,
``p_ij = d_ij / N_s``. The 16 features are the GLSZM's with distances for sizes.

Aggregation: ``3D`` (one 3D matrix), ``2_5D`` (the slices' matrices summed, ``N_v``
summed), ``2D`` (features of each slice's matrix averaged over the slices); slices along
``force2d_dimension``. The usual columns follow ``dimensionality`` (``3d``: 3D, ``2d``:
2.5D), the ``texture_aggregations`` variants add ``_2D`` / ``_2_5D`` / ``_3D`` columns.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GLDZM_FEATURES", "gldzm_values"]

#: Feature names, in column order.
GLDZM_FEATURES: tuple[str, ...] = (
    "SmallDistanceEmphasis", "LargeDistanceEmphasis", "LowGrayLevelZoneEmphasis",
    "HighGrayLevelZoneEmphasis", "SmallDistanceLowGrayLevelEmphasis",
    "SmallDistanceHighGrayLevelEmphasis", "LargeDistanceLowGrayLevelEmphasis",
    "LargeDistanceHighGrayLevelEmphasis", "GrayLevelNonUniformity",
    "GrayLevelNonUniformityNormalized", "ZoneDistanceNonUniformity",
    "ZoneDistanceNonUniformityNormalized", "ZonePercentage", "GrayLevelVariance",
    "ZoneDistanceVariance", "ZoneDistanceEntropy")


def _features(zones: np.ndarray, n_voxels: int) -> np.ndarray:
    """The 16 features of the zones ``(level, distance)`` (one row per zone)."""
    levels, i_index = np.unique(zones[:, 0], return_inverse=True)
    dists, j_index = np.unique(zones[:, 1], return_inverse=True)
    m = np.zeros((len(levels), len(dists)))
    np.add.at(m, (i_index, j_index), 1.0)
    ns = m.sum()
    i = levels.astype(np.float64)[:, None]
    j = dists.astype(np.float64)[None, :]
    p = m / ns
    mu_i, mu_j = float((i * p).sum()), float((j * p).sum())
    nz = p[p > 0]
    return np.array([
        (m / j ** 2).sum() / ns, (m * j ** 2).sum() / ns, (m / i ** 2).sum() / ns,
        (m * i ** 2).sum() / ns, (m / (i ** 2 * j ** 2)).sum() / ns,
        (m * i ** 2 / j ** 2).sum() / ns, (m * j ** 2 / i ** 2).sum() / ns,
        (m * i ** 2 * j ** 2).sum() / ns, (m.sum(axis=1) ** 2).sum() / ns,
        (m.sum(axis=1) ** 2).sum() / ns ** 2, (m.sum(axis=0) ** 2).sum() / ns,
        (m.sum(axis=0) ** 2).sum() / ns ** 2, ns / n_voxels,
        float(((i - mu_i) ** 2 * p).sum()), float(((j - mu_j) ** 2 * p).sum()),
        float(-(nz * np.log2(nz)).sum())])


def _zones(disc: np.ndarray, dist: np.ndarray, planar_axis: int | None) -> np.ndarray:
    """``(level, distance, slice)`` of every zone of ``disc`` (levels, 0 outside)."""
    from scipy import ndimage

    structure = np.ones((3, 3, 3), dtype=bool)  # 26-connected, or 8-connected in a slice
    if planar_axis is not None:
        index: list = [slice(None)] * 3
        index[planar_axis] = [0, 2]
        structure[tuple(index)] = False
    position = np.indices(disc.shape)[planar_axis or 0]
    rows = []
    for level in np.unique(disc[disc > 0]):
        lab, n = ndimage.label(disc == level, structure=structure)
        ids = np.arange(1, n + 1)
        d = ndimage.minimum(dist, lab, ids)
        s = ndimage.minimum(position, lab, ids)
        rows.append(np.column_stack([np.full(n, level), d, s]))
    return np.vstack(rows).astype(np.int64)


def _distance(morph: np.ndarray, planar_axis: int | None) -> np.ndarray:
    """Steps to the morphological mask's edge (1 on the edge), 6- or in-plane 4-connected."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(3, 1)
    if planar_axis is not None:
        index: list = [slice(None)] * 3
        index[planar_axis] = [0, 2]
        cross[tuple(index)] = False
    padded = np.pad(morph, 1)
    out = ndimage.distance_transform_cdt(padded, metric=cross)
    return out[(slice(1, -1),) * 3]


def gldzm_values(disc: np.ndarray, morph: np.ndarray, aggregation: str,
                 axis: int = 0) -> np.ndarray:
    """The 16 GLDZM features of one image (:data:`GLDZM_FEATURES` order).

    Parameters
    ----------
    disc : (Z, Y, X) int
        Discretised levels of the intensity mask, 0 elsewhere.
    morph : (Z, Y, X) bool
        The morphological mask on the same grid (may reach beyond the intensity mask).
    aggregation : {"3D", "2_5D", "2D"}
    axis : int
        numpy axis the slices run along.
    """
    planar = None if aggregation == "3D" else axis
    zones = _zones(disc, _distance(morph, planar), planar)
    if aggregation != "2D":
        return _features(zones[:, :2], int((disc > 0).sum()))
    counts = np.moveaxis(disc > 0, axis, 0).reshape(disc.shape[axis], -1).sum(axis=1)
    per_slice = [_features(zones[zones[:, 2] == k, :2], int(counts[k]))
                 for k in np.unique(zones[:, 2])]
    return np.mean(per_slice, axis=0)
