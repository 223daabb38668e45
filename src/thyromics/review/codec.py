"""Masks on the wire: a 0/1 array as ``{"shape": [...], "bits": base64}``.

``bits`` is :func:`numpy.packbits` of the C-order (numpy order: z, y, x) flattened mask,
big-endian bit order (the first voxel is the most significant bit of the first byte),
then base64. A 300 x 300 mask travels as 15 kB of text; a 512 x 512 x 100 CT mask as
4.4 MB. The page's ``review.js`` packs and unpacks the same way.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from thyromics.review.cases import ReviewError

__all__ = ["encode_mask", "decode_mask"]


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """``{"shape", "bits"}`` of a mask (non-zero = foreground)."""
    arr = np.ascontiguousarray(np.asarray(mask) != 0)
    bits = np.packbits(arr.ravel(), bitorder="big")
    return {"shape": list(arr.shape), "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def decode_mask(obj: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The ``uint8`` 0/1 mask of ``obj``; it must have exactly ``shape``.

    Raises
    ------
    ReviewError
        400, saying what was malformed (not an object, wrong shape, bad base64, wrong
        number of bytes).
    """
    if not isinstance(obj, dict) or "shape" not in obj or "bits" not in obj:
        raise ReviewError(400, 'mask must be an object {"shape": [...], "bits": "<base64>"}.')
    got = obj["shape"]
    if not isinstance(got, list) or [int(s) if isinstance(s, int) else None for s in got] != list(shape):
        raise ReviewError(400, f"mask shape {got!r} differs from the image's {list(shape)}.")
    if not isinstance(obj["bits"], str):
        raise ReviewError(400, "mask bits must be a base64 string.")
    try:
        raw = base64.b64decode(obj["bits"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise ReviewError(400, f"mask bits are not valid base64: {e}") from e
    n = int(np.prod(shape))
    if len(raw) != (n + 7) // 8:
        raise ReviewError(400, f"mask bits hold {len(raw)} bytes; a mask of shape {list(shape)} "
                               f"needs {(n + 7) // 8}.")
    flat = np.unpackbits(np.frombuffer(raw, np.uint8), count=n, bitorder="big")
    return flat.reshape(shape).astype(np.uint8)
