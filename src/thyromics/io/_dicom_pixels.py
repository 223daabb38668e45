"""Second looks at DICOM files with pydicom, for what GDCM gets wrong or does not say.

Private module of :mod:`thyromics.io._dicom_read`: the header of one file, the modality
and description of a series, and palette colour pixels through their lookup tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thyromics.io._filetypes import fail as _fail

__all__ = ["pydicom_header", "palette_grey", "series_label"]


def series_label(files: list[str]) -> tuple[str, str]:
    """``(modality, description)`` of a series from its first file's header."""
    import pydicom

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True,
                             specific_tags=["Modality", "SeriesDescription"])
    except Exception:  # noqa: BLE001 - the integrity checks report unreadable files
        return "", ""
    return str(ds.get("Modality", "")).upper(), str(ds.get("SeriesDescription", "")).strip()


def pydicom_header(path: Path):
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - GDCM read it; pydicom is only a second look
        return None


def palette_grey(path: Path, frame: int | None, colour: str,
                  shape: tuple[int, ...]) -> np.ndarray:
    """A PALETTE COLOR frame through its lookup tables (pydicom), then to grey.

    GDCM expands segmented 16-bit palettes inconsistently (some pixels come out scaled
    by 1/256), so the palette is applied by pydicom's ``apply_color_lut``, which keeps
    the tables' own range (0-255 for 8-bit tables, 0-65535 for 16-bit ones), and the
    colour is turned into grey as for PNG palettes (:func:`luma`).
    """
    import pydicom
    from pydicom.pixels import apply_color_lut

    try:
        ds = pydicom.dcmread(path)
        stored = ds.pixel_array
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            stored = stored[0 if frame is None else int(frame)]
        rgb = apply_color_lut(stored, ds)
    except Exception as e:  # noqa: BLE001 - a broken palette is the file's
        raise _fail(path, f"cannot apply the DICOM palette colour lookup tables ({e}); the "
                          "file's palette is broken.") from e
    from thyromics.io._arrays import to_grey

    grey = to_grey(path, rgb, colour)
    if grey.shape != shape:
        raise _fail(path, f"palette image of shape {grey.shape} where GDCM read {shape}.")
    return grey
