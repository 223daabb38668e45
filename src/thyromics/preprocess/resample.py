"""Resampling images and masks onto a new voxel grid: the one resampling path.

Extraction, the fractal/moment extras, deep learning and habitats all resample through
:func:`resample_to_grid`, which guards against a fault of ITK's B-spline interpolator:
along an axis with fewer samples than the kernel needs (2 slices for a cubic B-spline),
``itk::BSplineDecompositionImageFilter`` reads memory outside the image, so the result
depends on the heap (NaN, -6.9e17, or -32768/32767 after a cast to int16) and changes
from run to run. Here an axis shorter than the kernel is first padded by mirroring
(ITK's own mirror rule, ``k -> -k``), so the kernel never reaches past the data; each
such padding is returned as a note and raised as a :class:`ResamplingWarning`. Values are
computed in float64 and cast explicitly (:func:`cast_like`).

Two grids:

* :func:`resampled_grid`, the IBSI grid (Zwanenburg et al., Radiology 2020, reference
  manual section 2.4, "align grid centres"): along each axis with ``n`` voxels of
  spacing ``s``, the new grid of spacing ``s'`` has ``n' = ceil(n s / s')`` voxels and its
  centre coincides with the old grid's centre. Masks are interpolated linearly and
  thresholded at 0.5.
* :func:`pyradiomics_grid`, PyRadiomics' grid (``imageoperations.resampleImage``): aligned
  to the input origin's voxel corner, cropped to the lesion's bounding box plus
  ``padDistance`` new voxels; masks by nearest neighbour.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np

from thyromics.errors import InputError, ThyromicsWarning, did_you_mean
from thyromics.io.image import Image

__all__ = ["resample", "resample_mask", "resample_to_grid", "resampled_grid", "pyradiomics_grid",
           "rotated_grid", "translated_grid", "cast_like", "Grid", "INTERPOLATORS",
           "KERNEL_SUPPORT", "ResamplingWarning"]

Interpolator = Literal["linear", "bspline", "nearest"]

#: Names accepted by ``interpolator``: linear (tri/bilinear), bspline (cubic B-spline),
#: nearest (nearest neighbour). SimpleITK names (``sitkBSpline`` ...) are accepted too.
INTERPOLATORS: tuple[str, ...] = ("linear", "bspline", "nearest")

_SITK_NAMES = {"nearest": "sitkNearestNeighbor", "linear": "sitkLinear", "bspline": "sitkBSpline"}

#: Samples an interpolation kernel reads along an axis: cubic B-spline 4, windowed sinc
#: of SimpleITK's radius 3 six, Gaussian (alpha 4 sigma) eight.
KERNEL_SUPPORT: dict[str, int] = {
    "sitkNearestNeighbor": 1, "sitkLinear": 2, "sitkBSpline": 4, "sitkGaussian": 8,
    "sitkLabelGaussian": 8, "sitkHammingWindowedSinc": 6, "sitkCosineWindowedSinc": 6,
    "sitkWelchWindowedSinc": 6, "sitkLanczosWindowedSinc": 6, "sitkBlackmanWindowedSinc": 6}


class ResamplingWarning(ThyromicsWarning):
    """An axis was too short for the interpolation kernel and was padded by mirroring."""


@dataclass(frozen=True)
class Grid:
    """A voxel grid in ITK order: size, spacing (mm), origin (mm), direction cosines."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: Image) -> "Grid":
        """The grid an image lies on."""
        return cls(image.size, image.spacing, image.origin, image.direction)


def _sitk_name(name: str) -> str:
    key = _SITK_NAMES.get(name, name)
    if key not in KERNEL_SUPPORT:
        options = [*INTERPOLATORS, *KERNEL_SUPPORT]
        hint = did_you_mean(str(name), options, n=1)
        raise InputError(f"unknown interpolator {name!r}; expected one of "
                         f"{', '.join(INTERPOLATORS)} (or a SimpleITK name such as "
                         f"sitkBSpline).{hint}")
    return key


