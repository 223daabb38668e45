"""IBSI 2 convolutional filters and the first-order statistics of their response maps.

Pure numpy / scipy / pywt functions on volumes in numpy order ``(z, y, x)`` with an
explicit voxel spacing (mm, same order) and boundary condition, after the IBSI 2 reference
manual (Whybra et al., "The Image Biomarker Standardization Initiative: Standardized
Convolutional Filters for Reproducible Radiomics and Enhanced Clinical Insights",
Radiology 2024; reference manual arXiv:2006.05470). ``slice_axis=None`` filters in 3D; an
axis filters each slice perpendicular to it (IBSI's 2D filters, configurations ``A``).

- :func:`mean_filter`: the average over a cube (3D) or square (2D) of ``support`` voxels;
- :func:`log_filter`: the Laplacian of Gaussian, the analytic kernel
  ``-1/s^2 (1/(sqrt(2 pi) s))^D (D - |k|^2/s^2) exp(-|k|^2/(2 s^2))`` sampled at the voxel
  centres, in voxel units (``s = sigma / spacing``), on a support of
  ``1 + 2 floor(d s + 0.5)`` voxels per axis, ``d`` the cutoff (IBSI: 4);
- :func:`laws_filter`: Laws' kernels (``L5 = (1, 4, 6, 4, 1)/sqrt(70)``,
  ``E5 = (-1, -2, 0, 2, 1)/sqrt(10)`` ...), optionally pooled over the 4 (2D) or 24 (3D)
  right-angle rotations, then the energy map: the mean absolute response over a
  ``2 delta + 1`` wide cube;
- :func:`gabor_filter`: the modulus of the complex Gabor response to
  ``exp(-(u^2 + gamma^2 v^2)/(2 s^2)) exp(2 pi i u / lambda)`` (``u, v``: the in-plane
  coordinates in mm rotated by ``theta``; not normalised: the IBSI 2 phase 2 references
  are ``2 pi s^2`` times a normalised kernel's), averaged over the orientations and, in
  3D, over the three orthogonal planes;
- :func:`wavelet_filter`: undecimated separable wavelets, pywt's decomposition filters
  (an even length padded with a trailing zero), à trous levels, convolution, averaged
  over the right-angle rotations;
- :func:`simoncelli_filter`: the isotropic Simoncelli band-pass in the Fourier domain.

:data:`CONFIGURATIONS` names the IBSI 2 phase 2 filter configurations
(``ExtractionSettings.ibsi_filters``); :func:`filtered_statistics` gives the 18
first-order statistics of IBSI 2 phase 2 (:data:`STATISTICS`) of each response map in the
ROI. A boundary condition is one of :data:`BOUNDARIES` (IBSI's names).

Sources of the phase 2 parameters (the reference manual's text was not found in the
searchable corpus; each value below is the one these implementations use, and every
configuration matches the IBSI 2 consensus values, ``docs/ibsi_conformance.md``): the
KCL IBSI 2 scripts (``ChrisRookyard/KCL-IBSI-2``, ``pipeline_script_phase_2.m``: mean
support 5, LoG sigma 1.5 mm cutoff 4, Laws L5E5(E5) max-pooled with energy distance 7,
Gabor sigma 5 mm lambda 2 mm gamma 3/2 every pi/8, db3 LH/LLH level 1 and HH/HHH level 2,
Simoncelli levels 1 and 2, mirror padding; A: no interpolation, 2D; B: spline to 1 mm,
rounded, 3D; both resegmented to [-1000, 400] HU), MIRP (``oncoray/mirp``,
``_imagefilters``: even wavelet filters padded with a zero, à trous, the rotations, the
Simoncelli frequency grid) and Pictologics' IBSI 2 phase 2 report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thyromics.features.ibsi_filters._convolution import (
    BOUNDARIES,
    LAWS_KERNELS,
    gabor_filter,
    laws_filter,
    log_filter,
    log_kernel,
    mean_filter,
)
from thyromics.features.ibsi_filters._wavelets import simoncelli_filter, wavelet_filter

__all__ = ["BOUNDARIES", "CONFIGURATIONS", "LAWS_KERNELS", "STATISTICS", "IbsiFilter",
           "filter_columns", "filtered_statistics", "first_order_statistics", "gabor_filter",
           "laws_filter", "log_filter", "log_kernel", "mean_filter", "simoncelli_filter",
           "wavelet_filter"]


# ---------------------------------------------------------------------- statistics
#: IBSI 1 intensity-statistics tags -> column feature names (IBSI 2 phase 2's 18 features).
STATISTICS: dict[str, str] = {
    "stat_mean": "Mean", "stat_var": "Variance", "stat_skew": "Skewness",
    "stat_kurt": "Kurtosis", "stat_median": "Median", "stat_min": "Minimum",
    "stat_p10": "10Percentile", "stat_p90": "90Percentile", "stat_max": "Maximum",
    "stat_iqr": "InterquartileRange", "stat_range": "Range",
    "stat_mad": "MeanAbsoluteDeviation", "stat_rmad": "RobustMeanAbsoluteDeviation",
    "stat_medad": "MedianAbsoluteDeviation", "stat_cov": "CoefficientOfVariation",
    "stat_qcod": "QuartileCoefficientOfDispersion", "stat_energy": "Energy",
    "stat_rms": "RootMeanSquared"}


def first_order_statistics(x: np.ndarray) -> dict[str, float]:
    """IBSI 1 intensity statistics of the ROI values ``x`` (keys: :data:`STATISTICS` values).

    Population moments; excess kurtosis; numpy's linear percentiles; robust mean absolute
    deviation over the values within ``[P10, P90]``; energy ``sum x^2`` (no voxel volume).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    mean = x.mean()
    d = x - mean
    m2 = np.mean(d ** 2)
    p10, p25, med, p75, p90 = np.percentile(x, [10, 25, 50, 75, 90])
    inner = x[(x >= p10) & (x <= p90)]
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = {
            "Mean": mean, "Variance": m2, "Skewness": np.mean(d ** 3) / m2 ** 1.5,
            "Kurtosis": np.mean(d ** 4) / m2 ** 2 - 3.0, "Median": med, "Minimum": x.min(),
            "10Percentile": p10, "90Percentile": p90, "Maximum": x.max(),
            "InterquartileRange": p75 - p25, "Range": x.max() - x.min(),
            "MeanAbsoluteDeviation": np.mean(np.abs(d)),
            "RobustMeanAbsoluteDeviation": np.mean(np.abs(inner - inner.mean())),
            "MedianAbsoluteDeviation": np.mean(np.abs(x - med)),
            "CoefficientOfVariation": np.sqrt(m2) / mean,
            "QuartileCoefficientOfDispersion": (p75 - p25) / (p75 + p25),
            "Energy": np.sum(x ** 2), "RootMeanSquared": np.sqrt(np.mean(x ** 2))}
    return {k: float(v) for k, v in vals.items()}


