"""Read images and masks, check them, and load one case.

Every failure raises :class:`~thyromics.errors.CaseError` naming the file, what was
expected, what was found, and the fix, so a batch can record it and go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from thyromics.errors import CaseError
from thyromics.io._formats import SUPPORTED_EXTENSIONS, read_header, read_raw
from thyromics.io.image import Image

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.io.manifest import Case

__all__ = ["read_image", "read_mask", "check_finite", "check_geometry", "geometry_differences",
           "load_case", "read_case_image", "reader_notes", "SUPPORTED_EXTENSIONS",
           "DEFAULT_GEOMETRY_TOLERANCE"]

#: Largest allowed absolute difference of spacing (mm), origin (mm) and direction cosines.
DEFAULT_GEOMETRY_TOLERANCE = 1e-3


def read_image(path: str | Path, *, frame: int | None = None,
               series_uid: str | None = None) -> Image:
    """Read a 2D image or a 3D volume.

    Parameters
    ----------
    path : str or Path
        A file (NIfTI ``.nii``/``.nii.gz``, NRRD ``.nrrd``/``.nhdr``, MetaImage
        ``.mha``/``.mhd``, PNG, JPEG, BMP, GIF, TIFF, DICOM ``.dcm`` or any file with the
        DICOM preamble) or a folder holding one DICOM series.
    frame : int, optional
        Frame to take from a multi-frame file (animated GIF, multi-page TIFF,
        multi-frame DICOM, 4D NIfTI), 0-based. Multi-frame files are refused without it.
    series_uid : str, optional
        SeriesInstanceUID to read from a folder holding several DICOM series (refused
        without it, listing each series and its file count). Ignored for non-DICOM files.

    Returns
    -------
    Image
        2D files (raster formats, single-frame DICOM files) give a 2D image, array
        ``(y, x)``, spacing ``(1.0, 1.0)`` unless the file records one (DICOM
        PixelSpacing). Volumes stay 3D even with a single slice. Colour pixels become
        grey by ITU-R BT.601 luma, ``Y = 0.299 R + 0.587 G + 0.114 B`` (alpha ignored,
        palette expanded first); grey stored as colour keeps its values.

    Raises
    ------
    CaseError
        ``stage="read"``: missing file, unknown extension, corrupt file, a file holding
        less pixel data than its header promises (truncated NIfTI, ``.nii.gz`` with a
        bad CRC, short DICOM pixel data, cut PNG/TIFF/...: see
        :mod:`thyromics.io._integrity`), several frames or series without a choice.

    Notes
    -----
    NaN voxels are not checked here; :func:`check_finite` does that.
    """
    return read_raw(Path(path), frame=frame, series_uid=series_uid, colour="luma")


def _values_text(values: np.ndarray, limit: int = 12) -> str:
    shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values[:limit].tolist())
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")


def read_mask(path: str | Path, *, label: int | None = None, frame: int | None = None,
              series_uid: str | None = None, roi: str | None = None,
              image: str | Path | None = None, image_series_uid: str | None = None) -> Image:
    """Read a lesion mask as a ``uint8`` 0/1 image.

    Parameters
    ----------
    path, frame, series_uid
        As in :func:`read_image`. ``path`` may also be a DICOM RTSTRUCT
        (:mod:`thyromics.io.dicom_rt`), a DICOM SEG (:mod:`thyromics.io.dicom_seg`) or
        a 3D Slicer ``.seg.nrrd`` (:mod:`thyromics.io.slicer_seg`).
    label : int, optional
        Value of the lesion in a multi-label mask: the result is ``mask == label``.
        Without it the mask must be binary: values within {0, 1} or within {0, 255}.
        ``label=1`` on a 0/255 mask means its foreground (PyRadiomics' default label).
        In a Slicer segmentation, the segment with this label value.
    roi : str, optional
        RTSTRUCT structure or SEG / Slicer segment name (case-insensitive); may be
        omitted when the file holds one. An unknown name lists those present, closest
        first.
    image : path, optional
        The image the mask belongs to: required for RTSTRUCT and SEG masks (rasterised
        onto its DICOM series); a cropped Slicer segmentation is placed onto its grid.
    image_series_uid : str, optional
        The image's series when its folder holds several.

    Returns
    -------
    Image
        ``uint8`` array of 0 and 1 with the file's geometry. An all-zero mask is
        returned as is (:func:`load_case` reports it as empty).

    Raises
    ------
    CaseError
        ``stage="read"`` for unreadable files; ``stage="validate"`` for a multi-label
        mask without ``label`` (the labels found are listed), a ``label`` that is not in
        the mask (the values present are listed), or non-integer values.

    Notes
    -----
    A colour mask whose three channels are equal is read by its first channel; a
    two-colour mask (black plus one colour, e.g. a red outline fill) is read as 0/1.
    """
    from thyromics.io._masks import mask_kind, read_structured

    path = Path(path)
    kind = mask_kind(path)
    if kind != "image":
        return read_structured(path, kind, roi=roi, label=label, image=image,
                               series_uid=image_series_uid)
    if roi is not None:
        raise CaseError(f"roi {roi!r} given, but the mask is a voxel label image, which names "
                        "no structures: roi chooses an RTSTRUCT structure or a DICOM SEG / "
                        "Slicer .seg.nrrd segment. Use label=VALUE (--label) for a label "
                        "image.", file=str(path), stage="validate")
    raw = read_raw(path, frame=frame, series_uid=series_uid, colour="mask")
    arr = raw.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        n_nan = int(np.count_nonzero(~np.isfinite(arr)))
        if n_nan:
            raise CaseError(f"mask has {n_nan} NaN or infinite voxels: expected integer label "
                            "values. Fix the mask file.", file=str(path), stage="validate")
        frac = arr[arr != np.round(arr)]
        if frac.size:
            raise CaseError(f"mask is not a label image: {frac.size} voxels have non-integer "
                            f"values (e.g. {_values_text(np.unique(frac))}); expected 0/1, "
                            "0/255 or integer labels. A probability map must be thresholded "
                            "first.", file=str(path), stage="validate")
    values = np.unique(arr)
    present = set(values.tolist())
    if label is not None:
        if int(label) != label or label == 0:
            raise CaseError(f"label must be a non-zero integer (0 is the background), got "
                            f"{label!r}.", file=str(path), stage="validate")
        if present <= {0}:
            out = np.zeros(arr.shape, np.uint8)
        elif label == 1 and present == {0, 255}:
            out = (arr != 0).astype(np.uint8)  # label 1 = the foreground of a 0/255 mask
        elif label not in present:
            raise CaseError(f"label {label} not found in the mask: values present are "
                            f"{_values_text(values)}. Pass one of the non-zero values with "
                            "--label.", file=str(path), stage="validate")
        else:
            out = (arr == label).astype(np.uint8)
    elif present <= {0, 1} or present <= {0, 255}:
        out = (arr != 0).astype(np.uint8)
    else:
        labels = values[values != 0]
        raise CaseError(f"mask is not binary: found labels {_values_text(labels)} besides 0; "
                        "expected values 0/1 or 0/255. For a multi-label mask choose the "
                        "lesion's value with --label (label=...).", file=str(path),
                        stage="validate")
    return Image(out, raw.spacing, raw.origin, raw.direction, raw.source)


def check_finite(image: Image, *, case_id: str | None = None) -> None:
    """Refuse NaN or infinite voxels (radiomics cannot use them).

    Raises
    ------
    CaseError
        ``stage="validate"``, naming how many NaN and infinite voxels were found.
    """
    arr = image.array
    if not np.issubdtype(arr.dtype, np.floating):
        return
    n_nan = int(np.count_nonzero(np.isnan(arr)))
    n_inf = int(np.count_nonzero(np.isinf(arr)))
    if n_nan or n_inf:
        parts = [f"{n_nan} NaN voxels"] if n_nan else []
        parts += [f"{n_inf} infinite voxels"] if n_inf else []
        raise CaseError(f"image has {' and '.join(parts)} out of {arr.size}: expected finite "
                        "intensities (radiomics cannot use NaN). Fill or crop them in the "
                        "image file.", case_id=case_id, file=image.source or None,
                        stage="validate")


def _fmt(values: tuple[float, ...] | tuple[int, ...]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in values) + ")"


def geometry_differences(image, mask, tolerance: float = DEFAULT_GEOMETRY_TOLERANCE) -> list[str]:
    """Which of size, spacing, origin and direction differ between two geometries.

    Parameters
    ----------
    image, mask : Image or Header
        Anything with ``size``, ``spacing``, ``origin`` and ``direction`` (ITK order).
    tolerance : float
        Largest allowed absolute difference per component (sizes must be equal).

    Returns
    -------
    list of str
        The names that differ, in that order; empty when the grids agree.
    """
    bad = ["size"] if tuple(image.size) != tuple(mask.size) else []
    for name in ("spacing", "origin", "direction"):
        a, b = getattr(image, name), getattr(mask, name)
        if len(a) != len(b) or bool(np.any(np.abs(np.subtract(a, b)) > tolerance)):
            bad.append(name)
    return bad


def check_geometry(image: Image, mask: Image, *, tolerance: float = DEFAULT_GEOMETRY_TOLERANCE,
                   case_id: str | None = None) -> None:
    """Check that a mask lies on the image's voxel grid.

    Sizes must be equal; spacing (mm), origin (mm) and direction cosines may differ by at
    most ``tolerance`` (absolute difference per component).

    Raises
    ------
    CaseError
        ``stage="validate"``, with both geometries side by side, the tolerance option
        (``--geometry-tolerance``) and the other fix (resampling the mask onto the image,
        :func:`thyromics.preprocess.resample_mask`).
    """
    bad = geometry_differences(image, mask, tolerance)
    if not bad:
        return
    rows = [(name, getattr(image, name), getattr(mask, name), name in bad)
            for name in ("size", "spacing", "origin", "direction")]
    width = max(len(_fmt(r[1])) for r in rows) + 2
    width_b = max(len(_fmt(r[2])) for r in rows) + 2
    lines = [f"{'':10}{'image':{width}}mask"]
    for name, a, b, differs in rows:
        line = f"{name:10}{_fmt(a):{width}}{_fmt(b):{width_b}}" + ("<-- differs" if differs else "")
        lines.append(line.rstrip())
    table = "\n".join("    " + ln for ln in lines)
    msg = (f"image and mask geometries differ ({', '.join(bad)}; tolerance {tolerance:g}):\n"
           f"{table}\n"
           f"  image: {image.source or '(in memory)'}\n  mask:  {mask.source or '(in memory)'}\n"
           "Fix: if the difference is rounding noise, raise the tolerance with "
           "--geometry-tolerance (geometry_tolerance=); otherwise resample the mask onto the "
           "image grid (thyromics.preprocess.resample_mask(mask, image)).")
    raise CaseError(msg, case_id=case_id, file=mask.source or None, stage="validate")


def _raster_on_image(mask: Image, image: Image) -> Image:
    """A PNG/JPEG/... mask takes the 2D image's geometry when their sizes agree.

    Raster formats carry no geometry (their ``(1, 1)`` spacing is a placeholder), so a
    raster mask drawn on, e.g., an ultrasound DICOM calibrated at 0.26 mm per pixel lies
    on that image's grid.
    """
    from thyromics.io._filetypes import FORMATS, extension

    kind = FORMATS.get(extension(Path(mask.source)), ("", ""))[0] if mask.source else ""
    if kind == "raster" and image.ndim == 2 and mask.size == image.size:
        return Image(mask.array, image.spacing, image.origin, image.direction, mask.source)
    return mask


def _with_case(e: CaseError, case_id: str) -> CaseError:
    return CaseError(e.reason, case_id=case_id, file=e.file, stage=e.stage)


@contextmanager
def reader_notes() -> Iterator[list[str]]:
    """Collect what the readers note about the inputs instead of warning it.

    Inside the block, every :class:`~thyromics.io.dicom_series.UncalibratedSpacingWarning`
    is caught and its ``note`` (file-level text, no case id) added once to the list the
    block receives, which is filled when the block ends; other warnings pass through.
    For provenance notes, e.g. ``with reader_notes() as notes: load_case(case)``.
    """
    import warnings

    from thyromics.io.dicom_series import UncalibratedSpacingWarning

    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UncalibratedSpacingWarning)
        yield notes
    for w in caught:
        if isinstance(w.message, UncalibratedSpacingWarning):
            if w.message.note not in notes:
                notes.append(w.message.note)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def read_case_image(case_id: str, path: str | Path, *, frame: int | None = None,
                    series_uid: str | None = None) -> Image:
    """:func:`read_image` + :func:`check_finite` for one case, its warnings naming the case.

    An :class:`~thyromics.io.dicom_series.UncalibratedSpacingWarning` (an ultrasound
    image whose spacing is pixels) is warned again as ``case '<id>': <text>``, its
    ``note`` kept for provenance; other warnings pass through unchanged.
    """
    import warnings

    from thyromics.io.dicom_series import UncalibratedSpacingWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UncalibratedSpacingWarning)
        image = read_image(path, frame=frame, series_uid=series_uid)
    for w in caught:
        if isinstance(w.message, UncalibratedSpacingWarning):
            warnings.warn(UncalibratedSpacingWarning(f"case {case_id!r}: {w.message}",
                                                     note=w.message.note), stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    check_finite(image)
    return image


def load_case(case: "Case", *, label: int | None = None,
              geometry_tolerance: float = DEFAULT_GEOMETRY_TOLERANCE,
              frame: int | None = None, series_uid: str | None = None,
              roi: str | None = None) -> tuple[Image, Image]:
    """Read and check one case's image and mask.

    Reads the image (:func:`read_image`) and the mask (:func:`read_mask`, with
    ``label`` the mask value of the lesion, not the outcome label), then checks that the
    image is finite (:func:`check_finite`), that both share a geometry
    (:func:`check_geometry`) and that the mask is not empty. A raster mask (PNG, JPEG
    ...), which carries no geometry, takes a 2D image's geometry when the sizes agree.

    Parameters
    ----------
    case : Case
        A manifest row (:class:`thyromics.io.manifest.Case`); ``case_id``, ``image``,
        ``mask`` and, when set, its ``roi`` and ``series_uid`` are used.
    label : int, optional
        Lesion value in a multi-label mask.
    geometry_tolerance : float
        See :func:`check_geometry`.
    frame : int, optional
        Frame of multi-frame image and mask files (the same frame for both); a
        single-frame mask drawn on one frame of a cine loop is used as it is.
    series_uid : str, optional
        DICOM series of the image when its folder holds several (the case's own
        ``series_uid`` comes first).
    roi : str, optional
        Structure / segment name for RTSTRUCT, SEG and Slicer masks (the case's own
        ``roi`` comes first; this one is not applied to voxel label masks, so one
        ``--roi`` serves a manifest that mixes both); see :func:`read_mask`.

    Returns
    -------
    (Image, Image)
        The image and the ``uint8`` 0/1 mask.

    Raises
    ------
    CaseError
        Always with ``case_id`` and ``file`` set; ``stage`` is ``"read"`` or
        ``"validate"``. Unexpected reader failures are wrapped too (``from`` the cause).
    """
    from thyromics.io._masks import mask_kind

    cid = case.case_id
    current = Path(case.image)
    series_uid = getattr(case, "series_uid", None) or series_uid
    try:
        image = read_case_image(cid, current, frame=frame, series_uid=series_uid)
        current = Path(case.mask)
        kind = mask_kind(current)
        # the row's roi always counts; the option's only where a mask names structures
        roi = getattr(case, "roi", None) or (roi if kind != "image" else None)
        mask_frame = frame if frame is not None and kind == "image" and \
            read_header(current).n_frames > 1 else None
        mask = read_mask(current, label=label, frame=mask_frame, roi=roi, image=case.image,
                         image_series_uid=series_uid)
        mask = _raster_on_image(mask, image)
        check_geometry(image, mask, tolerance=geometry_tolerance)
    except CaseError as e:
        raise _with_case(e, cid) from e
    except Exception as e:  # noqa: BLE001 - a reader bug must not kill the batch
        raise CaseError(f"unexpected {type(e).__name__} while reading: {e}", case_id=cid,
                        file=str(current), stage="read") from e
    if not mask.array.any():
        what = f"value {label}" if label is not None else "value 1 or 255"
        if kind != "image":
            what = f"ROI/segment {roi!r}" if roi else "its one ROI/segment"
        raise CaseError(f"mask is empty (0 voxels with {what}; every voxel is 0): expected a "
                        "segmented lesion. Fix the segmentation or drop the case from the "
                        "manifest.", case_id=cid, file=str(case.mask), stage="validate")
    return image, mask