def _spacing(image: Image, spacing: float | tuple[float, ...]) -> tuple[float, ...]:
    sp = (float(spacing),) * image.ndim if np.isscalar(spacing) else tuple(map(float, spacing))
    if len(sp) != image.ndim or not all(s > 0 and math.isfinite(s) for s in sp):
        raise InputError(f"spacing must be one positive number or {image.ndim} positive numbers "
                         f"(mm, order x, y[, z]), got {spacing!r}.")
    return sp


def resampled_grid(image: Image, spacing: float | tuple[float, ...]
                   ) -> tuple[tuple[int, ...], tuple[float, ...], tuple[float, ...]]:
    """``(size, spacing, origin)`` of the centre-aligned (IBSI) grid with the new spacing."""
    sp = _spacing(image, spacing)
    size = tuple(max(1, math.ceil(n * s / t - 1e-9)) for n, s, t in zip(image.size, image.spacing, sp))
    shift = np.array([(s * (n - 1) - t * (m - 1)) / 2.0
                      for n, s, t, m in zip(image.size, image.spacing, sp, size)])
    direction = np.asarray(image.direction).reshape(image.ndim, image.ndim)
    origin = tuple((np.asarray(image.origin) + direction @ shift).tolist())
    return size, sp, origin


def pyradiomics_grid(mask: Image, spacing: tuple[float, ...], pad_distance: int) -> Grid:
    """PyRadiomics' resampling grid (``imageoperations.resampleImage``, v3.1).

    A spacing of 0, and every axis along which the lesion spans a single voxel, keep the
    mask's spacing. The grid starts at the voxel corner of the input origin, covers the
    lesion's bounding box plus ``pad_distance`` new voxels, and never extends past the
    input's extent (rounded up to whole new voxels).
    """
    nz = np.nonzero(mask.array)
    if nz[0].size == 0:
        raise InputError("cannot build a resampling grid around an empty mask.")
    lo = np.array([int(ix.min()) for ix in reversed(nz)], dtype=float)  # ITK order
    extent = np.array([int(ix.max()) for ix in reversed(nz)], dtype=float) - lo + 1
    old = np.asarray(mask.spacing)
    new = np.asarray([o if t == 0 else t for o, t in zip(old, spacing)], dtype=float)
    new = np.where(extent != 1, new, old)
    ratio = old / new
    lower = np.maximum(np.floor((lo - 0.5) * ratio - pad_distance), 0)
    upper = np.minimum(np.ceil((lo + extent - 0.5) * ratio + pad_distance),
                       np.ceil(np.asarray(mask.size) * ratio) - 1)
    size = tuple(int(u - lw + 1) for lw, u in zip(lower, upper))
    index = 0.5 * (new - old) / old + lower / ratio  # continuous index of the new origin
    direction = np.asarray(mask.direction).reshape(mask.ndim, mask.ndim)
    origin = np.asarray(mask.origin) + direction @ (index * old)
    return Grid(size, tuple(new.tolist()), tuple(origin.tolist()), mask.direction)