# ------------------------------------------------------------------ configurations
@dataclass(frozen=True)
class IbsiFilter:
    """A named IBSI 2 filter configuration.

    ``kind`` names the function, ``params`` its arguments in 3D and ``params_2d`` the ones
    that differ in 2D (slice by slice); ``margin``: voxels a response reads beyond a voxel
    (per filtered axis; ``None``: the whole image), so the image can be cropped to the ROI
    plus it without changing any response in the ROI.
    """

    kind: str
    params: tuple[tuple[str, Any], ...] = ()
    params_2d: tuple[tuple[str, Any], ...] = ()
    ibsi_id: str = ""

    def margin(self, spacing: tuple[float, ...]) -> int | None:
        p = dict(self.params)
        if self.kind == "none":
            return 0
        if self.kind == "mean":
            return p["support"] // 2
        if self.kind == "log":
            return int(np.floor(p["cutoff"] * p["sigma"] / min(spacing) + 0.5))
        if self.kind == "laws":
            return 2 + p["energy_distance"]
        if self.kind == "gabor":
            s = max(p["sigma"], p["sigma"] / p["gamma"])
            return int(np.floor(p["cutoff"] * s / min(spacing) + 0.5))
        if self.kind == "wavelet":  # half the support of the whole cascade
            import pywt

            half = (pywt.Wavelet(p["wavelet"]).dec_len + 1) // 2
            return sum(half * 2 ** (lv - 1) for lv in range(1, p["level"] + 1))
        return None  # FFT (Simoncelli): the whole image

    def apply(self, image: np.ndarray, spacing: tuple[float, ...],
              slice_axis: int | None) -> np.ndarray:
        """The response map of ``image`` (``slice_axis``: 2D, slice by slice)."""
        p = dict(self.params)
        if slice_axis is not None or image.ndim == 2:
            p.update(self.params_2d)
        if self.kind == "none":
            return np.asarray(image, dtype=np.float64)
        if self.kind == "mean":
            return mean_filter(image, slice_axis=slice_axis, **p)
        if self.kind == "log":
            return log_filter(image, spacing=spacing, slice_axis=slice_axis, **p)
        if self.kind == "laws":
            return laws_filter(image, slice_axis=slice_axis, **p)
        if self.kind == "gabor":
            return gabor_filter(image, spacing=spacing, slice_axis=slice_axis, **p)
        if self.kind == "wavelet":
            return wavelet_filter(image, slice_axis=slice_axis, **p)
        if self.kind == "simoncelli":
            return simoncelli_filter(image, slice_axis=slice_axis, **p)
        raise ValueError(f"unknown IBSI filter kind {self.kind!r}")


