"""Lesions in a mask: connected components and the peritumoral ring."""

from __future__ import annotations

from typing import Literal

import numpy as np

from thyromics.errors import InputError
from thyromics.io.image import Image

__all__ = ["split_lesions", "peritumoral_ring", "CONNECTIVITY"]

#: ``full``: voxels touching by a face, edge or corner are connected (8 in 2D, 26 in 3D);
#: ``face``: only by a face (4 in 2D, 6 in 3D).
CONNECTIVITY: tuple[str, ...] = ("full", "face")


def split_lesions(mask: Image, *, min_voxels: int = 1,
                  connectivity: Literal["full", "face"] = "full") -> list[Image]:
    """Split a mask into its connected components, one 0/1 mask per lesion.

    Parameters
    ----------
    mask : Image
        Any non-zero voxel is lesion.
    min_voxels : int
        Components with fewer voxels are dropped (noise specks).
    connectivity : {"full", "face"}
        See :data:`CONNECTIVITY`.

    Returns
    -------
    list of Image
        ``uint8`` 0/1 masks on the input's grid, largest component first (ties in
        raster order of their first voxel). Empty when the mask is empty.

    Examples
    --------
    Two separate blobs of 6 and 4 voxels are two lesions:

    >>> import numpy as np
    >>> from thyromics.io.image import Image
    >>> mask = np.zeros((3, 8, 8), np.uint8)
    >>> mask[1, 5:8, 5:7] = 1
    >>> mask[1, 1:3, 1:3] = 1
    >>> [int(lesion.array.sum()) for lesion in split_lesions(Image(mask, (1.0, 1.0, 1.0)))]
    [6, 4]
    """
    from scipy import ndimage

    if connectivity not in CONNECTIVITY:
        raise InputError(f"unknown connectivity {connectivity!r}; expected one of "
                         f"{', '.join(CONNECTIVITY)}.")
    if min_voxels < 1:
        raise InputError(f"min_voxels must be >= 1, got {min_voxels}.")
    nd = mask.ndim
    structure = ndimage.generate_binary_structure(nd, nd if connectivity == "full" else 1)
    labels, n = ndimage.label(mask.array != 0, structure=structure)
    if n == 0:
        return []
    counts = np.bincount(labels.ravel())[1:]
    order = sorted(range(1, n + 1), key=lambda k: (-counts[k - 1], k))
    return [mask.with_array((labels == k).astype(np.uint8)) for k in order
            if counts[k - 1] >= min_voxels]


def peritumoral_ring(mask: Image, distance_mm: float) -> Image:
    """The ring of tissue around a lesion, up to ``distance_mm`` outside it.

    A voxel belongs to the ring when it is outside the mask and the Euclidean distance
    between its centre and the nearest mask voxel centre, in mm (using the voxel
    spacing, so anisotropic voxels are handled), is at most ``distance_mm``. Exact
    Euclidean distance transform (:func:`scipy.ndimage.distance_transform_edt`).

    Returns
    -------
    Image
        ``uint8`` 0/1 ring, on the mask's grid, clipped at the image border. Empty when
        the mask is empty.
    """
    from scipy import ndimage

    if not distance_mm > 0:
        raise InputError(f"distance_mm must be > 0, got {distance_mm!r}.")
    inside = mask.array != 0
    if not inside.any():
        return mask.with_array(np.zeros(inside.shape, np.uint8))
    sampling = tuple(reversed(mask.spacing))  # numpy order
    dist = ndimage.distance_transform_edt(~inside, sampling=sampling)
    ring = (~inside) & (dist <= distance_mm + 1e-9)
    return mask.with_array(ring.astype(np.uint8))
