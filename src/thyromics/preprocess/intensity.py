"""Intensity windowing and normalisation."""

from __future__ import annotations

import math

import numpy as np

from thyromics.errors import InputError
from thyromics.io.image import Image

__all__ = ["normalize_intensity"]


def normalize_intensity(image: Image, window: tuple[float, float] | None = None) -> Image:
    """Scale intensities to [0, 1].

    ``y = (clip(x, lo, hi) - lo) / (hi - lo)``.

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
    x = image.array.astype(np.float64)
    if window is None:
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InputError("image has NaN or infinite values; check_finite() it first.")
        if hi == lo:
            return image.with_array(np.zeros_like(x))
    else:
        lo, hi = map(float, window)
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
            raise InputError(f"window must be (lo, hi) with lo < hi, got {window!r}.")
    return image.with_array((np.clip(x, lo, hi) - lo) / (hi - lo))
