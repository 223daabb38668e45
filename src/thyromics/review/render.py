"""Image slices as 8-bit PNG, with window/level presets.

================ ================================== ===============================
preset           window                             for
================ ================================== ===============================
``ct_soft``      level 40 HU, width 400 HU          CT soft tissue (neck, thyroid)
``ct_lung``      level -600 HU, width 1500 HU       CT lung (nodules, metastases)
``us``           0-255 for 8-bit images, else the   ultrasound (grey levels have no
                 0.5th-99.5th percentile            physical unit)
``auto``         1st-99th percentile of the image   anything else
================ ================================== ===============================

Values below the window are black, above it white, linearly in between
(``(v - (level - width / 2)) / width * 255``).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from thyromics.review.cases import ReviewError

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.io.image import Image

__all__ = ["PRESETS", "window_bounds", "apply_window", "slice_png", "default_preset"]

#: preset -> (level, width); None for the data-driven presets.
PRESETS: dict[str, tuple[float, float] | None] = {
    "ct_soft": (40.0, 400.0),
    "ct_lung": (-600.0, 1500.0),
    "us": None,
    "auto": None,
}


def window_bounds(array: np.ndarray, preset: str) -> tuple[float, float]:
    """``(low, high)`` intensities of the window of ``preset`` on ``array``."""
    if preset not in PRESETS:
        raise ReviewError(400, f"unknown window preset {preset!r}: expected one of "
                               f"{', '.join(PRESETS)}.")
    fixed = PRESETS[preset]
    if fixed is not None:
        level, width = fixed
        return level - width / 2, level + width / 2
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if finite.size == 0:
        return 0.0, 1.0
    if preset == "us" and array.dtype == np.uint8:
        return 0.0, 255.0
    q = (0.5, 99.5) if preset == "us" else (1.0, 99.0)
    low, high = (float(v) for v in np.percentile(finite, q))
    return (low, high) if high > low else (low, low + 1.0)


def apply_window(array: np.ndarray, low: float, high: float) -> np.ndarray:
    """``uint8`` grey levels of ``array`` through the window ``[low, high]``."""
    a = np.nan_to_num(np.asarray(array, dtype=np.float64), nan=low)
    return np.clip((a - low) / (high - low) * 255.0, 0, 255).round().astype(np.uint8)


def default_preset(image: "Image") -> str:
    """``us`` for 2D images, ``ct_soft`` for volumes in HU (values below -500), else ``auto``."""
    if image.ndim == 2:
        return "us"
    return "ct_soft" if float(np.nanmin(image.array)) < -500 else "auto"


def slice_png(image: "Image", index: int, preset: str) -> bytes:
    """PNG bytes of slice ``index`` (axis 0 of a volume; 0 for a 2D image) through ``preset``.

    The window of the data-driven presets is taken from the whole volume, so that paging
    through the slices does not change the grey levels.
    """
    arr = image.array
    n = arr.shape[0] if arr.ndim == 3 else 1
    if not 0 <= index < n:
        raise ReviewError(400, f"slice {index} out of range: the image has {n} slice(s) (0-{n - 1}).")
    low, high = window_bounds(arr, preset)
    plane = arr[index] if arr.ndim == 3 else arr
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(apply_window(plane, low, high)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
