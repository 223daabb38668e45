"""Small writers of synthetic test inputs shared by several test files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_nii(path: Path, arr: np.ndarray, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> Path:
    """Write ``arr`` (numpy order) as NIfTI with the given geometry (ITK order)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    sitk.WriteImage(img, str(path))
    return path


def png_cohort(folder: Path, n: int = 16) -> Path:
    """``n`` PNG images (bright vs dark square lesions) of ``n / 2`` patients, with masks."""
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    rows = ["case_id,patient_id,image,mask,label"]
    for i in range(n):
        img = (40 + 10 * rng.standard_normal((24, 24))).clip(0, 255)
        m = np.zeros((24, 24), np.uint8)
        y0, x0 = rng.integers(3, 12, 2)
        m[y0:y0 + 9, x0:x0 + 9] = 255
        img[m > 0] = 220 if i % 2 else 90
        img[0, 0], img[-1, -1] = 0, 255  # the same intensity range in every image
        sitk.WriteImage(sitk.GetImageFromArray(img.astype(np.uint8)), str(folder / f"i{i}.png"))
        sitk.WriteImage(sitk.GetImageFromArray(m), str(folder / f"m{i}.png"))
        rows.append(f"c{i},p{i // 2},i{i}.png,m{i}.png,{i % 2}")
    (folder / "cases.csv").write_text("\n".join(rows) + "\n")
    return folder / "cases.csv"


def read_image(path):
    """A NIfTI/NRRD file through SimpleITK, its path kept as the source."""
    import SimpleITK as sitk

    from thyromics.io.image import Image

    return Image.from_sitk(sitk.ReadImage(str(path)), source=str(path))


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (as IBSI states its references)."""
    import math

    if not math.isfinite(x) or x == 0:
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))
