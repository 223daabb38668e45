"""From decoded pixels to one grey array: colour to grey, and the choice of a frame.

Private module of :mod:`thyromics.io._formats` (see its notes on colour).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from thyromics.io._filetypes import fail

__all__ = ["LUMA_WEIGHTS", "ColourMode", "luma", "to_grey", "check_frame"]

#: ITU-R BT.601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

ColourMode = Literal["luma", "mask"]


def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey values from ``(..., 3 or 4)`` colour pixels, ITU-R BT.601.

    ``Y = 0.299 R + 0.587 G + 0.114 B`` in float64; a fourth (alpha) channel is ignored.
    """
    rgb = np.asarray(rgb)
    w = np.asarray(LUMA_WEIGHTS)
    return rgb[..., :3].astype(np.float64) @ w


def to_grey(path: Path, arr: np.ndarray, colour: ColourMode) -> np.ndarray:
    """Collapse a trailing colour axis of 3/4 (RGB[A]) or 2 (grey+alpha) channels."""
    if arr.shape[-1] == 2:  # grey + alpha
        return arr[..., 0]
    if arr.shape[-1] not in (3, 4):
        raise fail(path, f"expected grey or RGB(A) pixels, found {arr.shape[-1]} components per pixel.")
    rgb = arr[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy()
    if colour == "luma":
        return luma(rgb)
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    black = np.all(colours == 0, axis=1)
    if len(colours) == 2 and black.any():
        return np.any(rgb != 0, axis=-1).astype(np.uint8)
    raise fail(path, f"colour mask with {len(colours)} distinct colours: expected a grey label "
                     "image, or a two-colour mask (black background and one colour). Convert the "
                     "mask to a grey label image.")


def check_frame(path: Path, n_frames: int, frame: int | None, what: str) -> int:
    """The 0-based frame to read: ``frame``, or 0 for a single-frame file."""
    if n_frames > 1 and frame is None:
        raise fail(path, f"{what} has {n_frames} frames: expected a single image. Choose one "
                         f"with frame=0..{n_frames - 1} (--frame on the command line).")
    f = 0 if frame is None else int(frame)
    if not 0 <= f < n_frames:
        raise fail(path, f"frame {f} requested but the {what.lower()} has {n_frames} frame(s) "
                         f"(valid: 0..{n_frames - 1}).")
    return f
