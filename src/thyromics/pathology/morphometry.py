"""Per-nucleus features: the 28 columns of the CRIT/iTED study, with its code's defects fixed.

Columns (:data:`NUCLEUS_COLUMNS`): ``type``, ``centroid_x``, ``centroid_y`` (level-0
pixels), then

* **morphology (14)** -- ``area``, ``area_bbox``, ``perimeter``, ``major_axis_length``,
  ``minor_axis_length`` (square micrometres / micrometres; tiles always have a trusted
  resolution), ``eccentricity``, ``circularity`` = 4 pi A_c / P^2 (below), ``elongation`` =
  major / minor, ``extent`` = A / A_bbox, ``solidity`` = A / A_convex, and the contour
  curvature ``curvature_mean|max|min|std``;
* **intensity (7)** on the grey level ``0.299 R + 0.587 G + 0.114 B`` (0-255) of the
  normalised tile, nucleus pixels only -- ``intensity_mean``, ``_std`` (population),
  ``_max``, ``_min``, ``_skewness``, ``_kurtosis`` (excess), ``_entropy`` (log2, 256 bins);
* **GLCM (4)** -- grey quantised to ``glcm_levels`` (8: grey // 32), distance 1, angles
  0, 45, 90, 135 degrees, symmetric, each angle normalised, properties averaged over
  angles: ``glcm_contrast``, ``glcm_homogeneity``, ``glcm_energy``, ``glcm_correlation``.

The CRIT/iTED study's code (``4.4_Nuclear_feature_extraction.py`` of
github.com/Spr1te123/THCA-ITH) computes 25 features (28 columns with type and centroid
x/y) on a 64 x 64 level-0 patch per nucleus, Macenko-normalised per patch, in pixel units.
Fixes of that code: the background is excluded from intensity and texture (levels are
shifted by one, background is level 0 and its row and column are removed from the
co-occurrence matrix; the THCA-ITH code set the background to grey 0, colliding with dark
nuclear pixels); sizes are in micrometres when the resolution is known; the tile is
normalised as a whole, not each 64-pixel patch; a nucleus is counted once, by the tile
owning its centroid (midlines of the overlaps).

``perimeter`` is the length of the 0.5 iso-contour of the nucleus mask smoothed by a
Gaussian of 1 pixel (marching squares on the blurred mask): within 0.5% of 2 pi r for
digital discs of radius >= 5 pixels and of Ramanujan's ellipse perimeter, about 3% short
on a rectangle (its corners are rounded); the raw pixel staircase overestimates discs by
6-14%. ``circularity`` = 4 pi A_c / P^2 uses the area A_c enclosed by that same closed
contour, so it cannot exceed 1 (the isoperimetric inequality; pixel area over Crofton
perimeter reached 1.08 on small nuclei); ``area`` stays the pixel count. Curvature (as the
THCA-ITH code defines it): at contour point i, the signed sine of the angle between
``p_i - p_(i-k)`` and ``p_(i+k) - p_i`` (k = ``curvature_step``), positive where the
contour turns towards the inside (convex); fewer than ``2k + 1`` contour points give 0.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from thyromics.pathology.settings import FeatureSettings
    from thyromics.pathology.slides import TileSpec

__all__ = ["MORPHOLOGY", "INTENSITY", "GLCM", "FEATURES", "NUCLEUS_COLUMNS", "LENGTH_FEATURES",
           "AREA_FEATURES", "nucleus_features", "curvature", "smooth_contour", "grey_levels", "owned_nuclei"]

MORPHOLOGY = ("area", "area_bbox", "eccentricity", "perimeter", "circularity", "elongation",
              "major_axis_length", "minor_axis_length", "extent", "solidity",
              "curvature_mean", "curvature_max", "curvature_min", "curvature_std")
INTENSITY = ("intensity_mean", "intensity_std", "intensity_max", "intensity_min",
             "intensity_skewness", "intensity_kurtosis", "intensity_entropy")
GLCM = ("glcm_contrast", "glcm_homogeneity", "glcm_energy", "glcm_correlation")
FEATURES = MORPHOLOGY + INTENSITY + GLCM
NUCLEUS_COLUMNS = ("type", "centroid_x", "centroid_y") + FEATURES
LENGTH_FEATURES = ("perimeter", "major_axis_length", "minor_axis_length")
AREA_FEATURES = ("area", "area_bbox")
_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)


def grey_levels(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` as float, 0-255."""
    rgb = rgb[..., :3].astype(np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def curvature(mask: np.ndarray, step: int = 5) -> np.ndarray:
    """Signed sines of the turning angles along the outer contour of a binary mask."""
    from skimage.measure import find_contours

    contours = find_contours(np.pad(mask.astype(np.float64), 1), 0.5)
    if not contours:
        return np.zeros(1)
    c = max(contours, key=len)
    if np.allclose(c[0], c[-1]):
        c = c[:-1]
    if len(c) < 2 * step + 1:
        return np.zeros(1)
    x, y = c[:, 1], c[:, 0]
    if 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # orient counter-clockwise
        c = c[::-1]
    xy = c[:, ::-1]
    v1 = xy - np.roll(xy, step, axis=0)
    v2 = np.roll(xy, -step, axis=0) - xy
    cross = v1[:, 0] * v2[:, 1] - v1[:, 1] * v2[:, 0]
    norm = np.linalg.norm(v1, axis=1) * np.linalg.norm(v2, axis=1)
    return np.where(norm > 0, cross / np.where(norm > 0, norm, 1), 0.0)


def smooth_contour(mask: np.ndarray) -> tuple[float, float]:
    """Length and enclosed area (pixels) of the 0.5 iso-contour of ``mask`` blurred by a 1-pixel Gaussian.

    The outer (longest) contour is used; an object too small for the blurred contour
    falls back to the contour of the raw mask.
    """
    from scipy.ndimage import gaussian_filter
    from skimage.measure import find_contours

    m = np.pad(mask.astype(np.float64), 3)
    contours = find_contours(gaussian_filter(m, 1.0), 0.5) or find_contours(m, 0.5)
    if not contours:
        return float("nan"), float("nan")
    c = max(contours, key=len)
    d = np.diff(c, axis=0)
    length = float(np.hypot(d[:, 0], d[:, 1]).sum())
    y, x = c[:, 0], c[:, 1]
    area = 0.5 * abs(float(np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])))
    return length, area