#: IBSI 2 phase 2 configurations (CT phantom), by name; ``ibsi_id`` is the configuration
#: number (``A``: the 2D variant, ``B``: the 3D one). Every one with IBSI's mirror boundary.
CONFIGURATIONS: dict[str, IbsiFilter] = {
    "none": IbsiFilter("none", ibsi_id="1"),
    "mean-5": IbsiFilter("mean", (("support", 5), ("boundary", "mirror")), ibsi_id="2"),
    "log-1.5mm": IbsiFilter("log", (("sigma", 1.5), ("cutoff", 4.0), ("boundary", "mirror")),
                            ibsi_id="3"),
    "laws-l5e5e5-7": IbsiFilter("laws", (("kernel", "L5E5E5"), ("energy_distance", 7),
                                         ("rotation_invariant", True), ("pooling", "max"),
                                         ("boundary", "mirror")),
                                (("kernel", "L5E5"),), ibsi_id="4"),
    "gabor-5mm-2mm": IbsiFilter("gabor", (("sigma", 5.0), ("wavelength", 2.0), ("gamma", 1.5),
                                          ("theta_step", np.pi / 8), ("cutoff", 4.0),
                                          ("boundary", "mirror")), ibsi_id="5"),
    "db3-llh-1": IbsiFilter("wavelet", (("wavelet", "db3"), ("response", "LLH"), ("level", 1),
                                        ("rotation_invariant", True), ("pooling", "average"),
                                        ("boundary", "mirror")),
                            (("response", "LH"),), ibsi_id="6"),
    "db3-hhh-2": IbsiFilter("wavelet", (("wavelet", "db3"), ("response", "HHH"), ("level", 2),
                                        ("rotation_invariant", True), ("pooling", "average"),
                                        ("boundary", "mirror")),
                            (("response", "HH"),), ibsi_id="7"),
    "simoncelli-1": IbsiFilter("simoncelli", (("level", 1),), ibsi_id="8"),
    "simoncelli-2": IbsiFilter("simoncelli", (("level", 2),), ibsi_id="9"),
}


def _config(name: str) -> IbsiFilter:
    try:
        return CONFIGURATIONS[name]
    except KeyError:
        from thyromics.errors import did_you_mean

        raise ValueError(f"unknown IBSI 2 filter configuration {name!r}."
                         f"{did_you_mean(name, list(CONFIGURATIONS), cutoff=0.5)} Valid: "
                         f"{', '.join(CONFIGURATIONS)}") from None


def filter_columns(names: tuple[str, ...] | list[str]) -> list[str]:
    """Columns of the configurations ``names``: ``ibsi2-<name>_firstorder_<statistic>``."""
    return [f"ibsi2-{n}_firstorder_{f}" for n in names for f in STATISTICS.values()]


def filtered_statistics(image: np.ndarray, roi: np.ndarray, spacing: tuple[float, ...],
                        names: tuple[str, ...] | list[str],
                        slice_axis: int | None = None) -> dict[str, float]:
    """First-order statistics in ``roi`` of each configuration's response map.

    Parameters
    ----------
    image : ndarray
        The whole (prepared) image, numpy order.
    roi : bool ndarray
        The ROI (the intensity mask, after resegmentation) on the image's grid.
    spacing : tuple of float
        Voxel spacing in mm, numpy order.
    names : sequence of str
        Keys of :data:`CONFIGURATIONS`.
    slice_axis : int or None
        2D filtering of the slices perpendicular to this axis; ``None``: 3D.

    Returns
    -------
    dict
        :func:`filter_columns` -> value. The image is filtered whole, or cropped to the ROI
        plus the filter's reach where that changes no response in the ROI.
    """
    idx = np.nonzero(roi)
    out: dict[str, float] = {}
    for name in names:
        cfg = _config(name)
        margin = cfg.margin(tuple(spacing))
        if margin is None:
            crop: tuple[slice, ...] = tuple(slice(None) for _ in range(image.ndim))
        else:
            crop = tuple(slice(max(int(i.min()) - margin, 0), int(i.max()) + margin + 1)
                         for i in idx)
        resp = cfg.apply(np.asarray(image)[crop], tuple(spacing), slice_axis)
        for f, v in first_order_statistics(resp[roi[crop]]).items():
            out[f"ibsi2-{name}_firstorder_{f}"] = v
    return out
