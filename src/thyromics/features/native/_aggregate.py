"""IBSI texture aggregation variants beyond PyRadiomics' own (``ibsi`` convention).

IBSI 1 (reference manual, arXiv:1612.07003, "feature aggregation" of the texture
chapters) computes texture matrices in six ways; PyRadiomics computes one of them, chosen
by ``dimensionality``:

=============  ==============================================================  ===========
variant        GLCM / GLRLM                                                    PyRadiomics
=============  ==============================================================  ===========
``2D_avg``     per slice and in-plane direction; features averaged over both
``2D_comb``    per slice, the in-plane directions' matrices merged; features
               averaged over the slices
``2_5D_avg``   per in-plane direction, merged over the slices; features          ``2d``
               averaged over the directions
``2_5D_comb``  one matrix: every slice and in-plane direction merged
``3D_avg``     per 3D direction (13); features averaged over the directions      ``3d``
``3D_comb``    one matrix: the 13 directions merged
=============  ==============================================================  ===========

The size-zone, dependence and neighbourhood-difference matrices have no directions: ``2D``
(per slice, features averaged over the slices), ``2.5D`` (in-plane neighbours, one matrix
over the slices; PyRadiomics ``2d``) and ``3D`` (PyRadiomics ``3d``).

``ExtractionSettings(texture_aggregations=(...))`` adds columns
``<image type>_<class>_<feature>_<suffix>``: for GLCM / GLRLM the suffix is the variant
(``original_glcm_JointAverage_3D_comb``), for GLSZM / GLDM / NGTDM its ``2D`` / ``2_5D`` /
``3D`` part (``original_glszm_ZoneEntropy_2D``), each once. Slices run along
``force2d_dimension``; a slice's matrix spans the grey levels of the whole ROI
(discretised once, as IBSI); slices where a feature is undefined (NaN: no voxel pair in
the slice) are left out of the slice average. The variants follow ``distances``,
``symmetrical_glcm`` and ``gldm_a``; PyRadiomics' ``weighting_norm`` applies to the usual
columns only (a merged variant sums the directions' matrices unweighted, as IBSI).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from thyromics.features.native._kernels import image_pass

__all__ = ["AGGREGATIONS", "TEXTURE_FAMILIES", "aggregation_suffixes", "variant_pass"]

#: variant -> (in-plane directions only, per slice, directions merged).
AGGREGATIONS: dict[str, tuple[bool, bool, bool]] = {
    "2D_avg": (True, True, False), "2D_comb": (True, True, True),
    "2_5D_avg": (True, False, False), "2_5D_comb": (True, False, True),
    "3D_avg": (False, False, False), "3D_comb": (False, False, True)}
#: Families with directional matrices (a suffix per variant) and without (per dimension).
TEXTURE_FAMILIES: dict[str, bool] = {"glcm": True, "glrlm": True, "glszm": False,
                                     "gldm": False, "ngtdm": False, "gldzm": False}


def aggregation_suffixes(family: str, aggregations: Iterable[str]) -> tuple[str, ...]:
    """Column suffixes of a feature class for the requested variants (in their order)."""
    if family not in TEXTURE_FAMILIES:
        return ()
    if TEXTURE_FAMILIES[family]:
        return tuple(dict.fromkeys(aggregations))
    return tuple(dict.fromkeys(v.rsplit("_", 1)[0] for v in aggregations))


def _slices(disc: np.ndarray, axis: int) -> list[np.ndarray]:
    """The slices of ``disc`` along ``axis`` that hold ROI voxels (kept 3D)."""
    out = []
    for k in range(disc.shape[axis]):
        index = [slice(None)] * 3
        index[axis] = slice(k, k + 1)
        piece = np.ascontiguousarray(disc[tuple(index)])
        if piece.any():
            out.append((tuple(index), piece))
    return out


def variant_pass(vals: np.ndarray, disc: np.ndarray, lut: np.ndarray, gs: np.ndarray, m: int,
                 ng: int, families: int, geo: Any, variant: str, axis: int, alpha: int,
                 voxel_volume: float, symmetric: bool, mcc: bool = True) -> np.ndarray:
    """:func:`~thyromics.features.native._kernels.image_pass` values of one variant.

    Parameters
    ----------
    vals, disc, lut, gs, m, ng, families
        As :func:`image_pass` (``families`` without first order).
    geo : _Geometry
        Offsets of the variant's directions: in-plane (``axis`` held) or 3D.
    variant : str
        A key of :data:`AGGREGATIONS`.
    axis : int
        numpy axis the slices run along (PyRadiomics ``force2Ddimension``).
    alpha, voxel_volume, symmetric, mcc
        As :func:`image_pass`.
    """
    _, per_slice, merged = AGGREGATIONS[variant]
    glcm_w = np.ones(len(geo.glcm)) if merged else np.empty(0)
    rl_w = np.ones(len(geo.rl)) if merged else np.empty(0)

    def one(v: np.ndarray, d: np.ndarray) -> np.ndarray:
        return image_pass(v, d, lut, gs, m, ng, families, geo.glcm, glcm_w, symmetric, geo.rl,
                          rl_w, geo.zones, geo.neighbours, alpha, voxel_volume, 0.0, mcc)

    if not per_slice:
        return one(vals, disc)
    rows = [one(np.ascontiguousarray(vals[index]), piece) for index, piece in _slices(disc, axis)]
    stack = np.array(rows)
    out = np.full(stack.shape[1], np.nan)
    ok = ~np.isnan(stack)
    counts = ok.sum(axis=0)
    sums = np.where(ok, stack, 0.0).sum(axis=0)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out
