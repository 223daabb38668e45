"""Intensity windowing and normalisation."""

from __future__ import annotations

import math

import numpy as np

from thyromics.errors import InputError
from thyromics.io.image import Image

__all__ = ["normalize_intensity", "unit_scale"]


def unit_scale(array: np.ndarray, window: tuple[float, float] | None = None, *,
               dtype: type = np.float64) -> np.ndarray:
    """``clip((x - lo) / (hi - lo), 0, 1)`` computed in ``dtype``: the one intensity scaling.

    ``window=(lo, hi)`` in the image's units; without it ``lo, hi`` are the array's minimum
    and maximum (a constant array gives zeros). Used by :func:`normalize_intensity` and
    by the deep-learning crops (``float32``).

    Raises
    ------
    InputError
        NaN or infinite values (min-max scaling), or a window with ``lo >= hi``.
    """
    a = np.asarray(array, dtype=dtype)
    if window is None:
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError("image has NaN or infinite values; check_finite() it first.")
        if hi <= lo:
            return np.zeros_like(a)
        return ((a - lo) / (hi - lo)).astype(dtype)
    lo, hi = map(float, window)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise InputError(f"window must be (lo, hi) with lo < hi, got {window!r}.")
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(dtype)


def normalize_intensity(image: Image, window: tuple[float, float] | None = None) -> Image:
    """Scale intensities to [0, 1].

    ``y = (clip(x, lo, hi) - lo) / (hi - lo)`` (:func:`unit_scale`, in float64).

    Parameters
    ----------
    image : Image
    window : (float, float), optional
        ``(lo, hi)`` in the image's units (e.g. HU: ``(-1000, 400)``); values outside
        are clipped. Without it ``lo, hi`` are the image's minimum and maximum
        (min-max scaling); a constant image becomes all zeros.

    Returns
    -------
    Image
        ``float64`` values in [0, 1], same geometry.
    """
    return image.with_array(unit_scale(image.array, window))
