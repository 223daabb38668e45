"""Resampling images and masks onto a new voxel grid.

Grid rule (IBSI reference manual, Zwanenburg et al., Radiology 2020, section 2.4,
"align grid centres"): along each axis with ``n`` voxels of spacing ``s``, the new grid
of spacing ``s'`` has ``n' = ceil(n s / s')`` voxels and its centre coincides with the
old grid's centre, i.e. the new origin moves by ``(s (n - 1) - s' (n' - 1)) / 2`` along
that axis (in the image's own axes, rotated by its direction matrix). New voxels just
past the old edge take the value of the nearest old voxel (no artificial zeros).
"""

from __future__ import annotations

import difflib
import math
from typing import Literal

import numpy as np

from thyromics.errors import InputError
from thyromics.io.image import Image

__all__ = ["resample", "resample_mask", "INTERPOLATORS", "resampled_grid"]

Interpolator = Literal["linear", "bspline", "nearest"]


def _interpolators() -> dict[str, int]:
    import SimpleITK as sitk

    return {"linear": sitk.sitkLinear, "bspline": sitk.sitkBSpline,
            "nearest": sitk.sitkNearestNeighbor}


#: Names accepted by ``interpolator``: linear (tri/bilinear), bspline (cubic B-spline),
#: nearest (nearest neighbour).
INTERPOLATORS: tuple[str, ...] = ("linear", "bspline", "nearest")


def _look_up(name: str) -> int:
    table = _interpolators()
    if name not in table:
        close = difflib.get_close_matches(str(name), INTERPOLATORS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown interpolator {name!r}; expected one of "
                         f"{', '.join(INTERPOLATORS)}.{hint}")
    return table[name]


def _spacing(image: Image, spacing: float | tuple[float, ...]) -> tuple[float, ...]:
    sp = (float(spacing),) * image.ndim if np.isscalar(spacing) else tuple(map(float, spacing))
    if len(sp) != image.ndim or not all(s > 0 and math.isfinite(s) for s in sp):
        raise InputError(f"spacing must be one positive number or {image.ndim} positive numbers "
                         f"(mm, order x, y[, z]), got {spacing!r}.")
    return sp


def resampled_grid(image: Image, spacing: float | tuple[float, ...]
                   ) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """``(size, spacing, origin)`` of the centre-aligned grid with the new spacing (ITK order)."""
    sp = _spacing(image, spacing)
    size = tuple(max(1, math.ceil(n * s / t - 1e-9)) for n, s, t in zip(image.size, image.spacing, sp))
    shift = np.array([(s * (n - 1) - t * (m - 1)) / 2.0
                      for n, s, t, m in zip(image.size, image.spacing, sp, size)])
    direction = np.asarray(image.direction).reshape(image.ndim, image.ndim)
    origin = tuple((np.asarray(image.origin) + direction @ shift).tolist())
    return size, sp, origin


def _execute(image: Image, size, spacing, origin, direction, interp: int, out_float: bool,
             extrapolate: bool = True) -> Image:
    import SimpleITK as sitk

    src = image
    if out_float:
        src = image.with_array(image.array.astype(np.float64))
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in size])
    f.SetOutputSpacing(tuple(spacing))
    f.SetOutputOrigin(tuple(origin))
    f.SetOutputDirection(tuple(direction))
    f.SetInterpolator(interp)
    f.SetUseNearestNeighborExtrapolator(extrapolate)
    f.SetDefaultPixelValue(0.0)
    out = f.Execute(src.to_sitk())
    return Image.from_sitk(out, source=image.source)


def resample(image: Image, spacing: float | tuple[float, ...], *,
             interpolator: Interpolator = "linear") -> Image:
    """Resample an image to a new voxel spacing.

    Parameters
    ----------
    image : Image
    spacing : float or tuple of float
        New spacing in mm: one value (isotropic) or one per axis, ITK order ``(x, y[, z])``.
    interpolator : {"linear", "bspline", "nearest"}
        ``linear`` and ``bspline`` (cubic B-spline) return ``float64`` so no value is
        truncated; ``nearest`` keeps the pixel type.

    Returns
    -------
    Image
        On the centre-aligned grid described in the module docstring; same direction.
    """
    interp = _look_up(interpolator)
    size, sp, origin = resampled_grid(image, spacing)
    return _execute(image, size, sp, origin, image.direction, interp,
                    out_float=interpolator != "nearest")


def resample_mask(mask: Image, reference_or_spacing: Image | float | tuple[float, ...], *,
                  method: Literal["linear", "nearest"] = "linear") -> Image:
    """Resample a 0/1 mask onto another image's grid or to a new spacing.

    Parameters
    ----------
    mask : Image
        Binary mask (any non-zero voxel counts as lesion).
    reference_or_spacing : Image or float or tuple of float
        An image whose grid (size, spacing, origin, direction) the mask is resampled
        onto, e.g. to fix an image/mask geometry mismatch (reference voxels outside
        the mask's extent are background); or a new spacing in mm, as
        in :func:`resample` (same grid as the image resampled to that spacing).
    method : {"linear", "nearest"}
        ``linear`` (default): linear interpolation of the 0/1 mask, then voxels with a
        value >= 0.5 are lesion, the partial-volume rule the IBSI reference manual
        recommends (section 2.4). ``nearest``: nearest neighbour, as PyRadiomics does.

    Returns
    -------
    Image
        ``uint8`` 0/1 mask. A lesion much smaller than the new voxels can vanish; the
        caller should check that the result is not empty.
    """
    import SimpleITK as sitk

    if method not in ("linear", "nearest"):
        raise InputError(f"unknown mask resampling method {method!r}; expected 'linear' "
                         "(with a 0.5 threshold) or 'nearest'.")
    binary = mask.with_array((mask.array != 0).astype(np.float64 if method == "linear" else np.uint8))
    if isinstance(reference_or_spacing, Image):
        ref = reference_or_spacing
        if ref.ndim != mask.ndim:
            raise InputError(f"cannot resample a {mask.ndim}D mask onto a {ref.ndim}D image.")
        size, sp, origin, direction = ref.size, ref.spacing, ref.origin, ref.direction
        extrapolate = False  # voxels of the reference outside the mask are background
    else:
        extrapolate = True
        size, sp, origin = resampled_grid(mask, reference_or_spacing)
        direction = mask.direction
    interp = sitk.sitkLinear if method == "linear" else sitk.sitkNearestNeighbor
    out = _execute(binary, size, sp, origin, direction, interp, out_float=False,
                   extrapolate=extrapolate)
    arr = (out.array >= 0.5) if method == "linear" else (out.array != 0)
    return out.with_array(arr.astype(np.uint8))