def _glcm(levels: np.ndarray, inside: np.ndarray, n_levels: int) -> dict[str, float]:
    from skimage.feature import graycomatrix, graycoprops

    q = np.where(inside, levels + 1, 0).astype(np.uint16)
    p = graycomatrix(q, [1], _ANGLES, levels=n_levels + 1, symmetric=True, normed=False)
    p = p[1:, 1:].astype(np.float64)  # drop every pair that involves the background
    sums = p.sum(axis=(0, 1))
    valid = sums[0] > 0
    if not valid.any():
        return {k: float("nan") for k in GLCM}
    p = p[..., valid] / sums[:, valid]
    p = p.reshape(n_levels, n_levels, 1, -1)
    return {f"glcm_{k}": float(graycoprops(p, k).mean())
            for k in ("contrast", "homogeneity", "energy", "correlation")}


def _intensity(values: np.ndarray) -> dict[str, float]:
    from scipy import stats

    counts = np.bincount(np.clip(values, 0, 255).astype(np.int64), minlength=256)
    prob = counts[counts > 0] / values.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant nucleus: skew/kurtosis undefined
        skew = float(stats.skew(values)) if values.size > 2 else float("nan")
        kurt = float(stats.kurtosis(values)) if values.size > 3 else float("nan")
    return {"intensity_mean": float(values.mean()), "intensity_std": float(values.std()),
            "intensity_max": float(values.max()), "intensity_min": float(values.min()),
            "intensity_skewness": skew, "intensity_kurtosis": kurt,
            "intensity_entropy": float(-(prob * np.log2(prob)).sum())}


