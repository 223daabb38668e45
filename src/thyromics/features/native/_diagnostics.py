"""PyRadiomics' ``diagnostics_*`` block, value for value, without its per-call ITK filters.

``radiomics.generalinfo.GeneralInfo`` (3.1) fills the block with ``sitk.Hash`` (SHA-1 of
the pixel buffer), ``LabelShapeStatisticsImageFilter`` (bounding box, voxel count) and a
fully connected ``ConnectedComponentImageFilter`` (number of volumes). On a LIDC crop
those filters took a fifth of a native extraction, and on a 21 x 120 x 45 volume the two
hashes alone took half of it. The same values come from the arrays here: SHA-1 of the
same buffer (``hashlib``; the mask as PyRadiomics' ``getMask`` casts it, UInt32), the
bounding box and count from ``numpy.nonzero``, 26- (8- in 2D) connected components from
``scipy.ndimage.label``, and the centre of mass and statistics with PyRadiomics' own
numpy expressions, so that every value is bit for bit PyRadiomics' (tested against
``GeneralInfo`` on random lesions in ``tests/features/test_native_property.py``).
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

import numpy as np

__all__ = ["diagnostics"]

_PREFIX = "diagnostics_"


def _versions() -> dict[str, Any]:
    import pywt
    import radiomics
    import SimpleITK as sitk

    return {f"{_PREFIX}Versions_PyRadiomics": radiomics.__version__,
            f"{_PREFIX}Versions_Numpy": np.__version__,
            f"{_PREFIX}Versions_SimpleITK": sitk.Version().VersionString(),
            f"{_PREFIX}Versions_PyWavelet": pywt.__version__,
            f"{_PREFIX}Versions_Python": "%i.%i.%i" % sys.version_info[:3]}


def _sha1(arr: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _image(arr: np.ndarray, sitk_image: Any) -> dict[str, Any]:
    p = f"{_PREFIX}Image-original_"
    values = arr.astype("float")
    return {p + "Hash": _sha1(arr), p + "Dimensionality": "%iD" % sitk_image.GetDimension(),
            p + "Spacing": sitk_image.GetSpacing(), p + "Size": sitk_image.GetSize(),
            p + "Mean": np.mean(values), p + "Minimum": np.min(values),
            p + "Maximum": np.max(values)}


def _mask(roi: np.ndarray, sitk_image: Any, prefix: str, *, mask_values: np.ndarray | None,
          arr: np.ndarray | None) -> dict[str, Any]:
    from scipy import ndimage

    p = f"{_PREFIX}Mask-{prefix}_"
    out: dict[str, Any] = {}
    if mask_values is not None:  # the hash is of the mask PyRadiomics is given, as UInt32
        out[p + "Hash"] = _sha1(mask_values.astype(np.uint32))
    out[p + "Spacing"] = sitk_image.GetSpacing()
    out[p + "Size"] = sitk_image.GetSize()
    coords = np.array(np.where(roi))  # PyRadiomics' maskCoordinates, (z, y, x) rows
    lower = coords.min(axis=1)
    size = coords.max(axis=1) - lower + 1
    out[p + "BoundingBox"] = tuple(int(v) for v in (*lower[::-1], *size[::-1]))
    out[p + "VoxelNum"] = int(coords.shape[1])
    box = tuple(slice(int(a), int(a + n)) for a, n in zip(lower, size))  # all of the lesion
    out[p + "VolumeNum"] = int(ndimage.label(roi[box], structure=np.ones((3,) * roi.ndim))[1])
    center = tuple(np.mean(coords, axis=1)[::-1])
    out[p + "CenterOfMassIndex"] = center
    out[p + "CenterOfMass"] = sitk_image.TransformContinuousIndexToPhysicalPoint(center)
    if arr is not None:
        target = arr[roi].astype("float")
        out.update({p + "Mean": np.mean(target), p + "Minimum": np.min(target),
                    p + "Maximum": np.max(target)})
    return out


def diagnostics(arr: np.ndarray, sitk_image: Any, mask_values: np.ndarray,
                resegmented: tuple[np.ndarray, np.ndarray, Any] | None = None
                ) -> dict[str, Any]:
    """The block ``GeneralInfo`` gives for one ``execute`` (label 1, no resampling).

    Parameters
    ----------
    arr : array
        The image PyRadiomics is given (its pixel type), numpy order.
    sitk_image : SimpleITK.Image
        The same image (geometry: spacing, size, physical points).
    mask_values : array
        The mask PyRadiomics is given, on the same grid (label 1 is the lesion).
    resegmented : (roi, image array, SimpleITK image), optional
        The resegmented lesion on the (pre-cropped) image it was resegmented on.
    """
    out = _versions()
    out.update(_image(arr, sitk_image))
    out.update(_mask(mask_values == 1, sitk_image, "original", mask_values=mask_values,
                     arr=None))
    if resegmented is not None:
        roi, image, sitk_crop = resegmented
        out.update(_mask(roi, sitk_crop, "resegmented", mask_values=None, arr=image))
    return out
