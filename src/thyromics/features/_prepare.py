"""The image and mask every feature of a case is computed on: normalised, resampled.

PyRadiomics' own resampling (``imageoperations.resampleImage``) runs ITK's B-spline on
the raw image and casts the result to the input pixel type inside ITK; on an image with
2 slices that returns heap garbage (see :mod:`thyromics.preprocess.resample`). The engine
therefore does PyRadiomics' loading steps itself, in PyRadiomics' order (normalise, then
resample and crop to the lesion plus ``padDistance``), through the guarded resampling
path, and hands PyRadiomics the prepared image with resampling and normalisation off.
On images whose every axis is long enough for the kernel the prepared image equals
PyRadiomics' own, voxel for voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thyromics.errors import CaseError
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image
from thyromics.preprocess import crop_to_mask
from thyromics.preprocess.resample import (Grid, cast_like, pyradiomics_grid, resample_mask,
                                           resample_to_grid, resampled_grid)

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """The image and 0/1 mask features are computed on, and how they were made."""

    image: Image
    mask: Image
    notes: tuple[str, ...] = ()
    grid: str | None = None
    n_clipped: int = 0


def _normalize(image: Image, settings: ExtractionSettings) -> Image:
    from radiomics import imageoperations as ops

    out = ops.normalizeImage(image.to_sitk(), normalizeScale=settings.normalize_scale,
                             removeOutliers=settings.remove_outliers)
    return Image.from_sitk(out, source=image.source)


def prepare(image: Image, lesion: Image, settings: ExtractionSettings, *,
            case_id: str | None = None, warn: bool = True) -> Prepared:
    """Normalise and resample a case as the settings say.

    Parameters
    ----------
    image : Image
    lesion : Image
        The 0/1 lesion mask on the image's grid.
    settings : ExtractionSettings
        ``normalize`` (PyRadiomics' z-score), ``resampled_pixel_spacing``,
        ``interpolator``, ``pad_distance``, ``resampling_grid`` and ``clip_interpolated``;
        ``convention="ibsi"`` always resamples on the IBSI grid.
    warn : bool
        Raise a :class:`~thyromics.preprocess.resample.ResamplingWarning` for each axis
        padded because it was shorter than the kernel (the notes record it either way).

    Returns
    -------
    Prepared
        Unchanged inputs when there is nothing to do. With ``resampling_grid="pyradiomics"``
        the image keeps its pixel type (ITK's cast: clip, then truncate); with ``"ibsi"``
        it is kept in float64, rounded to integers when the input was integer (IBSI: CT
        intensities are rounded after interpolation; with ``convention="ibsi"`` also when
        a float image holds only integer values, as a CT in HU stored as float32), and the
        mask is interpolated linearly and thresholded at 0.5.

    Raises
    ------
    CaseError
        ``stage="preprocess"``: the lesion vanishes on the new grid, or an interpolated
        value is not finite.
    """
    if settings.normalize:
        image = _normalize(image, settings)
    if settings.resampled_pixel_spacing is None:
        return Prepared(image, lesion)
    spacing = tuple(settings.resampled_pixel_spacing)[:image.ndim]
    grid = "ibsi" if settings.convention == "ibsi" else settings.resampling_grid
    try:
        if grid == "ibsi":
            out = _ibsi(image, lesion, spacing, settings, warn)
        else:
            out = _pyradiomics(image, lesion, spacing, settings, warn)
    except ValueError as e:
        raise CaseError(f"resampling to {spacing} mm failed: {e}", case_id=case_id,
                        file=image.source or None, stage="preprocess") from e
    if not out.mask.array.any():
        raise CaseError(f"the lesion vanishes when the mask is resampled to {spacing} mm "
                        f"({grid} grid): it is smaller than one new voxel. "
                        "Use a finer resampled_pixel_spacing or no resampling.",
                        case_id=case_id, file=lesion.source or None, stage="preprocess")
    return out


def _pyradiomics(image: Image, lesion: Image, spacing: tuple[float, ...],
                 settings: ExtractionSettings, warn: bool) -> Prepared:
    grid = pyradiomics_grid(lesion, spacing, settings.pad_distance)
    if np.allclose(image.spacing, grid.spacing):  # PyRadiomics only crops then
        img, msk = crop_to_mask(image, lesion, margin_vox=settings.pad_distance)
        return Prepared(img, msk, (), "pyradiomics (crop only)")
    values, notes = resample_to_grid(image, grid, interpolator=settings.interpolator,
                                     outside="fill", warn=warn)
    arr, clipped = _clip(values.array, image, settings.clip_interpolated)
    img = values.with_array(cast_like(arr, image.array.dtype))
    mask, _ = resample_to_grid(lesion, grid, interpolator="nearest", outside="fill", warn=False)
    return Prepared(img, mask.with_array((mask.array != 0).astype(np.uint8)), notes,
                    "pyradiomics", clipped)


def _clip(arr: np.ndarray, image: Image, clip: bool) -> tuple[np.ndarray, int]:
    """Interpolated values clipped to the input's range, and how many were outside it."""
    if not clip:
        return arr, 0
    lo, hi = float(image.array.min()), float(image.array.max())
    outside = int(np.count_nonzero((arr < lo) | (arr > hi)))
    return (np.clip(arr, lo, hi) if outside else arr), outside


def _ibsi(image: Image, lesion: Image, spacing: tuple[float, ...], settings: ExtractionSettings,
          warn: bool) -> Prepared:
    spacing = tuple(o if t == 0 else t for o, t in zip(image.spacing, spacing))
    size, sp, origin = resampled_grid(image, spacing)
    grid = Grid(size, sp, origin, image.direction)
    values, notes = resample_to_grid(image, grid, interpolator=settings.interpolator,
                                     outside="nearest", warn=warn)
    arr, clipped = _clip(values.array, image, settings.clip_interpolated)
    if image.array.dtype.kind in "iu" or (settings.convention == "ibsi"
                                          and _integral(image.array)):
        arr = np.rint(arr)
    img = values.with_array(cast_like(arr, np.float64))
    return Prepared(img, resample_mask(lesion, grid, method="linear"), notes, "ibsi", clipped)


def _integral(arr: np.ndarray) -> bool:
    """Whether every value of a (float) image is an integer (IBSI rounds such images)."""
    a = np.asarray(arr)
    return a.dtype.kind in "iub" or bool(np.all(np.isfinite(a) & (a == np.round(a))))