def nucleus_features(inst: np.ndarray, types: dict[int, int], rgb: np.ndarray, *,
                     mpp: float | None, settings: "FeatureSettings",
                     offset: tuple[float, float] = (0.0, 0.0), scale: float = 1.0) -> "pd.DataFrame":
    """The 28 columns for every instance of a tile's label map whose type is measured.

    Parameters
    ----------
    inst : (H, W) int
        Instance labels (0 background).
    types : dict
        Type id of each label (missing -> 0).
    rgb : (H, W, 3) uint8
        The tile the labels belong to (normalised).
    mpp : float or None
        Micrometres per tile pixel; ``None`` leaves sizes in tile pixels (unit tests only:
        the pipeline always has a trusted resolution).
    offset, scale : the tile's level-0 origin ``(x0, y0)`` and level-0 pixels per tile pixel.

    Returns
    -------
    DataFrame
        ``nucleus`` (the label) and :data:`NUCLEUS_COLUMNS`, one row per nucleus.
    """
    import pandas as pd
    from skimage.measure import regionprops

    grey = grey_levels(rgb)
    grey_u8 = np.clip(np.floor(grey), 0, 255).astype(np.int64)
    width = 256 // settings.glcm_levels
    keep = set(settings.types) | {0}
    u = mpp if mpp is not None else 1.0
    rows = []
    for p in regionprops(inst.astype(np.int32)):
        t = int(types.get(p.label, 0))
        if t not in keep:
            continue
        r0, c0, r1, c1 = p.bbox
        inside = p.image
        vals = grey_u8[r0:r1, c0:c1][inside]
        area = float(p.area)
        per, area_c = smooth_contour(inside)
        major, minor = float(p.axis_major_length), float(p.axis_minor_length)
        curv = curvature(inside, settings.curvature_step)
        cy, cx = p.centroid
        row = {"nucleus": p.label, "type": t,
               "centroid_x": offset[0] + cx * scale, "centroid_y": offset[1] + cy * scale,
               "area": area * u * u, "area_bbox": float(p.area_bbox) * u * u,
               "eccentricity": float(p.eccentricity), "perimeter": per * u,
               "circularity": 4 * np.pi * area_c / per ** 2 if per > 0 else float("nan"),
               "elongation": major / minor if minor > 0 else float("nan"),
               "major_axis_length": major * u, "minor_axis_length": minor * u,
               "extent": float(p.extent), "solidity": float(p.solidity),
               "curvature_mean": float(curv.mean()), "curvature_max": float(curv.max()),
               "curvature_min": float(curv.min()), "curvature_std": float(curv.std())}
        row.update(_intensity(vals.astype(np.float64)))
        row.update(_glcm(grey_u8[r0:r1, c0:c1] // width, inside, settings.glcm_levels))
        rows.append(row)
    return pd.DataFrame(rows, columns=["nucleus", *NUCLEUS_COLUMNS])


def owned_nuclei(table: "pd.DataFrame", inst: np.ndarray, tile: "TileSpec",
                 slide_size: tuple[int, int]) -> tuple["pd.DataFrame", int]:
    """Keep the nuclei this tile owns (centroid in its midline region), whole ones only.

    A nucleus owned by the tile but touching a tile edge that lies inside the slide is cut
    by the tile (the overlap was smaller than the nucleus): it is dropped and counted.
    """
    x, y = table["centroid_x"], table["centroid_y"]
    own = (x >= tile.own_x0) & (x < tile.own_x1) & (y >= tile.own_y0) & (y < tile.own_y1)
    edge = np.zeros(inst.shape, bool)
    w, h = slide_size
    if tile.x0 > 0:
        edge[:, 0] = True
    if tile.y0 > 0:
        edge[0, :] = True
    if tile.x0 + tile.w0 < w:
        edge[:, -1] = True
    if tile.y0 + tile.h0 < h:
        edge[-1, :] = True
    cut_labels = set(np.unique(inst[edge]).tolist()) - {0}
    cut = own & table["nucleus"].isin(cut_labels)
    return table[own & ~cut].reset_index(drop=True), int(cut.sum())
