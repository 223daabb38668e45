"""Write an :class:`Image` in the format its file name asks for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from thyromics.errors import InputError
from thyromics.io._filetypes import FORMATS, extension
from thyromics.io.image import Image

__all__ = ["write_image"]

#: numpy dtypes each raster format can hold (Pillow modes).
_RASTER_DTYPES: dict[str, tuple[type, ...]] = {
    "PNG": (np.uint8, np.uint16),
    "TIFF": (np.uint8, np.uint16, np.float32),
    "BMP": (np.uint8,),
    "GIF": (np.uint8,),
    "JPEG": (np.uint8,),
}


def _write_raster(image: Image, path: Path, fmt: str) -> None:
    from PIL import Image as PILImage

    if image.ndim != 2:
        raise InputError(f"cannot write {path}: {fmt} holds 2D images, got a 3D image of size "
                         f"{image.size}. Use .nii.gz, .nrrd or .mha for volumes.")
    arr = image.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    allowed = _RASTER_DTYPES[fmt]
    if arr.dtype.type not in allowed:
        names = ", ".join(np.dtype(t).name for t in allowed)
        raise InputError(f"cannot write {path}: {fmt} holds {names} pixels, got {arr.dtype}. "
                         "Cast the array first (image.with_array(arr.astype(...))) or write "
                         ".nii.gz / .nrrd / .mha, which keep any type and the geometry.")
    pim = PILImage.fromarray(np.ascontiguousarray(arr))
    kwargs = {"quality": 100} if fmt == "JPEG" else {}
    pim.save(path, format=fmt, **kwargs)


def write_image(image: Image, path: str | Path) -> Path:
    """Write ``image`` to ``path`` in the format its extension names.

    Parameters
    ----------
    image : Image
        2D or 3D image.
    path : str or Path
        NIfTI, NRRD and MetaImage keep any pixel type and the full geometry (spacing,
        origin, direction). PNG holds 2D ``uint8``/``uint16``; TIFF also ``float32``;
        BMP, GIF and JPEG (lossy: for pictures, never for masks) ``uint8`` only; these
        raster formats keep no geometry. ``.dcm`` writes a DICOM file through SimpleITK.
        Boolean arrays are written as ``uint8`` 0/1.

    Returns
    -------
    Path
        The path written. Single-file formats are written to a temporary name and
        moved into place, so a crash never leaves a half-written file (``.mhd`` and
        ``.nhdr``, which write two files, are written in place).

    Raises
    ------
    InputError
        Unknown extension, or a pixel type / dimension the format cannot hold.
    """
    import SimpleITK as sitk

    path = Path(path)
    ext = extension(path)
    if ext not in FORMATS:
        raise InputError(f"cannot write {path}: unknown extension {ext or '(none)'!r}; "
                         f"expected one of {', '.join(FORMATS)}.")
    kind, fmt = FORMATS[ext]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic = ext not in (".mhd", ".nhdr")
    target = path.with_name(f".{path.name[:-len(ext)]}.tmp{os.getpid()}{ext}") if atomic else path
    try:
        if kind == "raster":
            _write_raster(image, target, fmt)
        else:
            img = image
            if image.array.dtype == bool:
                img = image.with_array(image.array.astype(np.uint8))
            sitk.WriteImage(img.to_sitk(), str(target), useCompression=ext in (".nrrd", ".mha"))
        if atomic:
            os.replace(target, path)
    finally:
        if atomic and target.exists():
            target.unlink()
    return path
