"""Low-level readers: one function per kind of file, all returning an :class:`Image`.

Private module. The public entry points are :func:`thyromics.io.read_image` and
:func:`thyromics.io.read_mask`; this module only knows how to turn one file (or one
DICOM series folder) into one 2D or 3D array with its geometry.

Kinds of file
-------------
``volume``  NIfTI, NRRD, MetaImage: SimpleITK ``ImageFileReader``.
``raster``  PNG, JPEG, BMP, GIF, TIFF: Pillow. These formats carry no reliable physical
            spacing (resolution tags are printing DPI), so spacing is ``(1.0, 1.0)``.
``dicom``   one DICOM file: SimpleITK (GDCM), spacing from PixelSpacing; an ultrasound
            image without it takes the pixel size of its 2D tissue region
            (:func:`thyromics.io.dicom_series.ultrasound_spacing`).
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

import difflib
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from thyromics.errors import CaseError
from thyromics.io import _integrity
from thyromics.io._dicom_pixels import palette_grey, pydicom_header, series_label
from thyromics.io.image import Image

__all__ = ["FORMATS", "SUPPORTED_EXTENSIONS", "file_kind", "read_raw", "luma",
           "read_header", "Header", "check_file"]

#: Extension (lower case, with dot) -> (kind, format name used in messages).
FORMATS: dict[str, tuple[str, str]] = {
    ".nii": ("volume", "NIfTI"),
    ".nii.gz": ("volume", "NIfTI"),
    ".nrrd": ("volume", "NRRD"),
    ".nhdr": ("volume", "NRRD"),
    ".mha": ("volume", "MetaImage"),
    ".mhd": ("volume", "MetaImage"),
    ".png": ("raster", "PNG"),
    ".jpg": ("raster", "JPEG"),
    ".jpeg": ("raster", "JPEG"),
    ".bmp": ("raster", "BMP"),
    ".gif": ("raster", "GIF"),
    ".tif": ("raster", "TIFF"),
    ".tiff": ("raster", "TIFF"),
    ".dcm": ("dicom", "DICOM"),
    ".dicom": ("dicom", "DICOM"),
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(FORMATS)

#: ITU-R BT.601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

ColourMode = Literal["luma", "mask"]


def _fail(path: Path | str, message: str) -> CaseError:
    return CaseError(message, file=str(path), stage="read")


def _extension(path: Path) -> str:
    name = path.name.lower()
    for ext in (".nii.gz",):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def _is_dicom_file(path: Path) -> bool:
    """True when the file has the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def file_kind(path: Path) -> tuple[str, str]:
    """``(kind, format name)`` of a path; raises :class:`CaseError` when unknown/missing."""
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            close = difflib.get_close_matches(path.name, [p.name for p in path.parent.iterdir()], n=3)
            if close:
                hint = f" Did you mean: {', '.join(close)}?"
        raise _fail(path, f"file not found: expected an image or a DICOM folder at {path}.{hint}")
    if path.is_dir():
        return "series", "DICOM series"
    ext = _extension(path)
    if ext in FORMATS:
        return FORMATS[ext]
    if _is_dicom_file(path):
        return "dicom", "DICOM"
    raise _fail(path, f"unknown file type {ext or '(no extension)'!r}: expected one of "
                      f"{', '.join(SUPPORTED_EXTENSIONS)}, a DICOM file, or a DICOM series folder.")


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    # SimpleITK messages: "Exception thrown in SimpleITK ...: <file:line>:\nITK ERROR: ..."
    for ln in lines:
        if "ERROR" in ln or "error" in ln:
            return ln[:300]
    return (lines[-1] if lines else type(err).__name__)[:300]


def _unreadable(path: Path, fmt: str, err: BaseException) -> CaseError:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
        found = f"{size} bytes starting with {head!r}"
    except OSError:
        found = "a file that cannot be opened"
    return _fail(path, f"cannot read the file as {fmt}: expected a valid {fmt} file, found "
                       f"{found} ({_first_line(err)}). Is the file corrupt or truncated?")


# --------------------------------------------------------------------------- colour

