"""The one place where the deep stage reads manifests, images and masks.

Everything goes through :mod:`thyromics.io` (``read_manifest``, ``load_case``,
``read_case_image``), so the deep stage reads exactly what extraction reads: DICOM series
and files, RTSTRUCT / SEG / Slicer masks with the manifest's ``roi`` (or ``roi=``,
``--roi``, for rows without one), the same checks and the same errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image

__all__ = ["CaseRef", "read_cases", "load_case_images", "write_mask_like", "CASE_FAILURES",
           "skip_reason"]

#: The failures that skip one case (its row of the errors table, see :func:`skip_reason`)
#: and let the batch go on.
CASE_FAILURES = (CaseError, ValueError, RuntimeError, OSError)


@dataclass(frozen=True)
class CaseRef:
    """The fields of a manifest row that the deep stage uses.

    ``roi`` is the structure / segment name for RTSTRUCT, SEG and Slicer masks when the
    row names none (the ``--roi`` option; the row's own ``roi`` comes first);
    ``extra["io_case"]`` is the :class:`thyromics.io.manifest.Case` it came from.
    """

    case_id: str
    image: Path
    mask: Path | None
    patient_id: str
    label: float | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    roi: str | None = None


def _from_io_case(c: Any, roi: str | None) -> CaseRef:
    label = None if c.label is None else float(c.label)
    return CaseRef(str(c.case_id), Path(c.image), Path(c.mask) if c.mask != Path() else None,
                   str(c.patient_id or c.case_id), label, c.split or None, {"io_case": c}, roi)


def read_cases(manifest: str | Path, *, roi: str | None = None) -> list[CaseRef]:
    """Rows of a case manifest (:func:`thyromics.io.read_manifest`; files are checked case
    by case, so a missing file skips its case, not the batch).

    ``roi`` is the structure / segment of RTSTRUCT, SEG and Slicer masks for rows whose
    ``roi`` cell is empty.
    """
    from thyromics.io import read_manifest

    manifest = Path(manifest)
    if not manifest.exists():
        raise InputError(f"case manifest {manifest} does not exist; give the path of a cases.csv")
    return [_from_io_case(c, roi) for c in read_manifest(manifest, check_files=False).cases]


def load_case_images(case: CaseRef) -> tuple[Image, Image | None]:
    """``(image, mask)`` of one case through :func:`thyromics.io.load_case`; the mask is
    binary uint8 (0/1), or ``None`` when the row has no mask (the image alone is read)."""
    from thyromics.io import load_case
    from thyromics.io.manifest import Case
    from thyromics.io.readers import read_case_image

    io_case = case.extra.get("io_case")
    if case.mask is None:
        return read_case_image(case.case_id, case.image,
                               series_uid=getattr(io_case, "series_uid", None)), None
    if io_case is None:  # a row made by hand (tests, scripts)
        io_case = Case(case.case_id, Path(case.image), Path(case.mask), 0, case.patient_id)
    return load_case(io_case, roi=case.roi)


def skip_reason(e: Exception) -> str:
    """The errors-table reason of a case skipped for ``e`` (one of :data:`CASE_FAILURES`):
    a :class:`~thyromics.errors.CaseError`'s own reason, else the exception's type and
    message (``"OSError: ..."``)."""
    return e.reason if isinstance(e, CaseError) else f"{type(e).__name__}: {e}"


def write_mask_like(mask: np.ndarray, reference: Image, path: str | Path) -> Path:
    """Write a binary mask with the geometry of ``reference``.

    The file type follows ``path``'s suffix: NIfTI/NRRD/MHA keep 0/1; 8-bit picture
    formats (PNG, BMP, TIFF, GIF) store 0/255 as ultrasound masks usually are. JPEG is
    lossy, so a JPEG path is changed to PNG. Returns the path written.
    """
    from thyromics.io import write_image

    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".nii.gz") else path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        path = path.with_suffix(".png")
        suffix = ".png"
    picture = suffix in (".png", ".bmp", ".tif", ".tiff", ".gif")
    arr = (mask > 0).astype(np.uint8) * (255 if picture else 1)
    out = Image(arr, reference.spacing, reference.origin, reference.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(write_image(out, path))
