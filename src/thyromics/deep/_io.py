"""The one place where the deep stage reads manifests, images and masks.

Uses :mod:`thyromics.io` (``read_manifest``, ``load_case``) when it provides them and
falls back to a small SimpleITK reader otherwise, so this module is the only thing to
change when the I/O stage evolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image

__all__ = ["CaseRef", "read_cases", "load_case_images", "write_mask_like"]


@dataclass(frozen=True)
class CaseRef:
    """The fields of a manifest row that the deep stage uses."""

    case_id: str
    image: Path
    mask: Path | None
    patient_id: str
    label: float | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _from_io_case(c: Any) -> CaseRef:
    label = getattr(c, "label", None)
    if label is not None:
        try:
            label = float(label)
            if np.isnan(label):
                label = None
        except (TypeError, ValueError):
            label = None
    pid = getattr(c, "patient_id", None)
    return CaseRef(str(c.case_id), Path(c.image), Path(c.mask) if getattr(c, "mask", None) else None,
                   str(pid) if pid not in (None, "") else str(c.case_id), label,
                   getattr(c, "split", None) or None, {"io_case": c})


def read_cases(manifest: str | Path) -> list[CaseRef]:
    """Rows of a case manifest (CSV: ``case_id, image, mask[, patient_id, label, split]``).

    Paths are relative to the manifest's folder. A missing ``patient_id`` falls back to
    the ``case_id`` (each row its own patient).
    """
    manifest = Path(manifest)
    if not manifest.exists():
        raise InputError(f"case manifest {manifest} does not exist; give the path of a cases.csv")
    try:
        from thyromics.io import read_manifest  # type: ignore[attr-defined]
    except ImportError:
        read_manifest = None
    if read_manifest is not None:
        # files are checked case by case (a missing file skips its case, not the batch)
        return [_from_io_case(c) for c in read_manifest(manifest, check_files=False).cases]
    import pandas as pd

    df = pd.read_csv(manifest, dtype={"case_id": str, "patient_id": str})
    missing = [c for c in ("case_id", "image") if c not in df.columns]
    if missing:
        raise InputError(f"manifest {manifest} lacks column(s) {missing}; found {list(df.columns)}")
    root = manifest.parent
    out = []
    for _, r in df.iterrows():
        label = r.get("label")
        label = None if label is None or pd.isna(label) else float(label)
        mask = r.get("mask")
        pid = r.get("patient_id")
        split = r.get("split")
        out.append(CaseRef(str(r["case_id"]), root / str(r["image"]),
                           None if mask is None or pd.isna(mask) else root / str(mask),
                           str(r["case_id"]) if pid is None or pd.isna(pid) else str(pid), label,
                           None if split is None or pd.isna(split) else str(split)))
    return out


def _read_sitk(path: Path, case_id: str) -> Image:
    try:
        from thyromics.io import read_image  # type: ignore[attr-defined]
    except ImportError:
        read_image = None
    if read_image is not None:
        if not path.exists():
            raise CaseError(f"file not found (expected an image or mask at {path})", case_id=case_id,
                            file=str(path), stage="read")
        try:
            return read_image(path)
        except CaseError as e:
            raise CaseError(e.reason, case_id=case_id, file=e.file or str(path), stage=e.stage) from e
    import SimpleITK as sitk

    if not path.exists():
        raise CaseError(f"file not found (expected an image or mask at {path})", case_id=case_id,
                        file=str(path), stage="read")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise CaseError(f"SimpleITK cannot read it: {e}", case_id=case_id, file=str(path)) from e
    arr = sitk.GetArrayFromImage(img)
    if img.GetNumberOfComponentsPerPixel() > 1:  # RGB(A) ultrasound -> grey
        arr = arr[..., :3].mean(axis=-1)
        img2 = sitk.GetImageFromArray(arr)
        img2.CopyInformation(img) if img2.GetDimension() == img.GetDimension() else None
        img = img2
    if img.GetDimension() == 3 and img.GetSize()[2] == 1:  # a 2D picture read as one slice
        arr = sitk.GetArrayFromImage(img)[0]
        return Image(arr, img.GetSpacing()[:2], img.GetOrigin()[:2], source=str(path))
    return Image.from_sitk(img, source=str(path))


def load_case_images(case: CaseRef) -> tuple[Image, Image | None]:
    """``(image, mask)`` of one case; the mask is binary uint8 (0/1) or ``None``."""
    io_case = case.extra.get("io_case")
    if io_case is not None:
        try:
            from thyromics.io import load_case  # type: ignore[attr-defined]
        except ImportError:
            load_case = None
        if load_case is not None and case.mask is not None:
            if not Path(case.image).exists() or not Path(case.mask).exists():
                missing = case.image if not Path(case.image).exists() else case.mask
                raise CaseError(f"file not found (expected an image or mask at {missing})",
                                case_id=case.case_id, file=str(missing), stage="read")
            return load_case(io_case)
    image = _read_sitk(case.image, case.case_id)
    if case.mask is None:
        return image, None
    mask = _read_sitk(case.mask, case.case_id)
    if mask.array.shape != image.array.shape:
        raise CaseError(f"mask shape {mask.array.shape} differs from image shape {image.array.shape}",
                        case_id=case.case_id, file=str(case.mask))
    return image, mask.with_array((mask.array > 0).astype(np.uint8))


def write_mask_like(mask: np.ndarray, reference: Image, path: str | Path) -> Path:
    """Write a binary mask with the geometry of ``reference``.

    The file type follows ``path``'s suffix: NIfTI/NRRD/MHA keep 0/1; 8-bit picture
    formats (PNG, BMP, TIFF, GIF) store 0/255 as ultrasound masks usually are. JPEG is
    lossy, so a JPEG path is changed to PNG. Returns the path written.
    """
    path = Path(path)
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.lower().endswith(".nii.gz") else path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        path = path.with_suffix(".png")
        suffix = ".png"
    picture = suffix in (".png", ".bmp", ".tif", ".tiff", ".gif")
    arr = (mask > 0).astype(np.uint8) * (255 if picture else 1)
    out = Image(arr, reference.spacing, reference.origin, reference.direction)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from thyromics.io import write_image  # type: ignore[attr-defined]
    except ImportError:
        write_image = None
    if write_image is not None:
        return Path(write_image(out, path))
    import SimpleITK as sitk

    if suffix == ".gif":  # SimpleITK cannot write GIF
        path = path.with_suffix(".png")
    sitk.WriteImage(out.to_sitk(), str(path))
    return path
