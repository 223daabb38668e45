"""The ``ibsi`` convention of the native engine: IBSI 1 definitions where PyRadiomics differs.

``ExtractionSettings(convention="ibsi")`` keeps PyRadiomics' column names and every
definition the two agree on, and changes these (Zwanenburg et al., "The Image Biomarker
Standardization Initiative", Radiology 2020; IBSI reference manual, arXiv:1612.07003,
"Image processing" and "Image features"), each checked against the IBSI 1 reference
values of the digital and CT phantoms (``docs/ibsi_conformance.md``):

- **excess kurtosis** (``stat_kurt``): ``m4 / m2^2 - 3``; PyRadiomics reports
  ``m4 / m2^2``;
- **fixed bin size** ("intensity discretisation"): ``floor((x - lower) / w) + 1``, with
  ``lower`` the lower bound of an absolute resegmentation range (the ROI minimum without
  one, and on filtered images); PyRadiomics starts at the ROI minimum floored to a
  multiple of ``w``;
- **fixed bin number**: ``floor(n (x - min) / (max - min)) + 1``, the maximum in bin
  ``n`` (one bin when the ROI is flat); PyRadiomics' ``numpy.histogram`` edges agree up to
  rounding at the edges;
- **range + outlier resegmentation** ("re-segmentation", configuration E): the range first,
  then mean +- ``k`` SD of what the range left;
- **principal axes** (``morph_pca_*``): eigenvalues of the sample covariance (``N - 1``)
  of the voxel centres (PyRadiomics: ``N``), and shape on the whole morphological mask
  (PyRadiomics crops it to the resegmented mask's bounding box);
- **resampling** ("interpolation", in :func:`thyromics.features._prepare.prepare`): grid
  centres aligned, mask interpolated linearly and thresholded at 0.5, integer-valued
  images rounded after interpolation.

Everything else is shared by both conventions and matches the references as it is:
numpy's (linear) percentiles, the other statistics, every texture formula, the mesh.
The filters (LoG, wavelet ...) are PyRadiomics' own functions under both conventions;
IBSI 2's filters are the separate ``ibsi_filters`` setting
(:mod:`thyromics.features.ibsi_filters`, ``ibsi`` convention only), whose first-order
statistics come as extra columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CONVENTIONS", "ibsi_bin_levels", "outlier_filter", "range_lower_bound", "retained"]

#: Conventions of the native engine (``ExtractionSettings.convention``).
CONVENTIONS: tuple[str, ...] = ("pyradiomics", "ibsi")


def range_lower_bound(s: dict[str, Any]) -> float | None:
    """Lower bound of an absolute resegmentation range in PyRadiomics' settings ``s``."""
    rng = s.get("resegmentRange")
    if rng is None or s.get("resegmentMode", "absolute") != "absolute":
        return None
    return float(min(rng))


def ibsi_bin_levels(x: np.ndarray, s: dict[str, Any], lower: float | None) -> np.ndarray:
    """IBSI grey levels (1, 2, ...) of the ROI intensities ``x``.

    Parameters
    ----------
    x : (N,) array
        Intensities of the ROI voxels.
    s : dict
        PyRadiomics' settings: ``binCount`` (fixed bin number) or ``binWidth``.
    lower : float or None
        First bin's lower edge for a fixed bin size (the resegmentation range's lower
        bound); ``None``: the ROI minimum.
    """
    xf = np.asarray(x, dtype=np.float64)
    count = s.get("binCount")
    if count is not None:
        lo, hi = xf.min(), xf.max()
        if hi == lo:
            return np.ones(len(xf), dtype=np.int64)
        levels = np.floor(count * (xf - lo) / (hi - lo)).astype(np.int64) + 1
        return np.minimum(levels, int(count))
    width = float(s.get("binWidth", 25))
    start = xf.min() if lower is None else lower
    return np.floor((xf - start) / width).astype(np.int64) + 1


def outlier_filter(arr: np.ndarray, roi: np.ndarray, k: float) -> np.ndarray:
    """IBSI outlier filtering: ROI voxels within mean +- ``k`` SD (population SD) of the ROI.

    Raises
    ------
    ValueError
        When one voxel or none is left (PyRadiomics' resegmentation message).
    """
    x = arr[roi].astype(np.float64)
    mean, sd = x.mean(), x.std()
    out = roi.copy()
    out[out] = (x >= mean - k * sd) & (x <= mean + k * sd)
    return retained(out, 1, f" after outlier filtering at {k:g} SD")


def retained(roi: np.ndarray, label: Any, after: str = "") -> np.ndarray:
    """``roi`` as resegmented, unless one voxel or none is left (PyRadiomics' message)."""
    kept = int(roi.sum())
    if kept <= 1:
        raise ValueError(f"Resegmentation excluded too many voxels with label {label} "
                         f"(retained {kept} voxel(s){after})! Cannot extract features")
    return roi
