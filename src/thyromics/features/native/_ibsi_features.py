"""IBSI 1 features that PyRadiomics lacks (``ibsi`` convention, ``ibsi_features=True``).

Definitions from the IBSI reference manual (arXiv:1612.07003, "Image features"), each
checked against the IBSI 1 reference values (``docs/ibsi_conformance.md``). Positions are
voxel centres in mm (numpy order, the grid's own axes); ``X`` are the intensities of the
intensity mask (the resegmented ROI), ``X_d`` its discretised levels ``1..N_g``.

Shape (``<image>_shape_*``, on the morphological mask ``M``; ``V``, ``A``: mesh volume and
area, PyRadiomics' marching cubes):

- ``Asphericity`` ``(A^3 / (36 pi V^2))^(1/3) - 1``;
- ``CentreOfMassShift`` distance between the centre of ``M`` and the intensity-weighted
  centre ``sum X_i r_i / sum X_i`` of the intensity mask;
- ``IntegratedIntensity`` ``V mean(X)``;
- ``VolumeDensityAABB`` / ``AreaDensityAABB`` ``V / V_box``, ``A / A_box`` of the mesh's
  axis-aligned bounding box;
- ``VolumeDensityAEE`` / ``AreaDensityAEE`` against the ellipsoid with semi-axes
  ``2 sqrt(lambda)`` (the principal axes, sample covariance), its area from IBSI's
  Legendre series (20 terms);
- ``VolumeDensityConvexHull`` / ``AreaDensityConvexHull`` against the convex hull of the
  mesh vertices;
- ``MoransI`` ``N / W * sum_ij w_ij a_i a_j / sum a_i^2`` and ``GearysC``
  ``(N - 1) / (2 W) * sum_ij w_ij (X_i - X_j)^2 / sum a_i^2`` over the intensity mask,
  ``a = X - mean(X)``, ``w_ij = 1 / |r_i - r_j|`` (``i != j``), ``W = sum w_ij``: every
  pair, as exact sums by FFT convolution with the kernel ``w`` (no sampling).

First order (``<image>_firstorder_*``): ``MedianAbsoluteDeviation`` ``mean|X - median|``,
``CoefficientOfVariation`` ``sd / mean``, ``QuartileCoefficientOfDispersion``
``(P75 - P25) / (P75 + P25)``; ``LocalIntensityPeak`` / ``GlobalIntensityPeak``: the mean
of the image within a 1 cm^3 sphere (radius 6.20 mm, voxel centres) centred on the
ROI's maximum-intensity voxel (the highest such mean if several) / on any ROI voxel (the
highest); and the intensity histogram, ``Histogram*`` (the statistics of ``X_d``, numpy's
linear percentiles, excess kurtosis, mode = most frequent level, the one nearest the mean
on ties; gradient ``H'(i)`` central differences of the level counts over ``1..N_g``,
one-sided at the ends, and the levels of its maximum and minimum); the intensity-volume
histogram, ``IntensityVolume*`` (:func:`ivh_features`).

GLDM (``<image>_gldm_DependenceCountEnergy``): ``sum p_ij^2`` of the normalised
dependence matrix (IBSI NGLDM), with the neighbours of the GLDM. With GLSZM: the grey
level distance zone matrix (``<image>_gldzm_*``, :mod:`._gldzm`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._mesh import mesh_3d

__all__ = ["IBSI_FEATURES", "dependence_count_energy", "firstorder_extras", "ibsi_columns",
           "image_extras", "ivh_features", "shape_extras"]

_HISTOGRAM = ("Mean", "Variance", "Skewness", "Kurtosis", "Median", "Minimum", "10Percentile",
              "90Percentile", "Maximum", "Mode", "InterquartileRange", "Range",
              "MeanAbsoluteDeviation", "RobustMeanAbsoluteDeviation", "MedianAbsoluteDeviation",
              "CoefficientOfVariation", "QuartileCoefficientOfDispersion", "MaximumGradient",
              "MaximumGradientGreyLevel", "MinimumGradient", "MinimumGradientGreyLevel")
_IVH = ("V10", "V90", "I10", "I90", "V10minusV90", "I10minusI90", "AUC")
#: The extra features of each class, in column order.
IBSI_FEATURES: dict[str, tuple[str, ...]] = {
    "shape": ("Asphericity", "CentreOfMassShift", "IntegratedIntensity", "VolumeDensityAABB",
              "AreaDensityAABB", "VolumeDensityAEE", "AreaDensityAEE",
              "VolumeDensityConvexHull", "AreaDensityConvexHull", "MoransI", "GearysC"),
    "firstorder": ("MedianAbsoluteDeviation", "CoefficientOfVariation",
                   "QuartileCoefficientOfDispersion", "LocalIntensityPeak",
                   "GlobalIntensityPeak", *(f"Histogram{n}" for n in _HISTOGRAM),
                   *(f"IntensityVolume{n}" for n in _IVH)),
    "gldm": ("DependenceCountEnergy",),
}


def ibsi_columns(cls: str, aggregations: tuple[str, ...] = ()) -> list[str]:
    """``<class>_<feature>`` of the features a class adds with ``ibsi_features``: its
    :data:`IBSI_FEATURES`, and for ``glszm`` the distance zone matrix (``gldzm_*``, with
    the ``texture_aggregations`` variants' ``_2D`` / ``_2_5D`` / ``_3D`` columns)."""
    from thyromics.features.native._aggregate import aggregation_suffixes
    from thyromics.features.native._gldzm import GLDZM_FEATURES

    out = [f"{cls}_{f}" for f in IBSI_FEATURES.get(cls, ())]
    if cls == "glszm":
        out += [f"gldzm_{f}" for f in GLDZM_FEATURES]
        out += [f"gldzm_{f}_{x}" for x in aggregation_suffixes("gldzm", aggregations)
                for f in GLDZM_FEATURES]
    return out


_PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)  # a sphere of 1 cm^3


