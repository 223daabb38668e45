"""Is the file whole? Compare the pixel data a header promises with what the file holds.

Private module, used by every reader (:func:`thyromics.io._formats.read_raw`) and by
``thyromics validate --read``. Some libraries read a cut file without a word: SimpleITK
(ITK 5) pads a truncated NIfTI (``.nii`` and ``.nii.gz``) with zeros, and GDCM does the
same with a DICOM whose PixelData element is shorter than ``Rows x Columns x ...``.
Pillow refuses truncated rasters only while ``ImageFile.LOAD_TRUNCATED_IMAGES`` is False,
a global that other libraries (``tiffslide.deepzoom``) set to True on import.

Checks
------
Each raises :class:`~thyromics.errors.CaseError` (``stage="read"``) naming the file, the
bytes promised and the bytes held.

NIfTI
    ``vox_offset + prod(dims) * bitpix / 8`` bytes (nibabel header) must be there; a
    ``.nii.gz`` is decompressed to its end (about 0.7 s per 150 MB of voxels), which
    also checks the gzip CRC-32 and length trailer.
DICOM
    The PixelData element of native (uncompressed) transfer syntaxes must hold
    ``Rows x Columns x SamplesPerPixel x NumberOfFrames x BitsAllocated / 8`` bytes
    (pydicom ``get_expected_length``), and the file must hold the whole element;
    encapsulated (compressed) pixel data must reach its end-of-sequence marker.
DICOM series
    Every file of the series is checked, and a file GDCM's scan left out of every
    series (it skips files it cannot parse) is refused by name.
TIFF
    Every strip or tile named by the IFDs (tifffile) must lie inside the file.
raster
    Pillow's own "image file is truncated" is reworded by :func:`truncated_raster`.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

from thyromics.errors import CaseError

__all__ = ["check_nifti", "check_dicom", "check_left_out", "check_tiff", "strict_pillow",
           "truncated", "truncated_raster"]

_FIX = "re-export or re-copy it"


def truncated(path: Path | str, promised: int, held: int, what: str, how: str = "",
              holds: str = "the file holds") -> CaseError:
    """The :class:`CaseError` for a file that holds less than its header promises."""
    how = f" ({how})" if how else ""
    return CaseError(f"the file is truncated: the header promises {promised:,} bytes of {what}"
                     f"{how}, {holds} {held:,} bytes; {_FIX}.", file=str(path), stage="read")


def _corrupt(path: Path, message: str) -> CaseError:
    return CaseError(f"the file is corrupt: {message}; {_FIX}.", file=str(path), stage="read")


@contextlib.contextmanager
def strict_pillow() -> Iterator[None]:
    """Make Pillow raise on truncated data for the duration (``LOAD_TRUNCATED_IMAGES``)."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before


def _gunzip_count(path: Path) -> tuple[int, bool]:
    """``(bytes decompressed, reached the end marker)`` of a gzip file.

    Raises :class:`CaseError` when the CRC-32 or length trailer does not match.
    """
    n = 0
    with gzip.open(path, "rb") as f:
        try:
            while chunk := f.read1(1 << 20):
                n += len(chunk)
        except EOFError:
            return n, False
        except (gzip.BadGzipFile, zlib.error) as e:
            raise _corrupt(path, f"the gzip data fails its check after {n:,} decompressed "
                                 f"bytes ({e})") from e
    return n, True


def check_nifti(path: Path) -> None:
    """Refuse a NIfTI file holding fewer voxel bytes than its header promises."""
    import nibabel as nib

    try:
        nii = nib.load(str(path))
        header = nii.header
        offset = int(nii.dataobj.offset)  # header vox_offset, or 352 where ITK wrote 0
        shape = header.get_data_shape()
        itemsize = header.get_data_dtype().itemsize
    except Exception:  # noqa: BLE001 - an unreadable header is the reader's to report
        return
    voxels = itemsize
    for s in shape:
        voxels *= int(s)
    how = f"{' x '.join(str(int(s)) for s in shape)} voxels x {itemsize} bytes"
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        size = path.stat().st_size
        if size < offset + voxels:
            raise truncated(path, voxels, max(size - offset, 0), "voxel data", how)
        return
    size, whole = _gunzip_count(path)
    if not whole or size < offset + voxels:
        holds = ("its gzip stream stops before the end marker, after" if not whole else
                 "the file decompresses to")
        raise truncated(path, voxels, max(size - offset, 0), "voxel data", how, holds)