def rotated_grid(grid: Grid, angle_deg: float, centre: tuple[float, ...]) -> Grid:
    """The grid rotated by ``angle_deg`` about ``centre`` (mm) in its own in-plane axes.

    The rotation is about the grid's third axis (its slice normal; the only axis of a 2D
    grid), so the x-y (axial) plane turns: every grid point ``p = o + D S i`` moves to
    ``c + R (p - c)`` with ``R`` the rotation by ``angle_deg`` in the plane of the
    grid's first two direction vectors. Resampling an image onto this grid
    (:func:`resample_to_grid`) gives the image as seen from a rotated patient,
    rotated about ``centre`` (e.g. the lesion's centroid), as in Zwanenburg et al.
    (Sci Rep 2019;9:614) "rotation" perturbation. Size and spacing are kept.
    """
    nd = len(grid.size)
    direction = np.asarray(grid.direction, dtype=float).reshape(nd, nd)
    t = math.radians(float(angle_deg))
    plane = np.eye(nd)
    plane[:2, :2] = [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
    rot = direction @ plane @ np.linalg.inv(direction)  # the rotation in physical space
    c = np.asarray(centre, dtype=float)
    if c.shape != (nd,):
        raise InputError(f"the centre of rotation needs {nd} coordinates (mm), got {centre!r}.")
    origin = c + rot @ (np.asarray(grid.origin, dtype=float) - c)
    return Grid(grid.size, grid.spacing, tuple(origin.tolist()),
                tuple((rot @ direction).ravel().tolist()))


def translated_grid(grid: Grid, fraction: tuple[float, ...]) -> Grid:
    """The grid shifted by ``fraction`` of a voxel along each of its axes (ITK order).

    ``fraction`` (one value per axis, usually in ``[0, 1)``) moves the origin by
    ``D S f``: resampling onto it interpolates between the original voxel centres, the
    sub-voxel "translation" perturbation of Zwanenburg et al. (Sci Rep 2019;9:614).
    """
    nd = len(grid.size)
    f = np.asarray(fraction, dtype=float)
    if f.shape != (nd,) or not np.isfinite(f).all():
        raise InputError(f"a translation needs {nd} finite voxel fractions, got {fraction!r}.")
    direction = np.asarray(grid.direction, dtype=float).reshape(nd, nd)
    shift = direction @ (f * np.asarray(grid.spacing, dtype=float))
    return Grid(grid.size, grid.spacing,
                tuple((np.asarray(grid.origin, dtype=float) + shift).tolist()), grid.direction)


def _pad_short_axes(image: Image, support: int) -> tuple[Image, list[str]]:
    """Mirror-pad every axis with fewer samples than ``support`` (ITK order notes).

    Linear and nearest-neighbour interpolation (support <= 2) clamp to the buffer in ITK
    and are never padded.
    """
    pads, notes = [], []
    if support <= 2:
        return image, notes
    axis_names = "xyz"
    for i, n in enumerate(image.size):
        p = math.ceil((support - n) / 2) if n < support else 0
        pads.append(p)
        if p:
            notes.append(f"axis {axis_names[i]} has {n} sample(s), fewer than the {support} the "
                         f"interpolation kernel reads: padded by mirroring {p} sample(s) on "
                         "each side before interpolating")
    if not any(pads):
        return image, notes
    arr = image.array
    for i, p in enumerate(pads):
        if p:
            ax = image.ndim - 1 - i  # numpy axis of ITK axis i
            width = [(0, 0)] * image.ndim
            width[ax] = (p, p)
            arr = np.pad(arr, width, mode="reflect" if arr.shape[ax] > 1 else "edge")
    direction = np.asarray(image.direction).reshape(image.ndim, image.ndim)
    shift = direction @ (np.asarray(pads, dtype=float) * np.asarray(image.spacing))
    origin = tuple((np.asarray(image.origin) - shift).tolist())
    return Image(arr, image.spacing, origin, image.direction, image.source), notes


def resample_to_grid(image: Image, grid: Grid, *, interpolator: str = "linear",
                     outside: Literal["nearest", "fill"] = "nearest", fill: float = 0.0,
                     warn: bool = True) -> tuple[Image, tuple[str, ...]]:
    """Resample an image onto a grid, in float64, never reading past the data.

    Parameters
    ----------
    image : Image
    grid : Grid
        The output grid.
    interpolator : str
        ``linear``, ``bspline``, ``nearest`` or a SimpleITK interpolator name.
    outside : {"nearest", "fill"}
        Grid points beyond the input's extent take the nearest input voxel's value
        (IBSI) or ``fill`` (ITK's default, as PyRadiomics).
    warn : bool
        Raise a :class:`ResamplingWarning` for each padded axis (the notes are returned
        either way).

    Returns
    -------
    (Image, tuple of str)
        The float64 image (``nearest`` keeps the values exactly) and the notes on axes
        that were padded because they were shorter than the kernel.
    """
    import SimpleITK as sitk

    name = _sitk_name(interpolator)
    src, notes = _pad_short_axes(image.with_array(image.array.astype(np.float64)),
                                 KERNEL_SUPPORT[name])
    f = sitk.ResampleImageFilter()
    f.SetSize([int(s) for s in grid.size])
    f.SetOutputSpacing(tuple(float(s) for s in grid.spacing))
    f.SetOutputOrigin(tuple(float(o) for o in grid.origin))
    f.SetOutputDirection(tuple(float(d) for d in grid.direction))
    f.SetInterpolator(getattr(sitk, name))
    f.SetUseNearestNeighborExtrapolator(outside == "nearest")
    f.SetDefaultPixelValue(float(fill))
    f.SetOutputPixelType(sitk.sitkFloat64)
    out = Image.from_sitk(f.Execute(src.to_sitk()), source=image.source)
    if warn:
        for note in notes:
            warnings.warn(f"{image.source or 'image'}: {note}", ResamplingWarning, stacklevel=2)
    return out, tuple(notes)


def cast_like(array: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Cast interpolated values to a pixel type as ITK's resampler does.

    Integer types: values are clipped to the type's range, then truncated toward zero
    (``itk::ResampleImageFilter::CastPixelWithBoundsChecking``); float types: a plain cast.

    Raises
    ------
    ValueError
        When a value is not finite (an interpolation fault must never become a number).
    """
    dtype = np.dtype(dtype)
    arr = np.asarray(array, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{int((~np.isfinite(arr)).sum())} interpolated value(s) are not finite")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.trunc(np.clip(arr, info.min, info.max)).astype(dtype)
    return arr.astype(dtype)


def resample(image: Image, spacing: float | tuple[float, ...], *,
             interpolator: Interpolator = "linear") -> Image:
    """Resample an image to a new voxel spacing on the centre-aligned (IBSI) grid.

    Parameters
    ----------
    image : Image
    spacing : float or tuple of float
        New spacing in mm: one value (isotropic) or one per axis, ITK order ``(x, y[, z])``.
    interpolator : {"linear", "bspline", "nearest"}
        ``linear`` and ``bspline`` (cubic B-spline) return ``float64`` so no value is
        truncated; ``nearest`` keeps the pixel type. Grid points just past the old edge
        take the value of the nearest old voxel (no artificial zeros).

    Examples
    --------
    A 8 x 6 x 4 image (x, y, z) of 0.5 x 0.5 x 1 mm covers 4 x 3 x 4 mm:

    >>> import numpy as np
    >>> from thyromics.io.image import Image
    >>> image = Image(np.zeros((4, 6, 8)), spacing=(0.5, 0.5, 1.0))
    >>> out = resample(image, 1.0)
    >>> out.array.shape, out.spacing
    ((4, 3, 4), (1.0, 1.0, 1.0))
    """
    size, sp, origin = resampled_grid(image, spacing)
    out, _ = resample_to_grid(image, Grid(size, sp, origin, image.direction),
                              interpolator=interpolator)
    if _sitk_name(interpolator) == "sitkNearestNeighbor":
        return out.with_array(out.array.astype(image.array.dtype))
    return out


def resample_mask(mask: Image, reference_or_spacing: Image | Grid | float | tuple[float, ...], *,
                  method: Literal["linear", "nearest"] = "linear") -> Image:
    """Resample a 0/1 mask onto another image's grid or to a new spacing.

    Parameters
    ----------
    mask : Image
        Binary mask (any non-zero voxel counts as lesion).
    reference_or_spacing : Image, Grid, float or tuple of float
        An image (or grid) the mask is resampled onto, e.g. to fix an image/mask
        geometry mismatch (reference voxels outside the mask's extent are background);
        or a new spacing in mm, as in :func:`resample` (same grid as the image
        resampled to that spacing).
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
    if method not in ("linear", "nearest"):
        raise InputError(f"unknown mask resampling method {method!r}; expected 'linear' "
                         "(with a 0.5 threshold) or 'nearest'.")
    binary = mask.with_array((mask.array != 0).astype(np.float64))
    if isinstance(reference_or_spacing, (Image, Grid)):
        grid = (Grid.of(reference_or_spacing) if isinstance(reference_or_spacing, Image)
                else reference_or_spacing)
        if len(grid.size) != mask.ndim:
            raise InputError(f"cannot resample a {mask.ndim}D mask onto a {len(grid.size)}D image.")
        outside = "fill"  # voxels of the reference outside the mask are background
    else:
        size, sp, origin = resampled_grid(mask, reference_or_spacing)
        grid, outside = Grid(size, sp, origin, mask.direction), "nearest"
    out, _ = resample_to_grid(binary, grid, interpolator=method, outside=outside, warn=False)
    arr = (out.array >= 0.5) if method == "linear" else (out.array != 0)
    return out.with_array(arr.astype(np.uint8))
