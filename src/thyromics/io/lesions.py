"""Several lesions in one mask: one 0/1 mask per lesion, each with its ``lesion_id``.

Modes
-----
``components``
    The mask's connected components (26-connected in 3D, 8-connected in 2D:
    :func:`thyromics.preprocess.split_lesions`), largest first; ``lesion_id`` is
    ``1, 2, ...`` in that order (ties in raster order of their first voxel), so the same
    mask always gives the same ids.
``labels``
    Every non-zero value of a label image is one lesion; ``lesion_id`` is the value.
    In an RTSTRUCT, DICOM SEG or Slicer ``.seg.nrrd`` file every structure / segment is
    one lesion, read as :func:`thyromics.io.read_mask` reads it by name; ``lesion_id``
    is its name, in file order. Structures with no closed planar contour (points,
    markers, empty ROIs) enclose no voxels: they are left out and named (``skipped``).
    A ``roi`` (cell or option) chooses one structure, so it is refused here: use
    ``components`` to split that one.

Lesions smaller than ``min_voxels`` are left out and counted (``dropped``), never
silently: a case whose every lesion is too small is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.io.manifest import Case

__all__ = ["LESION_MODES", "load_lesions"]

LESION_MODES: tuple[str, ...] = ("components", "labels")


def load_lesions(case: "Case", mode: str, *, min_voxels: int = 1, label: int | None = None,
                 geometry_tolerance: float | None = None, frame: int | None = None,
                 series_uid: str | None = None,
                 roi: str | None = None) -> tuple[Image, list[tuple[str, Image]], dict]:
    """Read a case and split its mask into lesions.

    Parameters
    ----------
    case : Case
    mode : {"components", "labels"}
        See the module notes.
    min_voxels : int
        Smallest lesion kept, in voxels.
    label, geometry_tolerance, frame, series_uid, roi
        As in :func:`thyromics.io.load_case` (``label`` and ``roi`` restrict the mask
        before ``components`` splits it; ``labels`` takes every value or structure).

    Returns
    -------
    (Image, list of (str, Image), dict)
        The image; ``(lesion_id, 0/1 mask)`` pairs; ``{"n_found", "dropped",
        "min_voxels"}``, plus ``"skipped"`` (structure names and why) for named
        structures in ``labels`` mode.

    Raises
    ------
    CaseError
        Every read failure of :func:`~thyromics.io.load_case`; no lesion of at least
        ``min_voxels`` voxels.
    """
    from thyromics.io._masks import mask_kind
    from thyromics.io.readers import DEFAULT_GEOMETRY_TOLERANCE, load_case
    from thyromics.preprocess.lesions import split_lesions

    if mode not in LESION_MODES:
        raise InputError(f"unknown lesions mode {mode!r}; expected one of "
                         f"{', '.join(LESION_MODES)}.")
    if int(min_voxels) < 1:
        raise InputError(f"min_voxels must be >= 1, got {min_voxels}.")
    tol = DEFAULT_GEOMETRY_TOLERANCE if geometry_tolerance is None else geometry_tolerance
    cid = case.case_id
    skipped: list[str] | None = None
    if mode == "components":
        image, mask = load_case(case, label=label, geometry_tolerance=tol, frame=frame,
                                series_uid=series_uid, roi=roi)
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
        n_found = int(ndimage.label(mask.array != 0, structure=structure)[1])
        parts = split_lesions(mask, min_voxels=int(min_voxels))
        lesions = [(str(i), m) for i, m in enumerate(parts, start=1)]
    elif mask_kind(case.mask) != "image":
        image, lesions, n_found, skipped = _named_lesions(case, roi, int(min_voxels), tol,
                                                          frame, series_uid)
    else:
        image, lesions, n_found = _label_lesions(case, int(min_voxels), tol, frame, series_uid)
    if not lesions:
        what = "component" if mode == "components" else \
            "label" if skipped is None else "structure"
        left = f"; left out: {', '.join(skipped)}" if skipped else ""
        raise CaseError(f"no lesion of at least {min_voxels} voxel(s): the mask holds "
                        f"{n_found} {what}(s), all smaller (or none){left}. Lower "
                        "--min-lesion-voxels, or fix the mask.", case_id=cid,
                        file=str(case.mask), stage="validate")
    info = {"n_found": n_found, "dropped": n_found - len(lesions), "min_voxels": int(min_voxels)}
    if skipped is not None:
        info["skipped"] = skipped
    return image, lesions, info


def _label_lesions(case: "Case", min_voxels: int, tol: float, frame: int | None,
                   series_uid: str | None) -> tuple[Image, list[tuple[str, Image]], int]:
    """``labels`` on a label image: one lesion per non-zero value."""
    from thyromics.io._formats import read_raw
    from thyromics.io.readers import check_geometry, read_case_image

    cid = case.case_id
    try:
        image = read_case_image(cid, case.image, frame=frame,
                                series_uid=getattr(case, "series_uid", None) or series_uid)
        raw = read_raw(Path(case.mask), colour="mask")
        arr = raw.array
        if np.issubdtype(arr.dtype, np.floating) and \
                (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
            raise CaseError("--lesions labels needs integer label values; the mask has "
                            "non-integer or NaN values.", file=str(case.mask), stage="validate")
        check_geometry(image, raw.with_array(np.zeros(arr.shape, np.uint8)), tolerance=tol)
    except CaseError as e:
        raise CaseError(e.reason, case_id=cid, file=e.file, stage=e.stage) from e
    values = [v for v in np.unique(arr).tolist() if v != 0]
    lesions = []
    for v in values:
        m = (arr == v).astype(np.uint8)
        if int(m.sum()) >= min_voxels:
            lesions.append((f"{v:g}" if isinstance(v, float) else str(v),
                            Image(m, raw.spacing, raw.origin, raw.direction, raw.source)))
    return image, lesions, len(values)


def _named_lesions(case: "Case", roi: str | None, min_voxels: int, tol: float,
                   frame: int | None, series_uid: str | None
                   ) -> tuple[Image, list[tuple[str, Image]], int, list[str]]:
    """``labels`` on an RTSTRUCT / SEG / Slicer file: one lesion per structure or segment."""
    from thyromics.io._masks import mask_kind, structure_names
    from thyromics.io.readers import check_geometry, read_case_image, read_mask

    cid = case.case_id
    chosen = getattr(case, "roi", None) or roi
    if chosen:
        raise CaseError(f"--lesions labels takes every structure / segment of the file as a "
                        f"lesion, but roi {chosen!r} chooses one (the manifest's 'roi' cell or "
                        "--roi). Drop the roi to take them all, or use --lesions components "
                        "to split that one structure into its connected parts.", case_id=cid,
                        file=str(case.mask), stage="validate")
    uid = getattr(case, "series_uid", None) or series_uid
    current = Path(case.image)
    try:
        image = read_case_image(cid, current, frame=frame, series_uid=uid)
        current = Path(case.mask)
        names, skipped = structure_names(current, mask_kind(current))
        lesions = []
        for name in names:
            mask = read_mask(current, roi=name, image=case.image, image_series_uid=uid)
            check_geometry(image, mask, tolerance=tol)
            if int(mask.array.sum()) >= min_voxels:
                lesions.append((name, mask))
    except CaseError as e:
        raise CaseError(e.reason, case_id=cid, file=e.file or str(current), stage=e.stage) from e
    return image, lesions, len(names), skipped
