"""PNG, JPEG, BMP, GIF and TIFF files through Pillow (private; see :mod:`thyromics.io._formats`).

These formats carry no reliable physical spacing (resolution tags are printing DPI), so
the spacing is ``(1.0, 1.0)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thyromics.errors import CaseError
from thyromics.io import _integrity
from thyromics.io._arrays import ColourMode, check_frame, to_grey
from thyromics.io._filetypes import fail, unreadable
from thyromics.io.image import Image

__all__ = ["read_raster"]


def read_raster(path: Path, fmt: str, frame: int | None, colour: ColourMode) -> Image:
    """One frame of a raster file as a 2D grey image."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if fmt == "TIFF":
        _integrity.check_tiff(path)
    try:
        with _integrity.strict_pillow(), PILImage.open(path) as pim:
            n = int(getattr(pim, "n_frames", 1))
            f = check_frame(path, n, frame, f"{fmt} file")
            if f:
                pim.seek(f)
            mode = pim.mode
            if mode == "P" or mode == "PA":
                pim = pim.convert("RGBA")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                pim = pim.convert("RGB")
            elif mode == "1":
                pim = pim.convert("L")
            arr = np.array(pim)
    except CaseError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise _integrity.truncated_raster(path, fmt, e) or unreadable(path, fmt, e) from e
    if arr.ndim == 3:
        arr = to_grey(path, arr, colour)
    if arr.ndim != 2:
        raise fail(path, f"expected a 2D {fmt} image, found an array of shape {arr.shape}.")
    return Image(arr, (1.0, 1.0), source=str(path))