def check_dicom(path: Path) -> None:
    """Refuse a DICOM file whose native pixel data is shorter than Rows x Columns x ...

    Encapsulated (compressed) pixel data is only checked for its end-of-sequence
    marker; decoding it is the decoder's job.
    """
    import pydicom
    from pydicom.pixels.utils import get_expected_length

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, defer_size=1024)
        if any("End of file reached before delimiter" in str(w.message) for w in caught):
            raise CaseError("the file is truncated: its compressed (encapsulated) pixel data "
                            "stops before the end-of-sequence marker (the file holds "
                            f"{path.stat().st_size:,} bytes); {_FIX}.", file=str(path),
                            stage="read")
        elem = ds.get_item(0x7FE00010, keep_deferred=True)
        if elem is None or elem.length in (None, 0xFFFFFFFF):
            return
        promised = int(get_expected_length(ds, "bytes"))
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
    except CaseError:
        raise
    except Exception:  # noqa: BLE001 - an unreadable header is GDCM's to report
        return
    held = int(elem.length)
    if not (syntax is not None and syntax.is_deflated) and elem.value_tell is not None:
        held = min(held, path.stat().st_size - int(elem.value_tell))
    if held < promised:
        frames = ds.get("NumberOfFrames", 1) or 1
        how = (f"Rows x Columns x SamplesPerPixel x NumberOfFrames x BitsAllocated/8 = "
               f"{ds.Rows} x {ds.Columns} x {ds.get('SamplesPerPixel', 1)} x {frames} x "
               f"{ds.BitsAllocated}/8")
        raise truncated(path, promised, max(held, 0), "pixel data", how)


def check_left_out(folder: Path, listed: list[str]) -> None:
    """Refuse DICOM files of a series folder that GDCM left out of every series.

    GDCM's series scan skips files it cannot parse: a cut slice vanishes from the volume
    (ITK only warns of "missing slices"). Files without the DICOM preamble are ignored.
    """
    import pydicom

    names = {Path(f).name for f in listed}
    for f in sorted(p for p in folder.iterdir() if p.is_file() and p.name not in names):
        with open(f, "rb") as fh:
            if fh.read(132)[128:] != b"DICM":
                continue
        check_dicom(f)
        try:
            pydicom.dcmread(f, stop_before_pixels=True)
        except Exception as e:  # noqa: BLE001 - any parse failure means the slice is lost
            raise CaseError(f"this DICOM file of the series folder cannot be read ({e}), so the "
                            "series would be read without it; re-copy it, or move it out of the "
                            "folder.", file=str(f), stage="read") from e


def check_tiff(path: Path) -> None:
    """Refuse a TIFF whose strips or tiles run past the end of the file."""
    import tifffile

    size = path.stat().st_size
    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)  # Pillow reports what tifffile cannot parse
    try:
        with tifffile.TiffFile(path) as tif:
            spans = [(int(o), int(c)) for page in tif.pages
                     for o, c in zip(page.dataoffsets, page.databytecounts)]
    except Exception:  # noqa: BLE001 - unparsable IFDs are Pillow's to report
        return
    finally:
        log.setLevel(level)
    promised = sum(c for _, c in spans)
    held = sum(max(0, min(c, size - o)) for o, c in spans)
    if held < promised:
        raise truncated(path, promised, held, "pixel data",
                        f"{len(spans)} strip(s) or tile(s)")


def truncated_raster(path: Path, fmt: str, err: BaseException) -> CaseError | None:
    """The :class:`CaseError` for a Pillow failure that is a truncation, else None."""
    if "truncated" not in str(err) and not isinstance(err, EOFError):
        return None
    return CaseError(f"the file is truncated: the {fmt} pixel data stops before the end of "
                     f"the image (the file holds {path.stat().st_size:,} bytes; Pillow: {err}); "
                     f"{_FIX}.", file=str(path), stage="read")
