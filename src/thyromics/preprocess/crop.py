"""Crop an image and its mask to the lesion's bounding box plus a margin."""

from __future__ import annotations

import math

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image

__all__ = ["crop_to_mask", "mask_bounding_box", "array_box"]


def array_box(array: np.ndarray, margin: int | tuple[int, ...] = 0) -> tuple[slice, ...]:
    """Slices of the smallest box holding every non-zero voxel, grown by ``margin``.

    ``margin`` is in voxels, one value or one per axis in numpy order; the box is clipped
    to the array. The one bounding box of every stage (extraction crops, deep-learning
    crops and patches, segmentation).

    Raises
    ------
    ValueError
        When the array has no non-zero voxel.

    Examples
    --------
    >>> m = np.zeros((8, 10), np.uint8)
    >>> m[3:6, 4:9] = 1
    >>> array_box(m), array_box(m, margin=(1, 2))
    ((slice(3, 6, None), slice(4, 9, None)), (slice(2, 7, None), slice(2, 10, None)))
    """
    nz = np.nonzero(array)
    if len(nz[0]) == 0:
        raise ValueError("empty mask: no non-zero voxel")
    grow = [int(margin)] * array.ndim if np.isscalar(margin) else [int(v) for v in margin]
    return tuple(slice(max(int(ix.min()) - g, 0), min(int(ix.max()) + 1 + g, n))
                 for ix, g, n in zip(nz, grow, array.shape))


def mask_bounding_box(mask: Image) -> tuple[slice, ...]:
    """Smallest numpy-order slices holding every non-zero mask voxel.

    Raises
    ------
    CaseError
        ``stage="preprocess"`` when the mask is empty.
    """
    try:
        return array_box(mask.array)
    except ValueError:
        raise CaseError("mask is empty (0 non-zero voxels): nothing to crop to.",
                        file=mask.source or None, stage="preprocess") from None


def _sub_image(image: Image, box: tuple[slice, ...]) -> Image:
    start_itk = np.array([s.start for s in reversed(box)], dtype=float)
    direction = np.asarray(image.direction).reshape(image.ndim, image.ndim)
    origin = np.asarray(image.origin) + direction @ (start_itk * np.asarray(image.spacing))
    return Image(image.array[box].copy(), image.spacing, tuple(origin.tolist()), image.direction,
                 image.source)


def crop_to_mask(image: Image, mask: Image, *, margin_mm: float | tuple[float, ...] | None = None,
                 margin_vox: int | tuple[int, ...] | None = None) -> tuple[Image, Image]:
    """Crop image and mask to the mask's bounding box grown by a margin.

    Parameters
    ----------
    image, mask : Image
        On the same grid (same size; see :func:`thyromics.io.check_geometry`).
    margin_mm : float or tuple of float, optional
        Margin in mm, one value or one per axis (ITK order ``x, y[, z]``); converted to
        ``ceil(margin_mm / spacing)`` voxels per axis.
    margin_vox : int or tuple of int, optional
        Margin in voxels, one value or one per axis (ITK order). Give at most one of the
        two margins; neither means the tight bounding box.

    Returns
    -------
    (Image, Image)
        The cropped image and mask. The box is clipped to the image; the origin moves to
        the physical position of the first kept voxel, so the physical position of every
        voxel is unchanged.
    """
    if image.size != mask.size:
        raise InputError(f"image size {image.size} and mask size {mask.size} differ; "
                         "resample the mask onto the image first.")
    if margin_mm is not None and margin_vox is not None:
        raise InputError("give margin_mm or margin_vox, not both.")
    nd = image.ndim
    if margin_mm is not None:
        mm = (float(margin_mm),) * nd if np.isscalar(margin_mm) else tuple(map(float, margin_mm))
        if len(mm) != nd or min(mm) < 0:
            raise InputError(f"margin_mm must be >= 0, one value or {nd}, got {margin_mm!r}.")
        vox = tuple(math.ceil(m / s - 1e-9) for m, s in zip(mm, image.spacing))
    elif margin_vox is not None:
        vox = (int(margin_vox),) * nd if np.isscalar(margin_vox) else tuple(map(int, margin_vox))
        if len(vox) != nd or min(vox) < 0:
            raise InputError(f"margin_vox must be >= 0, one value or {nd}, got {margin_vox!r}.")
    else:
        vox = (0,) * nd
    mask_bounding_box(mask)  # an empty mask is refused with its reason
    box = array_box(mask.array, tuple(reversed(vox)))  # ITK order -> numpy order
    return _sub_image(image, box), _sub_image(mask, box)
