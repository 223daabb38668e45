"""NIfTI, NRRD and MetaImage through SimpleITK, and SimpleITK images to :class:`Image`.

Private module of :mod:`thyromics.io._formats`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thyromics.io import _integrity
from thyromics.io._arrays import ColourMode, check_frame, to_grey
from thyromics.io._filetypes import fail, unreadable
from thyromics.io.image import Image

__all__ = ["sitk_to_image", "read_volume"]


def sitk_to_image(path: Path, img, frame: int | None, colour: ColourMode,
                  squeeze_single: bool, what: str) -> Image:
    """SimpleITK image -> :class:`Image`: frames, colour, 2D squeeze of one-slice files."""
    import SimpleITK as sitk

    dim = img.GetDimension()
    if dim == 4:
        n = img.GetSize()[3]
        f = check_frame(path, n, frame, what)
        size = list(img.GetSize())
        size[3] = 0
        img = sitk.Extract(img, size, [0, 0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
        dim = 3
    elif dim == 3 and squeeze_single:
        n = img.GetSize()[2]
        f = check_frame(path, n, frame, what)
        size = list(img.GetSize())
        size[2] = 0
        try:
            img = sitk.Extract(img, size, [0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOSUBMATRIX)
        except RuntimeError:  # oblique plane: the 2x2 submatrix is not a rotation
            img = sitk.Extract(img, size, [0, 0, f], sitk.ExtractImageFilter.DIRECTIONCOLLAPSETOIDENTITY)
        dim = 2
    elif frame not in (None, 0):
        raise fail(path, f"frame {frame} requested but the {what.lower()} has a single frame.")
    if dim not in (2, 3):
        raise fail(path, f"expected a 2D or 3D image, found a {dim}D image.")
    arr = sitk.GetArrayFromImage(img)
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = to_grey(path, arr, colour)
    return Image(arr, img.GetSpacing(), img.GetOrigin(), img.GetDirection(), str(path))


def read_volume(path: Path, fmt: str, frame: int | None, colour: ColourMode) -> Image:
    """A NIfTI / NRRD / MetaImage file (one frame of a 4D file)."""
    import SimpleITK as sitk

    if fmt == "NIfTI":
        _integrity.check_nifti(path)  # ITK pads a cut NIfTI with zeros
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as e:
        raise unreadable(path, fmt, e) from e
    out = sitk_to_image(path, img, frame, colour, squeeze_single=False, what=f"{fmt} file")
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
