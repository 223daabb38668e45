"""File headers without the pixels, and whole-file checks without building an image.

Private module of :mod:`thyromics.io._formats`: :func:`read_header` (size, frames and
geometry, as the readers would return them) and :func:`check_file` (all the pixel data
the header promises is there).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from thyromics.io import _integrity
from thyromics.io._dicom_pixels import pydicom_header
from thyromics.io._dicom_read import choose_series
from thyromics.io._filetypes import file_kind, unreadable

__all__ = ["Header", "read_header", "check_file"]


class Header(NamedTuple):
    """What a file header says, read without the pixel data.

    Geometry is that of the image the readers return (ITK order, as in :class:`Image`).
    """

    size: tuple[int, ...]  #: size of one frame, ITK order (x, y[, z])
    n_frames: int  #: number of frames (1 for ordinary images and volumes)
    spacing: tuple[float, ...] = ()  #: mm
    origin: tuple[float, ...] = ()  #: mm
    direction: tuple[float, ...] = ()  #: direction cosines, row-major


def _sub(values: tuple[float, ...], n: int, m: int) -> tuple[float, ...]:
    """Upper-left ``m x m`` block of an ``n x n`` row-major matrix."""
    return tuple(float(values[i * n + j]) for i in range(m) for j in range(m))


def _itk_header(reader, kind: str) -> Header:
    size, dim = tuple(reader.GetSize()), reader.GetDimension()
    spacing, origin, direction = reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection()
    keep, n_frames = dim, 1
    if kind == "dicom" and dim == 3:  # one DICOM file: a 2D image, frames along z
        keep, n_frames = 2, size[2]
    elif dim == 4:
        keep, n_frames = 3, size[3]
    return Header(size[:keep], n_frames, tuple(spacing[:keep]), tuple(origin[:keep]),
                  _sub(direction, dim, keep))


def _enhanced_header(path: Path) -> Header | None:
    """The volume header of an enhanced multi-frame file, or None for any other file."""
    from thyromics.io.dicom_enhanced import enhanced_geometry, is_enhanced

    ds = pydicom_header(path)
    if ds is None or not is_enhanced(ds):
        return None
    g = enhanced_geometry(path, ds)
    return Header(g.size, 1, g.spacing, g.origin, g.direction)


def _series_header(files: list[str]) -> Header:
    """Geometry of a series from its first two files, as ``ImageSeriesReader`` finds it."""
    import SimpleITK as sitk

    if len(files) == 1 and (header := _enhanced_header(Path(files[0]))) is not None:
        return header
    heads = []
    for f in files[:2]:
        reader = sitk.ImageFileReader()
        reader.SetFileName(f)
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise unreadable(Path(f), "DICOM", e) from e
        heads.append(reader)
    first = heads[0]
    spacing = list(first.GetSpacing())[:3] + [1.0] * (3 - first.GetDimension())
    direction = _sub(first.GetDirection(), first.GetDimension(), 3) \
        if first.GetDimension() == 3 else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    if len(heads) == 2:
        step = np.subtract(heads[1].GetOrigin(), first.GetOrigin())
        spacing[2] = float(abs(np.dot(step, direction[2::3])))
    return Header(tuple(first.GetSize()[:2]) + (len(files),), 1, tuple(spacing),
                  tuple(first.GetOrigin()), direction)


def read_header(path: Path, series_uid: str | None = None) -> Header:
    """Size, frame count and geometry of a file, reading only its header (cheap).

    ``series_uid`` chooses the series of a folder holding several.

    Raises :class:`CaseError` for a missing, unknown or unreadable file, or a DICOM
    folder with no series or several.
    """
    import SimpleITK as sitk

    kind, fmt = file_kind(path)
    if kind == "raster":
        from PIL import Image as PILImage
        from PIL import UnidentifiedImageError

        try:
            with PILImage.open(path) as pim:
                return Header(pim.size, int(getattr(pim, "n_frames", 1)), (1.0, 1.0),
                              (0.0, 0.0), (1.0, 0.0, 0.0, 1.0))
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
            raise unreadable(path, fmt, e) from e
    if kind == "series":
        return _series_header(choose_series(path, series_uid))
    if kind == "dicom" and (header := _enhanced_header(path)) is not None:
        return header
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise unreadable(path, fmt, e) from e
    header = _itk_header(reader, kind)
    if kind == "dicom" and len(header.size) == 2:  # as read_raw: ultrasound regions
        ds = pydicom_header(path)
        if ds is not None and "PixelSpacing" not in ds and "SequenceOfUltrasoundRegions" in ds:
            import warnings

            from thyromics.io.dicom_series import ultrasound_spacing

            with warnings.catch_warnings():  # read_raw says it when the pixels are read
                warnings.simplefilter("ignore")
                spacing = ultrasound_spacing(ds, path)
            if spacing is not None:
                header = header._replace(spacing=spacing)
    return header


def check_file(path: Path, series_uid: str | None = None) -> None:
    """Check that a file holds all the pixel data its header promises (no image built).

    NIfTI, DICOM files and series, TIFF: byte counts (:mod:`thyromics.io._integrity`);
    other raster files are decoded to their end. Raises :class:`CaseError`.
    """
    kind, fmt = file_kind(path)
    if kind == "volume" and fmt == "NIfTI":
        _integrity.check_nifti(path)
    elif kind == "dicom":
        _integrity.check_dicom(path)
    elif kind == "series":
        from thyromics.io.dicom_series import series_geometry

        series_geometry(path, choose_series(path, series_uid, check=True))
    elif kind == "raster":
        from PIL import Image as PILImage

        if fmt == "TIFF":
            _integrity.check_tiff(path)
        try:
            with _integrity.strict_pillow(), PILImage.open(path) as pim:
                for i in range(int(getattr(pim, "n_frames", 1))):
                    pim.seek(i)
                    pim.load()
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise _integrity.truncated_raster(path, fmt, e) or unreadable(path, fmt, e) from e
