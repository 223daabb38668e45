"""Segmentation agreement: Dice, IoU and the 95th-percentile Hausdorff distance.

Masks are numpy arrays (2-D or 3-D, any non-zero value is foreground) of the same
shape. ``spacing`` gives the voxel size **per array axis, in numpy order** (z, y, x)
in mm; note that :class:`thyromics.io.image.Image` stores spacing in ITK order
(x, y, z), so pass ``image.spacing[::-1]``.

Definitions
-----------
* ``dice = 2 |A n B| / (|A| + |B|)``; ``iou = |A n B| / |A u B|``.
* Surface of a mask: its foreground voxels with at least one face-neighbour in the
  background (``A xor erosion(A)`` with the cross-shaped structuring element; voxels
  on the array border count as surface).
* ``hd95``: for every surface voxel of A the Euclidean distance (in mm, voxel centres)
  to the nearest surface voxel of B, and vice versa; the 95th percentile (linear
  interpolation) of each directed set; the larger of the two. This is MONAI's
  ``compute_hausdorff_distance(percentile=95, directed=False)`` definition (checked
  in the tests) and the "HD95" of the Medical Segmentation Decathlon.
* Both masks empty: Dice, IoU and HD95 are undefined (NaN with an
  ``UndefinedMetricWarning``). One mask empty: Dice = IoU = 0 and HD95 NaN (infinite
  in theory) with a warning.

Per lesion
----------
:func:`lesion_agreement` splits the truth mask into lesions (connected components,
full connectivity: 8 in 2-D, 26 in 3-D, as the preprocess stage does), matches each
to the predicted components that overlap it, and reports Dice / IoU / HD95 of the
lesion against the union of its matched predicted components; predicted components
overlapping no lesion are counted as false-positive lesions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from thyromics.errors import InputError
from thyromics.evaluate._checks import warn_undefined

__all__ = ["dice", "iou", "hd95", "surface", "surface_distances", "lesion_agreement", "case_agreement"]


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    if a.shape != b.shape:
        raise InputError(f"segmentation masks differ in shape: {a.shape} vs {b.shape}; "
                         "resample the prediction onto the truth grid first.")
    if a.ndim not in (2, 3):
        raise InputError(f"segmentation masks must be 2-D or 3-D, found {a.ndim}-D.")
    return a, b


def _spacing(spacing: float | Sequence[float] | None, ndim: int) -> NDArray[np.float64]:
    if spacing is None:
        return np.ones(ndim)
    sp = np.broadcast_to(np.asarray(spacing, dtype=float), (ndim,)) if np.ndim(spacing) == 0 \
        else np.asarray(spacing, dtype=float)
    if sp.shape != (ndim,) or np.any(~np.isfinite(sp)) or np.any(sp <= 0):
        raise InputError(f"spacing must be {ndim} positive numbers (numpy axis order), found {spacing!r}.")
    return sp


def dice(a: ArrayLike, b: ArrayLike) -> float:
    """Dice coefficient ``2 |A n B| / (|A| + |B|)`` (NaN with a warning if both empty)."""
    a, b = _pair(a, b)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        warn_undefined("Dice is undefined for two empty masks.")
        return float("nan")
    return 2.0 * int((a & b).sum()) / total


def iou(a: ArrayLike, b: ArrayLike) -> float:
    """Intersection over union (Jaccard) ``|A n B| / |A u B|`` (NaN if both empty)."""
    a, b = _pair(a, b)
    union = int((a | b).sum())
    if union == 0:
        warn_undefined("IoU is undefined for two empty masks.")
        return float("nan")
    return int((a & b).sum()) / union


def surface(mask: ArrayLike) -> NDArray[np.bool_]:
    """Surface voxels: foreground with a face-neighbour in the background (array border = background)."""
    m = np.asarray(mask) != 0
    return m ^ ndimage.binary_erosion(m)


def surface_distances(a: ArrayLike, b: ArrayLike, spacing: float | Sequence[float] | None = None
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Directed surface distances in mm: (A's surface -> B's surface, B's -> A's)."""
    a, b = _pair(a, b)
    sp = _spacing(spacing, a.ndim)
    if not a.any() or not b.any():
        raise InputError("surface distances need two non-empty masks.")
    union = a | b
    box = tuple(slice(max(0, int(i.min()) - 1), int(i.max()) + 2) for i in np.nonzero(union))
    sa, sb = surface(a)[box], surface(b)[box]
    # the box keeps a 1-voxel background margin (or the array border), so surfaces are unchanged
    da = ndimage.distance_transform_edt(~sb, sampling=sp)[sa]
    db = ndimage.distance_transform_edt(~sa, sampling=sp)[sb]
    return da, db


def hd95(a: ArrayLike, b: ArrayLike, spacing: float | Sequence[float] | None = None) -> float:
    """Symmetric 95th-percentile Hausdorff distance in mm (see the module notes).

    Parameters
    ----------
    a, b : arrays of the same shape
        Masks (non-zero = foreground).
    spacing : float or sequence of float, optional
        Voxel size per array axis in mm (numpy order); 1 when not given.
    """
    a, b = _pair(a, b)
    if not a.any() or not b.any():
        warn_undefined("HD95 is undefined when a mask is empty.")
        return float("nan")
    da, db = surface_distances(a, b, spacing)
    return float(max(np.percentile(da, 95), np.percentile(db, 95)))


def case_agreement(truth: ArrayLike, pred: ArrayLike, spacing: float | Sequence[float] | None = None
                   ) -> dict[str, float]:
    """Dice, IoU and HD95 of two whole masks: ``{"dice", "iou", "hd95"}``."""
    return {"dice": dice(truth, pred), "iou": iou(truth, pred), "hd95": hd95(truth, pred, spacing)}


def lesion_agreement(truth: ArrayLike, pred: ArrayLike,
                     spacing: float | Sequence[float] | None = None) -> dict[str, Any]:
    """Per-lesion and per-case agreement of a predicted mask with the truth.

    Returns
    -------
    dict
        ``case``: :func:`case_agreement` of the whole masks; ``lesions``: one dict per
        truth lesion (label order) with ``lesion`` (1-based), ``voxels``,
        ``detected`` (overlaps a predicted component), ``matched_components``,
        ``dice``, ``iou``, ``hd95``; ``n_lesions``, ``n_detected`` and
        ``false_positive_components`` (predicted components touching no lesion).
    """
    t, p = _pair(truth, pred)
    structure = ndimage.generate_binary_structure(t.ndim, t.ndim)
    lt, nt = ndimage.label(t, structure=structure)
    lp, npred = ndimage.label(p, structure=structure)
    lesions = []
    touched: set[int] = set()
    for k in range(1, nt + 1):
        les = lt == k
        comps = sorted(int(c) for c in np.unique(lp[les]) if c != 0)
        touched.update(comps)
        matched = np.isin(lp, comps) if comps else np.zeros_like(les)
        entry: dict[str, Any] = {"lesion": k, "voxels": int(les.sum()), "detected": bool(comps),
                                 "matched_components": comps, "dice": dice(les, matched),
                                 "iou": iou(les, matched)}
        entry["hd95"] = hd95(les, matched, spacing) if comps else float("nan")
        lesions.append(entry)
    return {"case": case_agreement(t, p, spacing), "lesions": lesions, "n_lesions": nt,
            "n_detected": sum(e["detected"] for e in lesions),
            "false_positive_components": len(set(range(1, npred + 1)) - touched)}
