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
    (RTSTRUCT / SEG / Slicer files name their lesions: list them one per row with
    ``thyromics manifest`` instead.)

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
        before ``components`` splits it; ``labels`` takes every value).

    Returns
    -------
    (Image, list of (str, Image), dict)
        The image; ``(lesion_id, 0/1 mask)`` pairs; ``{"n_found", "dropped",
        "min_voxels"}``.

    Raises
    ------
    CaseError
        Every read failure of :func:`~thyromics.io.load_case`; no lesion of at least
        ``min_voxels`` voxels.
    """
    from thyromics.io._formats import read_raw
    from thyromics.io._masks import mask_kind
    from thyromics.io.readers import (DEFAULT_GEOMETRY_TOLERANCE, check_finite, check_geometry,
                                      load_case, read_image)
    from thyromics.preprocess.lesions import split_lesions

    if mode not in LESION_MODES:
        raise InputError(f"unknown lesions mode {mode!r}; expected one of "
                         f"{', '.join(LESION_MODES)}.")
    if int(min_voxels) < 1:
        raise InputError(f"min_voxels must be >= 1, got {min_voxels}.")
    tol = DEFAULT_GEOMETRY_TOLERANCE if geometry_tolerance is None else geometry_tolerance
    cid = case.case_id
    if mode == "components":
        image, mask = load_case(case, label=label, geometry_tolerance=tol, frame=frame,
                                series_uid=series_uid, roi=roi)
        from scipy import ndimage

        structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
        n_found = int(ndimage.label(mask.array != 0, structure=structure)[1])
        parts = split_lesions(mask, min_voxels=int(min_voxels))
        lesions = [(str(i), m) for i, m in enumerate(parts, start=1)]
    else:
        if mask_kind(case.mask) != "image":
            raise CaseError("--lesions labels takes the values of a label image, but this mask "
                            "is an RTSTRUCT / SEG / Slicer file whose lesions have names: list "
                            "them one per row (thyromics manifest writes such a manifest) or "
                            "use --lesions components.", case_id=cid, file=str(case.mask),
                            stage="validate")
        try:
            image = read_image(case.image, frame=frame,
                               series_uid=getattr(case, "series_uid", None) or series_uid)
            check_finite(image)
            raw = read_raw(Path(case.mask), colour="mask")
            arr = raw.array
            if np.issubdtype(arr.dtype, np.floating) and \
                    (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
                raise CaseError("--lesions labels needs integer label values; the mask has "
                                "non-integer or NaN values.", file=str(case.mask),
                                stage="validate")
            check_geometry(image, raw.with_array(np.zeros(arr.shape, np.uint8)), tolerance=tol)
        except CaseError as e:
            raise CaseError(e.reason, case_id=cid, file=e.file, stage=e.stage) from e
        values = [v for v in np.unique(arr).tolist() if v != 0]
        n_found = len(values)
        lesions = []
        for v in values:
            m = (arr == v).astype(np.uint8)
            if int(m.sum()) >= int(min_voxels):
                lesions.append((f"{v:g}" if isinstance(v, float) else str(v),
                                Image(m, raw.spacing, raw.origin, raw.direction, raw.source)))
    if not lesions:
        raise CaseError(f"no lesion of at least {min_voxels} voxel(s): the mask holds "
                        f"{n_found} {'component' if mode == 'components' else 'label'}(s), all "
                        "smaller (or none). Lower --min-lesion-voxels, or fix the mask.",
                        case_id=cid, file=str(case.mask), stage="validate")
    return image, lesions, {"n_found": n_found, "dropped": n_found - len(lesions),
                            "min_voxels": int(min_voxels)}