def _bbox(mask: np.ndarray) -> tuple[slice, ...]:
    idx = np.nonzero(mask)
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in idx)


def _positions(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    return np.argwhere(mask) * spacing[None, :]


def _ellipsoid_area(a: float, b: float, c: float) -> float:
    """IBSI's series for the area of an ellipsoid with semi-axes ``a >= b >= c``."""
    from scipy.special import eval_legendre

    alpha = math.sqrt(max(1.0 - (b / a) ** 2, 0.0))
    beta = math.sqrt(max(1.0 - (c / a) ** 2, 0.0))
    if alpha * beta == 0.0:
        return 4.0 * math.pi * a * b if alpha == beta == 0.0 else float("nan")
    x = (alpha ** 2 + beta ** 2) / (2.0 * alpha * beta)
    total = sum((alpha * beta) ** nu / (1.0 - 4.0 * nu ** 2) * eval_legendre(nu, x)
                for nu in range(21))
    return 4.0 * math.pi * a * b * total


def _moran_geary(arr: np.ndarray, roi: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    """Moran's I and Geary's C over every pair of ROI voxels, as exact sums.

    ``sum_j w(r_i - r_j) f_j`` for every ``i`` is a linear convolution of ``f`` (0 outside
    the ROI) with the kernel ``w(d) = 1 / |d|`` (``w(0) = 0``) over the displacements of
    the ROI's bounding box ``S``; one circular FFT convolution of length ``>= 2 S - 1`` per
    axis computes it without wrap-around (memory: a few arrays of ``8 |S|`` values).
    """
    from scipy.fft import irfftn, next_fast_len, rfftn

    box = _bbox(roi)
    r = roi[box]
    vals = np.asarray(arr[box], dtype=np.float64)
    x = vals[r]
    n = x.size
    if n < 2:
        return float("nan"), float("nan")
    a = np.where(r, vals - x.mean(), 0.0)
    shape = r.shape
    size = tuple(next_fast_len(2 * s - 1, real=True) for s in shape)
    index = [np.arange(-(s - 1), s) % m for s, m in zip(shape, size)]  # displacement -> slot
    axes = [np.arange(-(s - 1), s) * sp for s, sp in zip(shape, spacing)]
    d = np.sqrt(sum(g ** 2 for g in np.meshgrid(*axes, indexing="ij")))
    w = np.zeros(size)
    w[np.ix_(*index)] = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    kernel = rfftn(w, size)
    del w, d

    def conv(f: np.ndarray) -> np.ndarray:
        out = irfftn(rfftn(f, size) * kernel, size)
        return out[tuple(slice(0, s) for s in shape)]

    w_one = conv(r.astype(np.float64))  # sum_j w_ij over the ROI, at every i
    w_a = conv(a)
    total_w = float(np.sum(w_one[r]))
    den = float(np.sum(a * a))
    cross = float(np.sum(a * w_a))
    if total_w <= 0 or den == 0:
        return float("nan"), float("nan")
    moran = n / total_w * cross / den
    geary = (n - 1) / (2 * total_w) * (2 * float(np.sum(a * a * w_one)) - 2 * cross) / den
    return moran, geary


def shape_extras(morph: np.ndarray, roi: np.ndarray, arr: np.ndarray,
                 spacing_zyx: np.ndarray) -> dict[str, float]:
    """The IBSI shape features of :data:`IBSI_FEATURES` (3D).

    Parameters
    ----------
    morph, roi : (Z, Y, X) bool
        Morphological and intensity masks on the grid of ``arr``.
    arr : (Z, Y, X) array
        The (original) image.
    spacing_zyx : (3,) float
        Voxel size in mm, numpy order.
    """
    from scipy.spatial import ConvexHull, QhullError
    from skimage.measure import marching_cubes

    sp = np.asarray(spacing_zyx, dtype=np.float64)
    box = _bbox(morph)
    padded = np.pad(morph[box], 1)
    area, volume, _ = mesh_3d(padded, sp, diameters=False)
    extent = np.array([b.stop - b.start for b in box]) * sp
    pos = _positions(morph, sp)
    lam = np.sort(np.linalg.eigvalsh(np.cov(pos.T, ddof=1)))[::-1] if len(pos) > 1 else np.zeros(3)
    semi = 2.0 * np.sqrt(np.clip(lam, 0.0, None))
    verts = marching_cubes(padded.astype(np.float64), 0.5, spacing=tuple(sp))[0]
    try:
        hull = ConvexHull(verts)
        hull_v, hull_a = hull.volume, hull.area
    except QhullError:  # degenerate vertices: no 3D hull, the densities are undefined (NaN)
        hull_v = hull_a = float("nan")
    x = np.asarray(arr[roi], dtype=np.float64)
    moran, geary = _moran_geary(arr, roi, sp)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre_gl = (_positions(roi, sp) * x[:, None]).sum(axis=0) / x.sum()
        return {
            "Asphericity": (area ** 3 / (36 * np.pi * volume ** 2)) ** (1.0 / 3.0) - 1.0,
            "CentreOfMassShift": float(np.linalg.norm(pos.mean(axis=0) - centre_gl)),
            "IntegratedIntensity": volume * x.mean(),
            "VolumeDensityAABB": volume / float(np.prod(extent)),
            "AreaDensityAABB": area / (2.0 * (extent[0] * extent[1] + extent[1] * extent[2]
                                              + extent[0] * extent[2])),
            "VolumeDensityAEE": volume / (4.0 * np.pi / 3.0 * float(np.prod(semi))),
            "AreaDensityAEE": area / _ellipsoid_area(*semi),
            "VolumeDensityConvexHull": volume / hull_v,
            "AreaDensityConvexHull": area / hull_a,
            "MoransI": moran, "GearysC": geary,
        }


def _peaks(arr: np.ndarray, roi: np.ndarray, spacing: np.ndarray) -> tuple[float, float]:
    from scipy.signal import fftconvolve

    reach = np.floor(_PEAK_RADIUS_MM / spacing + 1e-9).astype(int)
    axes = [np.arange(-k, k + 1) * sp for k, sp in zip(reach, spacing)]
    d2 = sum(g ** 2 for g in np.meshgrid(*axes, indexing="ij"))
    kernel = (d2 <= _PEAK_RADIUS_MM ** 2 + 1e-9).astype(np.float64)
    box = tuple(slice(max(b.start - k, 0), min(b.stop + k, n))
                for b, k, n in zip(_bbox(roi), reach, arr.shape))
    sub = np.asarray(arr[box], dtype=np.float64)
    total = fftconvolve(sub, kernel, mode="same")
    count = fftconvolve(np.ones_like(sub), kernel, mode="same")
    r = roi[box]
    means = total[r] / np.rint(count[r])
    x = sub[r]
    return float(means[x == x.max()].max()), float(means.max())


def _histogram(levels: np.ndarray) -> dict[str, float]:
    xd = np.asarray(levels, dtype=np.float64)
    ng = int(levels.max())
    h = np.bincount(levels.astype(np.int64), minlength=ng + 1)[1:].astype(np.float64)
    mean = xd.mean()
    dev = xd - mean
    m2 = np.mean(dev ** 2)
    p10, p25, p75, p90 = np.percentile(xd, [10, 25, 75, 90])
    med = np.median(xd)
    robust = xd[(xd >= p10) & (xd <= p90)]
    modes = np.flatnonzero(h == h.max()) + 1
    mode = modes[np.argmin(np.abs(modes - mean))]
    grad = np.gradient(h) if ng > 1 else np.zeros(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "Mean": mean, "Variance": m2, "Skewness": np.mean(dev ** 3) / m2 ** 1.5,
            "Kurtosis": np.mean(dev ** 4) / m2 ** 2 - 3.0, "Median": med,
            "Minimum": xd.min(), "10Percentile": p10, "90Percentile": p90, "Maximum": xd.max(),
            "Mode": float(mode), "InterquartileRange": p75 - p25, "Range": xd.max() - xd.min(),
            "MeanAbsoluteDeviation": np.mean(np.abs(dev)),
            "RobustMeanAbsoluteDeviation": np.mean(np.abs(robust - robust.mean())),
            "MedianAbsoluteDeviation": np.mean(np.abs(xd - med)),
            "CoefficientOfVariation": np.sqrt(m2) / mean,
            "QuartileCoefficientOfDispersion": (p75 - p25) / (p75 + p25),
            "MaximumGradient": grad.max(), "MaximumGradientGreyLevel": float(np.argmax(grad) + 1),
            "MinimumGradient": grad.min(), "MinimumGradientGreyLevel": float(np.argmin(grad) + 1),
        }


def ivh_features(x: np.ndarray, lower: float | None = None, upper: float | None = None,
                 width: float | None = None, count: int | None = None) -> dict[str, float]:
    """Intensity-volume histogram features of the ROI intensities ``x`` (IBSI).

    Discretisation: none (``width`` and ``count`` None: the intensities themselves,
    interval 1, e.g. CT in HU), fixed bin size ``width`` (bin centres
    ``X_min + (X_d - 0.5) w``, interval ``w``) or fixed bin number ``count`` (the bins
    ``1..count``, interval 1). The total range ``G`` is ``[lower, upper]`` (the
    resegmentation range; ``None``: the ROI's minimum / maximum), bin centres for a fixed
    bin size, ``[1, count]`` for a fixed bin number. On the grid ``i`` of ``G``:
    volume fraction ``nu_i`` (share of voxels ``>= i``), intensity fraction
    ``gamma_i = (i - min G) / (max G - min G)``; ``Vx`` the volume fraction at the first
    ``gamma >= x``, ``Ix`` the first ``i`` with ``nu_i <= x`` (``max G + interval`` when
    none), ``AUC`` the trapezoidal area under ``nu(gamma)`` (0 for a single level).
    """
    xf = np.asarray(x, dtype=np.float64)
    lo = float(xf.min()) if lower is None else float(lower)
    hi = float(xf.max()) if upper is None else float(upper)
    if count is not None:
        from thyromics.features.native._ibsi import ibsi_bin_levels

        xd = ibsi_bin_levels(xf, {"binCount": count}, None).astype(np.float64)
        g0, g1, step = 1.0, float(count), 1.0
    elif width is not None:
        xd = lo + (np.floor((xf - lo) / width) + 0.5) * width
        g0, g1, step = lo + 0.5 * width, hi - 0.5 * width, float(width)
    else:
        xd, g0, g1, step = xf, lo, hi, 1.0
    grid = g0 + step * np.arange(int(np.floor((g1 - g0) / step + 1e-9)) + 1)
    xs = np.sort(xd)
    nu = 1.0 - np.searchsorted(xs, grid - 1e-9 * step, side="left") / len(xs)
    gamma = (grid - g0) / (g1 - g0) if g1 > g0 else np.zeros(len(grid))

    def v(frac: float) -> float:
        hit = np.flatnonzero(gamma >= frac - 1e-12)
        return float(nu[hit[0]]) if len(hit) else 0.0

    def i(frac: float) -> float:
        hit = np.flatnonzero(nu <= frac + 1e-12)
        return float(grid[hit[0]]) if len(hit) else float(grid[-1] + step)

    v10, v90, i10, i90 = v(0.1), v(0.9), i(0.1), i(0.9)
    auc = float(np.trapezoid(nu, gamma)) if len(grid) > 1 else 0.0
    return {"V10": v10, "V90": v90, "I10": i10, "I90": i90, "V10minusV90": v10 - v90,
            "I10minusI90": i10 - i90, "AUC": auc}


def firstorder_extras(arr: np.ndarray, roi: np.ndarray, levels: np.ndarray,
                      spacing_zyx: np.ndarray, ivh: dict | None = None) -> dict[str, float]:
    """The IBSI first-order features of :data:`IBSI_FEATURES`.

    Parameters
    ----------
    arr : (Z, Y, X) array
        The whole (filtered) image: the intensity peaks average image voxels beyond the ROI.
    roi : (Z, Y, X) bool
        The intensity mask on ``arr``'s grid.
    levels : (N,) int
        Discretised levels of ``arr[roi]`` (same order).
    ivh : dict, optional
        Keyword arguments of :func:`ivh_features` (range and discretisation).
    """
    x = np.asarray(arr[roi], dtype=np.float64)
    p25, p75 = np.percentile(x, [25, 75])
    local, glob = _peaks(arr, roi, np.asarray(spacing_zyx, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {"MedianAbsoluteDeviation": float(np.mean(np.abs(x - np.median(x)))),
               "CoefficientOfVariation": float(x.std() / x.mean()),
               "QuartileCoefficientOfDispersion": float((p75 - p25) / (p75 + p25)),
               "LocalIntensityPeak": local, "GlobalIntensityPeak": glob}
    out.update({f"Histogram{k}": float(v) for k, v in _histogram(levels).items()})
    out.update({f"IntensityVolume{k}": v for k, v in ivh_features(x, **(ivh or {})).items()})
    return out


def dependence_count_energy(disc: np.ndarray, offsets: np.ndarray, alpha: int) -> float:
    """``sum p_ij^2`` of the dependence matrix of ``disc`` (levels, 0 outside the ROI)."""
    dep = np.zeros(disc.shape, dtype=np.int64)
    inside = disc > 0
    for o in offsets:
        src, dst = [], []
        for k, n in zip(o, disc.shape):
            k = int(k)
            src.append(slice(max(k, 0), n + min(k, 0)))
            dst.append(slice(max(-k, 0), n + min(-k, 0)))
        neighbour = np.zeros_like(disc)
        neighbour[tuple(dst)] = disc[tuple(src)]  # neighbour[i] = disc[i + o]
        dep += inside & (neighbour > 0) & (np.abs(disc - neighbour) <= alpha)
    pairs = np.stack([disc[inside], dep[inside]], axis=1)
    _, counts = np.unique(pairs, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(np.sum(p ** 2))


def image_extras(values: dict[str, float], name: str, texture: list[str], whole: np.ndarray,
                 roi: np.ndarray, a: np.ndarray, roi_c: np.ndarray, s: dict[str, Any],
                 lower: float | None, geo: Any, sp: np.ndarray, params: dict[str, Any],
                 morph: np.ndarray, base: str, axis: int) -> None:
    """The IBSI first-order, GLDM and GLDZM features PyRadiomics lacks
    (this module, :mod:`._gldzm`) of one image: ``whole`` the image on
    ``roi``'s grid, ``a`` its ROI box, ``morph`` the morphological mask; the
    intensity-volume histogram's range is the resegmentation range on the original image;
    the GLDZM's usual aggregation is ``base``, its slices run along ``axis``."""
    from thyromics.features.native._aggregate import aggregation_suffixes
    from thyromics.features.native._gldzm import GLDZM_FEATURES, gldzm_values
    from thyromics.features.native._ibsi import ibsi_bin_levels

    levels = ibsi_bin_levels(a[roi_c], s, lower)
    if "glszm" in texture:
        mbox = _bbox(morph)  # holds the intensity mask, a part of the morphological one
        m, r = (morph[mbox], roi[mbox]) if morph.ndim == 3 else (morph[mbox][None],
                                                                 roi[mbox][None])
        disc_m = np.zeros(m.shape, dtype=np.int64)
        disc_m[r] = levels
        variants = params.get("textureAggregations") or ()
        for suffix, agg in [("", base)] + [(f"_{x}", x) for x in
                                           aggregation_suffixes("gldzm", variants)]:
            vals = gldzm_values(disc_m, m, agg, axis)
            for f, v in zip(GLDZM_FEATURES, vals):
                values[f"{name}_gldzm_{f}{suffix}"] = float(v)
    if "firstorder" in texture:
        full, full_roi = (whole, roi) if whole.ndim == 3 else (whole[None], roi[None])
        rng = s.get("resegmentRange")
        upper = float(max(rng)) if lower is not None and len(rng) == 2 else None
        ivh = dict(lower=lower, upper=upper, width=params.get("ivhBinWidth"),
                   count=params.get("ivhBinCount"))
        for k, v in firstorder_extras(full, full_roi, levels, sp, ivh).items():
            values[f"{name}_firstorder_{k}"] = v
    if "gldm" in texture:
        disc = np.zeros(a.shape, dtype=np.int64)
        disc[roi_c] = levels
        values[f"{name}_gldm_DependenceCountEnergy"] = dependence_count_energy(
            disc, geo.neighbours, int(s.get("gldm_a", 0)))