def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey values from ``(..., 3 or 4)`` colour pixels, ITU-R BT.601.

    ``Y = 0.299 R + 0.587 G + 0.114 B`` in float64; a fourth (alpha) channel is ignored.
    """
    rgb = np.asarray(rgb)
    w = np.asarray(LUMA_WEIGHTS)
    return rgb[..., :3].astype(np.float64) @ w


def _to_grey(path: Path, arr: np.ndarray, colour: ColourMode) -> np.ndarray:
    """Collapse a trailing colour axis of 3/4 (RGB[A]) or 2 (grey+alpha) channels."""
    if arr.shape[-1] == 2:  # grey + alpha
        return arr[..., 0]
    if arr.shape[-1] not in (3, 4):
        raise _fail(path, f"expected grey or RGB(A) pixels, found {arr.shape[-1]} components per pixel.")
    rgb = arr[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy()
    if colour == "luma":
        return luma(rgb)
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    black = np.all(colours == 0, axis=1)
    if len(colours) == 2 and black.any():
        return np.any(rgb != 0, axis=-1).astype(np.uint8)
    raise _fail(path, f"colour mask with {len(colours)} distinct colours: expected a grey label "
                      "image, or a two-colour mask (black background and one colour). Convert the "
                      "mask to a grey label image.")


# --------------------------------------------------------------------------- frames

def _check_frame(path: Path, n_frames: int, frame: int | None, what: str) -> int:
    if n_frames > 1 and frame is None:
        raise _fail(path, f"{what} has {n_frames} frames: expected a single image. Choose one "
                          f"with frame=0..{n_frames - 1} (--frame on the command line).")
    f = 0 if frame is None else int(frame)
    if not 0 <= f < n_frames:
        raise _fail(path, f"frame {f} requested but the {what.lower()} has {n_frames} frame(s) "
                          f"(valid: 0..{n_frames - 1}).")
    return f


# --------------------------------------------------------------------------- raster

def _read_raster(path: Path, fmt: str, frame: int | None, colour: ColourMode) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if fmt == "TIFF":
        _integrity.check_tiff(path)
    try:
        with _integrity.strict_pillow(), PILImage.open(path) as pim:
            n = int(getattr(pim, "n_frames", 1))
            f = _check_frame(path, n, frame, f"{fmt} file")
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
        raise _integrity.truncated_raster(path, fmt, e) or _unreadable(path, fmt, e) from e
    if arr.ndim == 3:
        arr = _to_grey(path, arr, colour)
    if arr.ndim != 2:
        raise _fail(path, f"expected a 2D {fmt} image, found an array of shape {arr.shape}.")
    return Image(arr, (1.0, 1.0), source=str(path))


# --------------------------------------------------------------------------- SimpleITK

def _sitk_to_image(path: Path, img, frame: int | None, colour: ColourMode,
                   squeeze_single: bool, what: str) -> Image:
    """SimpleITK image -> :class:`Image`: frames, colour, 2D squeeze of one-slice files."""
    import SimpleITK as sitk

    dim = img.GetDimension()
    if dim == 4:
        n = img.GetSize()[3]
        f = _check_frame(path, n, frame, what)
        size = list(img.GetSize())
        size[3] = 0
        img = sitk.Extract(img, size, [0, 0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
        dim = 3
    elif dim == 3 and squeeze_single:
        n = img.GetSize()[2]
        f = _check_frame(path, n, frame, what)
        size = list(img.GetSize())
        size[2] = 0
        try:
            img = sitk.Extract(img, size, [0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
        except RuntimeError:  # oblique plane: the 2x2 submatrix is not a rotation
            img = sitk.Extract(img, size, [0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOIDENTITY)
        dim = 2
    elif frame not in (None, 0):
        raise _fail(path, f"frame {frame} requested but the {what.lower()} has a single frame.")
    if dim not in (2, 3):
        raise _fail(path, f"expected a 2D or 3D image, found a {dim}D image.")
    arr = sitk.GetArrayFromImage(img)
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = _to_grey(path, arr, colour)
    return Image(arr, img.GetSpacing(), img.GetOrigin(), img.GetDirection(), str(path))


def _read_volume(path: Path, fmt: str, frame: int | None, colour: ColourMode) -> Image:
    import SimpleITK as sitk

    if fmt == "NIfTI":
        _integrity.check_nifti(path)  # ITK pads a cut NIfTI with zeros
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise _unreadable(path, fmt, e) from e
    out = _sitk_to_image(path, img, frame, colour, squeeze_single=False, what=f"{fmt} file")
    if fmt == "NIfTI" and frame is None and np.issubdtype(out.array.dtype, np.floating):
        out = _restore_nonfinite_nifti(path, out)
    return out


def _restore_nonfinite_nifti(path: Path, image: Image) -> Image:
    """Put back the NaN/inf voxels that ITK's NIfTI reader silently turns into 0.

    ITK (SimpleITK 2.5) replaces non-finite floats in NIfTI files by 0, which would
    hide them from :func:`thyromics.io.check_finite`. nibabel reads the same voxels
    in file order, i.e. the transpose of ITK's numpy ``(z, y, x)`` array.
    """
    import nibabel as nib

    try:
        nii = nib.load(str(path))
        if not np.issubdtype(nii.header.get_data_dtype(), np.floating):
            return image
        data = np.asanyarray(nii.dataobj)
    except Exception:  # noqa: BLE001 - ITK read it; nibabel is only a second look
        return image
    data = data.reshape(data.shape[: image.ndim]) if data.ndim > image.ndim and \
        all(s == 1 for s in data.shape[image.ndim:]) else data
    if data.shape != image.array.shape[::-1]:
        return image
    bad = ~np.isfinite(data.T)
    if not bad.any():
        return image
    arr = image.array.copy()
    arr[bad] = data.T[bad]
    return image.with_array(arr)


def _read_dicom_file(path: Path, frame: int | None, series_uid: str | None,
                     colour: ColourMode) -> Image:
    import SimpleITK as sitk

    _integrity.check_dicom(path)  # GDCM pads short pixel data with zeros
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("GDCMImageIO")
    try:
        reader.ReadImageInformation()
        if series_uid is not None and reader.HasMetaDataKey("0020|000e"):
            found = reader.GetMetaData("0020|000e").strip()
            if found != series_uid:
                raise _fail(path, f"series_uid {series_uid!r} requested but this DICOM file "
                                  f"belongs to series {found!r}.")
        img = reader.Execute()
    except RuntimeError as e:
        raise _unreadable(path, "DICOM", e) from e
    out = _sitk_to_image(path, img, frame, colour, squeeze_single=img.GetDimension() == 3,
                         what="DICOM file")
    if out.ndim != 2:
        return out
    ds = pydicom_header(path)
    if ds is None:
        return out
    array, spacing = out.array, out.spacing
    if str(ds.get("PhotometricInterpretation", "")).upper() == "PALETTE COLOR":
        array = palette_grey(path, frame, colour, array.shape)
    if "PixelSpacing" not in ds and "SequenceOfUltrasoundRegions" in ds:
        from thyromics.io.dicom_series import ultrasound_spacing

        spacing = ultrasound_spacing(ds, path) or spacing
    return Image(array, spacing, out.origin, out.direction, out.source)


def dicom_series(folder: Path) -> dict[str, list[str]]:
    """SeriesInstanceUID -> sorted file names of every DICOM series in ``folder``."""
    import SimpleITK as sitk

    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)) or ()
    return {uid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in ids}


def _choose_series(folder: Path, series_uid: str | None, check: bool = False) -> list[str]:
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
        raise _fail(folder, "no DICOM series found in this folder: expected DICOM files "
                            "(a CT series) or an image file path.")

    def describe(uid: str) -> str:
        modality, text = labels[uid]
        extra = ", ".join(x for x in (modality, repr(text) if text else "") if x)
        return f"{uid} ({len(series[uid])} files)" + (f" [{extra}]" if extra else "")

    listing = "; ".join(describe(uid) for uid in series)
    if series_uid is None:
        if len(series) > 1:
            raise _fail(folder, f"folder holds {len(series)} DICOM series: {listing}. Choose one "
                                "with series_uid=... (--series-uid on the command line), or "
                                "move each series into its own folder.")
        files = next(iter(series.values()))
    elif series_uid not in series:
        raise _fail(folder, f"series {series_uid!r} not found; the folder holds: {listing}.")
    else:
        files = series[series_uid]
    for f in files if check else ():
        _integrity.check_dicom(Path(f))
    return files


def _read_series(folder: Path, frame: int | None, series_uid: str | None,
                 colour: ColourMode) -> Image:
    import SimpleITK as sitk

    from thyromics.io.dicom_series import series_geometry

    files = _choose_series(folder, series_uid, check=True)
    geometry = series_geometry(folder, files)  # refuses gaps, tilt, uneven spacing ...
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(geometry.files))
    if geometry.needs_float:  # per-slice rescale: ITK would truncate to the first's type
        reader.SetOutputPixelType(sitk.sitkFloat64)
    try:
        img = reader.Execute()
    except RuntimeError as e:
        raise _fail(folder, f"cannot read the DICOM series ({len(files)} files): "
                            f"{_first_line(e)}") from e
    if len(geometry.files) > 1 and img.GetDimension() == 3:  # the checked stack geometry
        img.SetSpacing(geometry.spacing)
        img.SetOrigin(geometry.origin)
        img.SetDirection(geometry.direction)
    return _sitk_to_image(folder, img, frame, colour, squeeze_single=False, what="DICOM series")


def read_raw(path: Path, *, frame: int | None = None, series_uid: str | None = None,
             colour: ColourMode = "luma") -> Image:
    """Read any supported path into an :class:`Image` (no value checks)."""
    kind, fmt = file_kind(path)
    if frame is not None and int(frame) < 0:
        raise _fail(path, f"frame must be 0 or more, got {frame}.")
    if kind == "raster":
        return _read_raster(path, fmt, frame, colour)
    if kind == "volume":
        return _read_volume(path, fmt, frame, colour)
    if kind == "dicom":
        return _read_dicom_file(path, frame, series_uid, colour)
    return _read_series(path, frame, series_uid, colour)


# --------------------------------------------------------------------------- headers

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


def _series_header(files: list[str]) -> Header:
    """Geometry of a series from its first two files, as ``ImageSeriesReader`` finds it."""
    import SimpleITK as sitk

    heads = []
    for f in files[:2]:
        reader = sitk.ImageFileReader()
        reader.SetFileName(f)
        try:
            reader.ReadImageInformation()
        except RuntimeError as e:
            raise _unreadable(Path(f), "DICOM", e) from e
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
            raise _unreadable(path, fmt, e) from e
    if kind == "series":
        return _series_header(_choose_series(path, series_uid))
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as e:
        raise _unreadable(path, fmt, e) from e
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

        series_geometry(path, _choose_series(path, series_uid, check=True))
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
            raise _integrity.truncated_raster(path, fmt, e) or _unreadable(path, fmt, e) from e
