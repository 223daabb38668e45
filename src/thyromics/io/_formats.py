"""Low-level readers: one function per kind of file, all returning an :class:`Image`.

Private module. The public entry points are :func:`thyromics.io.read_image` and
:func:`thyromics.io.read_mask`; this module only knows how to turn one file (or one
DICOM series folder) into one 2D or 3D array with its geometry. It dispatches to one
private module per kind of file (``_raster``, ``_volume``, ``_dicom_read``); what a
path is lives in ``_filetypes``, colour and frames in ``_arrays``, header-only reads
and checks in ``_headers``.

Kinds of file
-------------
``volume``  NIfTI, NRRD, MetaImage: SimpleITK ``ImageFileReader``.
``raster``  PNG, JPEG, BMP, GIF, TIFF: Pillow. These formats carry no reliable physical
            spacing (resolution tags are printing DPI), so spacing is ``(1.0, 1.0)``.
``dicom``   one DICOM file: SimpleITK (GDCM), spacing from PixelSpacing; an ultrasound
            image without it takes the pixel size of its 2D tissue region
            (:func:`thyromics.io.dicom_series.ultrasound_spacing`), or warns that its
            spacing is pixels. An enhanced multi-frame CT / MR / PET file is a volume
            (:mod:`thyromics.io.dicom_enhanced`, also as the one file of a folder).
``series``  a folder of DICOM files: SimpleITK ``ImageSeriesReader`` on the slices as
            :func:`thyromics.io.dicom_series.series_geometry` sorted and checked them
            (gaps, tilt, uneven spacing, mixed orientations refused; per-slice rescale
            read in floating point). Series of RTSTRUCT/SEG objects in the folder are
            not candidates.

Before any of them reads pixels, :mod:`thyromics.io._integrity` checks that the file
holds all the pixel data its header promises (SimpleITK and GDCM pad a cut file with
zeros without a word).

Colour
------
Colour pixels are turned into grey with the ITU-R BT.601 luma formula
``Y = 0.299 R + 0.587 G + 0.114 B`` (ITU-R Recommendation BT.601-7, 2011, section 2.5.1);
alpha is ignored and palette images are expanded to RGB first. When the three channels
are equal everywhere (grey stored as colour) the first channel is used unchanged, which
keeps the integer type. For masks (``colour="mask"``) a two-colour image (black plus one
colour) is read as a 0/1 mask instead.
"""

from __future__ import annotations

from pathlib import Path

from thyromics.io._arrays import LUMA_WEIGHTS, ColourMode, luma
from thyromics.io._dicom_read import read_dicom_file, read_series
from thyromics.io._filetypes import FORMATS, SUPPORTED_EXTENSIONS, fail, file_kind
from thyromics.io._headers import Header, check_file, read_header
from thyromics.io._raster import read_raster
from thyromics.io._volume import read_volume
from thyromics.io.image import Image

__all__ = ["FORMATS", "SUPPORTED_EXTENSIONS", "LUMA_WEIGHTS", "file_kind", "read_raw", "luma",
           "read_header", "Header", "check_file"]


def read_raw(path: Path, *, frame: int | None = None, series_uid: str | None = None,
             colour: ColourMode = "luma") -> Image:
    """Read any supported path into an :class:`Image` (no value checks)."""
    kind, fmt = file_kind(path)
    if frame is not None and int(frame) < 0:
        raise fail(path, f"frame must be 0 or more, got {frame}.")
    if kind == "raster":
        return read_raster(path, fmt, frame, colour)
    if kind == "volume":
        return read_volume(path, fmt, frame, colour)
    if kind == "dicom":
        return read_dicom_file(path, frame, series_uid, colour)
    return read_series(path, frame, series_uid, colour)
