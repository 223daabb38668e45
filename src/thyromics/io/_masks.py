"""Masks that are not voxel images: RTSTRUCT, DICOM SEG and Slicer ``.seg.nrrd`` files.

Private module used by :func:`thyromics.io.read_mask`. It tells the kinds apart
(:func:`mask_kind`) and reads one structure or segment onto the image's grid
(:func:`read_structured`), which for RTSTRUCT and SEG needs the image's DICOM series.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thyromics.errors import CaseError
from thyromics.io.image import Image

__all__ = ["mask_kind", "applicable_roi", "read_structured", "image_geometry",
           "structure_names", "STRUCTURED_KINDS"]

#: Kinds of mask file read by name (ROI / segment) rather than by voxel value.
STRUCTURED_KINDS = ("rtstruct", "seg", "slicer")


def _dicom_modality(path: Path) -> tuple[str, str]:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality",
                                                                             "SOPClassUID"])
    except Exception:  # noqa: BLE001 - the image reader reports unreadable files
        return "", ""
    return str(ds.get("Modality", "")).upper(), str(ds.get("SOPClassUID", ""))


def mask_kind(path: str | Path) -> str:
    """``"rtstruct"``, ``"seg"``, ``"slicer"`` or ``"image"`` (any voxel label image)."""
    from thyromics.io._filetypes import file_kind
    from thyromics.io.dicom_rt import RTSTRUCT_SOP_CLASS
    from thyromics.io.dicom_seg import SEG_SOP_CLASS
    from thyromics.io.slicer_seg import is_slicer_seg

    path = Path(path)
    if not path.is_file():
        return "image"
    if is_slicer_seg(path):
        return "slicer"
    try:
        kind, _ = file_kind(path)
    except CaseError:
        return "image"
    if kind != "dicom":
        return "image"
    modality, sop = _dicom_modality(path)
    if modality == "RTSTRUCT" or sop == RTSTRUCT_SOP_CLASS:
        return "rtstruct"
    if modality == "SEG" or sop == SEG_SOP_CLASS:
        return "seg"
    return "image"


def applicable_roi(path: str | Path, roi: str | None) -> str | None:
    """``roi`` where ``path`` names structures (RTSTRUCT, SEG, Slicer), else None.

    For tools that read several masks of one case, in several formats (a proposal as
    RTSTRUCT, its correction as NIfTI): the case's ``roi`` is the structure to take
    from every mask that has structures, and means nothing to a voxel label image.
    """
    return roi if roi and mask_kind(path) != "image" else None


def image_geometry(image: str | Path, series_uid: str | None = None):
    """The :class:`~thyromics.io.dicom_series.SeriesGeometry` of a DICOM image (folder or file).

    Raises
    ------
    CaseError
        When ``image`` is not DICOM: RTSTRUCT and SEG masks live in a DICOM frame of
        reference that only a DICOM image carries.
    """
    from thyromics.io._dicom_read import choose_series
    from thyromics.io._filetypes import file_kind
    from thyromics.io.dicom_series import series_geometry

    image = Path(image)
    kind, fmt = file_kind(image)
    if kind == "series":
        return series_geometry(image, choose_series(image, series_uid))
    if kind == "dicom":
        return series_geometry(image.parent, [str(image)])
    raise CaseError(f"the image is {fmt} ({image}), but RTSTRUCT and DICOM SEG masks are "
                    "placed by their DICOM frame of reference and slice positions, which only "
                    "a DICOM image carries. Use the DICOM series the mask was drawn on as the "
                    "image.", file=str(image), stage="read")


def read_structured(path: Path, kind: str, *, roi: str | None, label: int | None,
                    image: str | Path | None, series_uid: str | None) -> Image:
    """One structure or segment of an RTSTRUCT / SEG / Slicer file as a 0/1 mask.

    ``image`` is the image the mask belongs to: required for RTSTRUCT and SEG (their
    contours and frames are placed on its series); for Slicer files it is the grid a
    cropped segmentation is placed onto.
    """
    from thyromics.io.dicom_rt import read_rtstruct
    from thyromics.io.dicom_seg import read_seg
    from thyromics.io.slicer_seg import read_slicer_seg

    if kind == "slicer":
        reference = None
        if image is not None:
            from thyromics.io._headers import read_header

            reference = read_header(Path(image), series_uid)
        return read_slicer_seg(path, roi, label=label, reference=reference)
    if image is None:
        raise CaseError(f"a DICOM {'RTSTRUCT' if kind == 'rtstruct' else 'SEG'} mask is placed "
                        "on the image it was drawn on: give the image (load_case does; "
                        "read_mask(..., image=SERIES_FOLDER)).", file=str(path), stage="read")
    if label is not None and roi is None:
        raise CaseError(f"label={label} does not choose a structure in a DICOM "
                        f"{'RTSTRUCT' if kind == 'rtstruct' else 'SEG'} file: choose it by name "
                        "with a 'roi' column or --roi.", file=str(path), stage="validate")
    geometry = image_geometry(image, series_uid)
    mask = read_rtstruct(path, geometry, roi) if kind == "rtstruct" else \
        read_seg(path, geometry, roi)
    if geometry.size[2] == 1 and Path(image).is_file():
        return _as_2d(mask, Path(image))
    return mask


def structure_names(path: Path, kind: str) -> tuple[list[str], list[str]]:
    """``(names, skipped)``: the file's structures / segments that can hold voxels, in file
    order, and ``"NAME (why)"`` for RTSTRUCT ROIs that cannot (no contours, or only points
    and open lines: markers, isocentres)."""
    from thyromics.io.dicom_rt import rtstruct_rois
    from thyromics.io.dicom_seg import seg_segments
    from thyromics.io.slicer_seg import slicer_segments

    if kind == "seg":
        return [s.name for s in seg_segments(path)], []
    if kind == "slicer":
        return [s.name for s in slicer_segments(path)], []
    names, skipped = [], []
    for r in rtstruct_rois(path):
        if "CLOSED_PLANAR" in r.geometric_types:
            names.append(r.name)
        else:
            why = "no contours" if not r.n_contours else \
                f"{'/'.join(r.geometric_types) or 'untyped'} contours only"
            skipped.append(f"{r.name} ({why})")
    return names, skipped


def _as_2d(mask: Image, image: Path) -> Image:
    """A one-slice mask as the 2D image a single DICOM file is read as."""
    from thyromics.io._headers import read_header

    h = read_header(image)
    if len(h.size) != 2:
        return mask
    return Image(np.ascontiguousarray(mask.array[0]), h.spacing, h.origin, h.direction,
                 mask.source)
