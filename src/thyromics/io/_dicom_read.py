"""DICOM pixels: one file, or one series of a folder (private; see :mod:`thyromics.io._formats`).

A single file is read by SimpleITK (GDCM), with pydicom's second look for palette
colour and ultrasound regions (:mod:`thyromics.io._dicom_pixels`). A series is sorted
and checked from its headers first (:func:`thyromics.io.dicom_series.series_geometry`).
"""

from __future__ import annotations

from pathlib import Path

from thyromics.io import _integrity
from thyromics.io._arrays import ColourMode
from thyromics.io._dicom_pixels import palette_grey, pydicom_header, series_label
from thyromics.io._filetypes import fail, first_line, unreadable
from thyromics.io._volume import sitk_to_image
from thyromics.io.dicom_enhanced import is_enhanced
from thyromics.io.image import Image

__all__ = ["read_dicom_file", "dicom_series", "choose_series", "read_series"]


def read_dicom_file(path: Path, frame: int | None, series_uid: str | None,
                    colour: ColourMode) -> Image:
    """One DICOM file: a 2D image (one frame of a multi-frame file)."""
    import SimpleITK as sitk

    ds = pydicom_header(path)
    if ds is not None and is_enhanced(ds):  # a whole volume in one file
        if series_uid is not None and str(ds.get("SeriesInstanceUID", "")) != series_uid:
            raise fail(path, f"series_uid {series_uid!r} requested but this DICOM file "
                             f"belongs to series {ds.get('SeriesInstanceUID', '')!r}.")
        return _enhanced(path, frame, None)
    _integrity.check_dicom(path)  # GDCM pads short pixel data with zeros
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        reader.ReadImageInformation()
        if series_uid is not None and reader.HasMetaDataKey("0020|000e"):
            found = reader.GetMetaData("0020|000e").strip()
            if found != series_uid:
                raise fail(path, f"series_uid {series_uid!r} requested but this DICOM file "
                                 f"belongs to series {found!r}.")
        img = reader.Execute()
    except RuntimeError as e:
        raise unreadable(path, "DICOM", e) from e
    out = sitk_to_image(path, img, frame, colour, squeeze_single=img.GetDimension() == 3,
                        what="DICOM file")
    if out.ndim != 2 or ds is None:
        return out
    array, spacing = out.array, out.spacing
    if str(ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
        array = palette_grey(path, frame, colour, array.shape)
    return Image(array, _ultrasound_spacing(ds, path, spacing), out.origin, out.direction,
                 out.source)


def _ultrasound_spacing(ds, path: Path, spacing: tuple[float, ...]) -> tuple[float, ...]:
    """An ultrasound image's pixel size from its calibrated region; a warning without one."""
    import warnings

    from thyromics.io.dicom_series import (UncalibratedSpacingWarning, uncalibrated_ultrasound,
                                           ultrasound_spacing)

    is_us = str(ds.get("Modality", "")).upper() == "US" or "SequenceOfUltrasoundRegions" in ds
    if not is_us or "PixelSpacing" in ds:
        return spacing
    calibrated = ultrasound_spacing(ds, path) if "SequenceOfUltrasoundRegions" in ds else None
    if calibrated is not None:
        return calibrated
    if tuple(spacing) == (1.0, 1.0):  # GDCM found no other size either: a placeholder
        warnings.warn(UncalibratedSpacingWarning(uncalibrated_ultrasound(ds, path)), stacklevel=5)
    return spacing


def _enhanced(path: Path, frame: int | None, geometry) -> Image:
    from thyromics.io.dicom_enhanced import read_enhanced

    if frame not in (None, 0):
        raise fail(path, f"frame {frame} requested, but this enhanced multi-frame file is one "
                         "volume (its frames are slices, read whole); frame= chooses a frame of "
                         "a cine loop or a 4D file. Drop --frame for this case.")
    return read_enhanced(path, geometry)


def dicom_series(folder: Path) -> dict[str, list[str]]:
    """SeriesInstanceUID -> sorted file names of every DICOM series in ``folder``."""
    import SimpleITK as sitk

    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    return {uid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in ids}


def choose_series(folder: Path, series_uid: str | None, check: bool = False) -> list[str]:
    """The files of the one (or the chosen) series; ``check``: every file is whole.

    Series of non-image objects (RTSTRUCT, SEG, reports ...: see
    :data:`thyromics.io.dicom_series.NON_IMAGE_MODALITIES`), which often sit in the
    image's folder, are not candidates.
    """
    from thyromics.io.dicom_series import NON_IMAGE_MODALITIES

    series = dicom_series(folder)
    if check:
        _integrity.check_left_out(folder, [f for files in series.values() for f in files])
    labels = {uid: series_label(files) for uid, files in series.items()}
    series = {uid: files for uid, files in series.items()
              if labels[uid][0] not in NON_IMAGE_MODALITIES}
    if not series:
        raise fail(folder, "no DICOM series found in this folder: expected DICOM files "
                           "(a CT series) or an image file path.")

    def describe(uid: str) -> str:
        modality, text = labels[uid]
        extra = ", ".join(x for x in (modality, repr(text) if text else "") if x)
        return f"{uid} ({len(series[uid])} files)" + (f" [{extra}]" if extra else "")

    listing = "; ".join(describe(uid) for uid in series)
    if series_uid is None:
        if len(series) > 1:
            raise fail(folder, f"folder holds {len(series)} DICOM series: {listing}. Choose one "
                               "with series_uid=... (--series-uid on the command line), or "
                               "move each series into its own folder.")
        files = next(iter(series.values()))
    elif series_uid not in series:
        raise fail(folder, f"series {series_uid!r} not found; the folder holds: {listing}.")
    else:
        files = series[series_uid]
    for f in files if check else ():
        _integrity.check_dicom(Path(f))
    return files


def read_series(folder: Path, frame: int | None, series_uid: str | None,
                colour: ColourMode) -> Image:
    """The (chosen) series of a folder as a volume, after the header checks."""
    import SimpleITK as sitk

    from thyromics.io.dicom_series import series_geometry

    files = choose_series(folder, series_uid, check=True)
    geometry = series_geometry(folder, files)  # refuses gaps, tilt, uneven spacing ...
    if geometry.frames:  # the folder's one file is an enhanced multi-frame volume
        return _enhanced(Path(files[0]), frame, geometry)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(geometry.files))
    if geometry.needs_float:  # per-slice rescale: ITK would truncate to the first's type
        reader.SetOutputPixelType(sitk.sitkFloat64)
    try:
        img = reader.Execute()
    except RuntimeError as e:
        raise fail(folder, f"cannot read the DICOM series ({len(files)} files): "
                           f"{first_line(e)}") from e
    if len(geometry.files) > 1 and img.GetDimension() == 3:  # the checked stack geometry
        img.SetSpacing(geometry.spacing)
        img.SetOrigin(geometry.origin)
        img.SetDirection(geometry.direction)
    return sitk_to_image(folder, img, frame, colour, squeeze_single=False, what="DICOM series")
