"""The native engine's extraction of one case, step for step as PyRadiomics' ``execute``.

PyRadiomics (3.1, segment-based) does, on the image and mask it is given:

1. with ``preCrop``, crop both to the lesion's bounding box plus ``padDistance``;
2. check the mask (bounding box, ``minimumROIDimensions``, ``minimumROISize``);
3. with ``resegmentRange``, resegment the mask on the image's intensities and check again
   (the bounding box is the resegmented one from here on, also for shape);
4. shape (3D, or shape2D for a 2D image / forced 2D) on the mask cropped to the box;
5. for every image type, the filter on the whole (pre-cropped) image, then every other
   class on the image and mask cropped to the box, each class discretising the ROI anew.

The native engine does the same steps, with PyRadiomics' own filter functions (so the
filtered images are PyRadiomics' to the bit), its bin edges, and one compiled pass per
image (:func:`~thyromics.features.native._kernels.image_pass`) instead of one Python class
per family. Settings and the image type's custom arguments are the parameter dictionary
:func:`thyromics.features.engine._params_for` hands PyRadiomics.

With ``params["convention"] == "ibsi"`` (``ExtractionSettings.convention``) the same steps
compute IBSI 1's definitions where PyRadiomics' differ (:mod:`._ibsi`: bins, excess
kurtosis, outlier filtering after the range, sample-covariance principal axes, shape on
the whole morphological mask) and, on request, the texture aggregation variants
PyRadiomics lacks (:mod:`._aggregate`), the IBSI features PyRadiomics lacks
(:mod:`._ibsi_features`, :mod:`._gldzm`) and the IBSI 2 filters' first-order statistics
(``params["ibsiFilters"]``, :mod:`thyromics.features.ibsi_filters`) over the resegmented ROI.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thyromics.features.maps.engine import generate_angles
from thyromics.features.maps.settings import MAP_FEATURES
from thyromics.features.native._diagnostics import diagnostics
from thyromics.features.native._aggregate import AGGREGATIONS, aggregation_suffixes, variant_pass
from thyromics.features.native._ibsi import (ibsi_bin_levels, outlier_filter, range_lower_bound,
                                             retained)
from thyromics.features.native._ibsi_features import image_extras, shape_extras
from thyromics.features.native._kernels import FAMILY_BITS, LAYOUT, image_pass
from thyromics.features.native._shape import shape2d_features, shape_features

__all__ = ["DEPRECATED", "NATIVE_NAMES", "NativeResult", "extract_native"]

#: Feature names of each column block of the compiled pass.
NATIVE_NAMES: dict[str, tuple[str, ...]] = {
    "firstorder": (*MAP_FEATURES["firstorder"], "StandardDeviation"),
    **{c: MAP_FEATURES[c] for c in ("glcm", "glrlm", "glszm", "gldm", "ngtdm")}}
#: Deprecated PyRadiomics features that PyRadiomics computes no value for, and why.
DEPRECATED: dict[str, str] = {
    "glcm_Dissimilarity": "equal to glcm DifferenceAverage",
    "glcm_Homogeneity1": "equal to glcm Id", "glcm_Homogeneity2": "equal to glcm Idm",
    "glcm_SumVariance": "equal to glcm ClusterTendency",
    "gldm_GrayLevelNonUniformityNormalized": "equal to firstorder Uniformity",
    "gldm_DependencePercentage": "always 1",
}


@dataclass
class NativeResult:
    """Values (``<image type>_<class>_<feature>``) and the reasons of absent ones."""

    values: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    bounding_box: tuple[int, ...] = ()
    n_voxels: int = 0
    #: PyRadiomics' ``diagnostics_*`` block (``GeneralInfo``) of the same execution.
    diagnostics: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    import scipy.linalg.cython_lapack  # noqa: F401 - the LAPACK numba's kernels call
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded() -> Iterator[None]:
    """BLAS/LAPACK and SimpleITK's filters on one thread while a case runs.

    The kernels call LAPACK on small matrices (one per GLCM angle); OpenBLAS' threads then
    only wait on each other, and on a loaded machine a 123-level matrix took 30 times
    longer with 2 threads than with one. SimpleITK's filters (the diagnostics' connected
    components and label statistics, the LoG) start a thread pool per call: on a LIDC crop
    that was 40 of the 50 ms of an original-image extraction. Cases run in parallel
    processes instead. The filters' results do not depend on their thread count.
    """
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


def _bbox(roi: np.ndarray) -> tuple[slice, ...]:
    idx = np.nonzero(roi)
    return tuple(slice(int(a.min()), int(a.max()) + 1) for a in idx)


def _check(roi: np.ndarray, s: dict[str, Any]) -> tuple[slice, ...]:
    """PyRadiomics' ``checkMask``: ValueError with its message when the ROI is unusable."""
    if not roi.any():
        raise ValueError(f"Label ({s.get('label', 1)}) not present in mask")
    box = _bbox(roi)
    ndims = sum((b.stop - b.start) > 1 for b in box)
    min_dims = s.get("minimumROIDimensions", 2)
    if ndims == 0:
        raise ValueError("mask only contains 1 segmented voxel! Cannot extract features for a "
                         "single voxel.")
    if ndims < min_dims:
        raise ValueError(f"mask has too few dimensions (number of dimensions {ndims}, minimum "
                         f"required {min_dims})")
    min_size = s.get("minimumROISize")
    if min_size is not None and int(roi.sum()) <= min_size:
        raise ValueError(f"Size of the ROI is too small (minimum size: {min_size:g}, ROI size: "
                         f"{int(roi.sum())}")
    return box


def _resegment(arr: np.ndarray, roi: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """PyRadiomics' ``resegmentMask`` on arrays."""
    rng = s["resegmentRange"]
    mode = s.get("resegmentMode", "absolute")
    if mode == "absolute":
        thresholds = sorted(rng)
    elif mode == "relative":
        top = np.max(arr[roi])
        thresholds = [top * t for t in sorted(rng)]
    else:  # sigma
        mean, sd = np.mean(arr[roi]), np.std(arr[roi])
        thresholds = [mean + sd * t for t in sorted(rng)]
    out = roi.copy()
    out[out] = arr[out] >= thresholds[0]
    if len(thresholds) == 2:
        out[out] = arr[out] <= thresholds[1]
    return retained(out, s.get("label", 1))


def bin_levels(x: np.ndarray, s: dict[str, Any]) -> np.ndarray:
    """Grey levels of the ROI values ``x`` with PyRadiomics' bin edges (``getBinEdges``).

    Fixed width ``W``: edges ``k W`` from ``min - (min mod W)`` up to ``max + 2 W``
    (half-open bins, ``numpy.digitize``); fixed count: ``numpy.histogram``'s edges with the
    top one raised by 1. The arithmetic runs in the image's own dtype, as PyRadiomics'.
    """
    count = s.get("binCount")
    if count is not None:
        edges = np.histogram(x, count)[1]
        edges[-1] += 1
    else:
        width = s.get("binWidth", 25)
        minimum, maximum = x.min(), x.max()
        low = minimum - (minimum % width)
        edges = np.arange(low, maximum + 2 * width, width)
        if len(edges) == 1:
            edges = [edges[0] - .5, edges[0] + .5]
    return np.digitize(x, edges)


def _weights(angles: np.ndarray, spacing_zyx: np.ndarray, norm: str | None, glcm: bool) -> np.ndarray:
    if norm is None:
        return np.empty(0)
    w = np.empty(len(angles))
    for k, a in enumerate(angles):
        d = np.abs(a) * spacing_zyx
        if norm == "infinity":
            w[k] = np.exp(-max(d) ** 2) if glcm else max(d)
        elif norm == "euclidean":
            w[k] = np.exp(-np.sum(d ** 2)) if glcm else np.sqrt(np.sum(d ** 2))
        elif norm == "manhattan":
            w[k] = np.exp(-np.sum(d) ** 2) if glcm else np.sum(d)
        else:  # no_weighting: the angles are still merged into one matrix
            w[k] = 1
    return w


@dataclass(frozen=True)
class _Geometry:
    """Angles and weights of one crop (they depend on its size only)."""

    glcm: np.ndarray
    glcm_w: np.ndarray
    rl: np.ndarray
    rl_w: np.ndarray
    zones: np.ndarray
    neighbours: np.ndarray


def _geometry(shape: tuple[int, ...], spacing_zyx: np.ndarray, s: dict[str, Any],
              f2d: int) -> _Geometry:
    dist = tuple(int(d) for d in s.get("distances", [1]))
    return _geometry_cached(tuple(shape), tuple(float(x) for x in spacing_zyx), dist,
                            s.get("weightingNorm"), f2d)


@functools.lru_cache(maxsize=256)
def _geometry_cached(shape: tuple[int, ...], spacing: tuple[float, ...],
                     dist: tuple[int, ...], norm: str | None, f2d: int) -> _Geometry:
    # angles only exclude moves longer than the crop: a crop of at least 2 * max(dist) + 1
    # voxels per axis has them all, whatever its size
    dmax = max(dist)
    shape = tuple(min(n, 2 * dmax + 1) for n in shape)
    sp = np.array(spacing)
    glcm = _angles(shape, dist, f2d, False)
    rl = _angles(shape, (1,), f2d, False)
    return _Geometry(glcm, _weights(glcm, sp, norm, True), rl, _weights(rl, sp, norm, False),
                     _angles(shape, (1,), f2d, True), _angles(shape, dist, f2d, True))


@functools.lru_cache(maxsize=64)
def _angles(shape: tuple[int, ...], dist: tuple[int, ...], f2d: int,
            bidirectional: bool) -> np.ndarray:
    """:func:`generate_angles` once per clipped crop shape (not per voxel spacing, which
    differs from case to case in a CT cohort)."""
    return generate_angles(shape, dist, f2d, bidirectional=bidirectional)


def _image_features(arr: np.ndarray, roi: np.ndarray, geo: _Geometry, s: dict[str, Any],
                    families: int, voxel_volume: float, ibsi: tuple[float | None] | None = None,
                    variants: tuple[tuple[str, _Geometry], ...] = (), axis: int = 0,
                    mcc: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The :data:`LAYOUT` values of one image; ``ibsi``: ``(lower,)`` for IBSI's bins and
    excess kurtosis (:mod:`._ibsi`), ``None`` for PyRadiomics'. ``variants``: IBSI texture
    aggregation variants and their offsets (:mod:`._aggregate`; slices along ``axis``),
    whose texture values come back by variant. ``mcc``: compute the GLCM's MCC."""
    x = arr[roi]
    levels = bin_levels(x, s) if ibsi is None else ibsi_bin_levels(x, s, ibsi[0])
    disc = np.zeros(arr.shape, dtype=np.int32)
    disc[roi] = levels
    # np.unique of the levels; numpy.digitize's (PyRadiomics' bins) are all >= 1
    gs = np.flatnonzero(np.bincount(levels)) if ibsi is None else np.unique(levels)
    ng = int(gs[-1])
    lut = np.full(ng + 1, -1, dtype=np.int64)
    lut[gs] = np.arange(len(gs))
    out = image_pass(np.asarray(arr, dtype=np.float64), disc, lut, gs.astype(np.float64),
                     len(gs), ng, families, geo.glcm, geo.glcm_w,
                     bool(s.get("symmetricalGLCM", True)), geo.rl, geo.rl_w, geo.zones,
                     geo.neighbours, int(s.get("gldm_a", 0)), voxel_volume,
                     float(s.get("voxelArrayShift", 0)), mcc)
    if families & FAMILY_BITS["firstorder"]:
        # PyRadiomics' own expression (numpy's pairwise sum): a filtered image's mean is
        # often a near-zero difference of large sums, where any other summation order
        # moves it by more than 1e-9 relative (a wavelet HH band's 1e-6: 1.2e-8)
        # (np.nanmean's sum over the row of the (1, N) array: the same pairwise sum)
        total = np.add.reduce(x.astype("float"))
        out[_MEAN] = (total / x.size if total == total
                      else np.nanmean(x.astype("float").reshape((1, -1)), 1)[0])
    if ibsi is not None:
        out[_KURTOSIS] -= 3.0  # IBSI: excess kurtosis
    extra: dict[str, np.ndarray] = {}
    if variants:
        vals = np.asarray(arr, dtype=np.float64)
        for v, g in variants:
            extra[v] = variant_pass(vals, disc, lut, gs.astype(np.float64), len(gs), ng,
                                    families & ~1, g, v, axis, int(s.get("gldm_a", 0)),
                                    voxel_volume, bool(s.get("symmetricalGLCM", True)), mcc)
    return out, extra


_KURTOSIS = NATIVE_NAMES["firstorder"].index("Kurtosis")
_MEAN = NATIVE_NAMES["firstorder"].index("Mean")


_DEPRECATED_SHAPE = {"shape": ("Compactness1", "Compactness2", "SphericalDisproportion"),
                     "shape2D": ("SphericalDisproportion",)}


def _keep(values: dict[str, float], cls: str, computed: dict[str, float],
          wanted: list[str] | None) -> None:
    """The enabled features of a shape class (all non-deprecated ones when not named)."""
    names = wanted or [k for k in computed if k not in _DEPRECATED_SHAPE[cls]]
    for k in names:
        values[f"original_{cls}_{k}"] = float(computed[k])


def _shape(values: dict[str, float], arr_roi: np.ndarray, box: tuple[slice, ...],
           spacing_zyx: np.ndarray, classes: dict[str, Any], s: dict[str, Any],
           ndim: int, missing: dict[str, str], sample_pca: bool = False) -> None:
    crop = arr_roi[box]
    if "shape" in classes:
        if ndim == 3:
            _keep(values, "shape", shape_features(crop, spacing_zyx, sample_pca=sample_pca),
                  classes["shape"])
        else:
            missing["original_shape"] = "3D shape needs a 3D image (shape2D is used in 2D)"
    if "shape2D" in classes:
        if ndim == 2:
            _keep(values, "shape2D", shape2d_features(crop, spacing_zyx, sample_pca=sample_pca),
                  classes["shape2D"])
            return
        dim = s.get("force2Ddimension", 0)
        size_xyz = [b.stop - b.start for b in reversed(box)]
        if not s.get("force2D", False):
            missing["original_shape2D"] = "shape2D on a volume needs force2D"
        elif not size_xyz[dim] > 1:  # PyRadiomics indexes the (x, y, z) size here
            missing["original_shape2D"] = ("PyRadiomics computes no 2D shape for this lesion: "
                                           f"size {size_xyz[dim]} along axis {dim}")
        else:
            if crop.shape[dim] > 1:
                raise ValueError(f"Size of the mask in dimension {dim} is more than 1, cannot "
                                 "compute 2D shape")
            axes = [a for a in range(3) if a != dim]
            _keep(values, "shape2D", shape2d_features(np.squeeze(crop, axis=dim),
                                                      spacing_zyx[axes], sample_pca=sample_pca),
                  classes["shape2D"])


def extract_native(image: Any, roi: np.ndarray, params: dict[str, Any],
                   mask: Any = None) -> NativeResult:
    """All features of one case, as ``RadiomicsFeatureExtractor(params).execute`` gives them.

    Parameters
    ----------
    image : Image
        The prepared image (:func:`thyromics.features._prepare.prepare`).
    roi : bool array
        The lesion on the image's grid.
    params : dict
        The PyRadiomics parameter dictionary (``imageType``, ``featureClass``,
        ``setting``; label 1, no normalisation or resampling left to do), and optionally
        ``convention`` (``"pyradiomics"``, the default, or ``"ibsi"``: the definitions of
        :mod:`._ibsi`) and ``resegmentOutlierSD`` (``ibsi`` only: outlier filtering at
        that many SD after the range resegmentation).
    mask : Image, optional
        The mask ``roi`` was read from, as PyRadiomics would be given it: its
        ``diagnostics_Mask-original_Hash`` is that image's (pixel type included).

    Returns
    -------
    NativeResult

    Raises
    ------
    ValueError
        With PyRadiomics' message, where PyRadiomics raises one (mask checks,
        resegmentation that leaves one voxel, shape2D of a thick lesion).
    """
    with single_threaded():
        return _extract(image, roi, params, mask)


def _as_sitk(roi: np.ndarray, like: Any) -> Any:
    """The boolean ``roi`` as a label-1 SimpleITK mask on the grid of ``like``."""
    import SimpleITK as sitk

    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(like)
    return mask


def _extract(image: Any, roi: np.ndarray, params: dict[str, Any], mask: Any) -> NativeResult:
    import SimpleITK as sitk
    from radiomics import imageoperations as ops

    s = params["setting"]
    classes = params["featureClass"]
    ibsi = params.get("convention", "pyradiomics") == "ibsi"
    ndim = image.ndim
    arr = np.asarray(image.array)
    spacing_zyx = np.array(image.spacing[::-1], dtype=np.float64)
    sitk_image = image.to_sitk()
    # PyRadiomics' diagnostics, on the images its execute describes (before the crop)
    given = roi.astype(np.uint8) if mask is None else np.asarray(mask.array)
    original = (arr, sitk_image, given)
    resegmented = None
    if s.get("preCrop", False):
        pad = int(s.get("padDistance", 0))
        box = _check(roi, s)
        crop = tuple(slice(max(b.start - pad, 0), min(b.stop + pad, n))
                     for b, n in zip(box, arr.shape))
        arr, roi = arr[crop], roi[crop]
        sitk_image = sitk_image[tuple(reversed(crop))]  # keeps the physical geometry
    box = _check(roi, s)
    shape_roi = roi
    outlier_sd = params.get("resegmentOutlierSD") if ibsi else None
    if s.get("resegmentRange") is not None or outlier_sd is not None:
        if s.get("resegmentRange") is not None:
            roi = _resegment(arr, roi, s)
        if outlier_sd is not None:  # IBSI: after the range
            roi = outlier_filter(arr, roi, float(outlier_sd))
        box = _check(roi, s)
        resegmented = (roi, arr, sitk_image)
        if s.get("resegmentShape", False):
            shape_roi = roi
    out = NativeResult(bounding_box=tuple(v for b in box for v in (b.start, b.stop - 1)),
                       n_voxels=int(roi.sum()),
                       diagnostics=diagnostics(*original, resegmented=resegmented))
    # IBSI: shape of the whole morphological mask; PyRadiomics: cropped to the resegmented box
    _shape(out.values, shape_roi, _bbox(shape_roi) if ibsi else box, spacing_zyx, classes, s,
           ndim, out.missing, sample_pca=ibsi)
    ibsi_features = ibsi and bool(params.get("ibsiFeatures"))
    if ibsi_features and "shape" in classes and ndim == 3:
        for k, v in shape_extras(shape_roi, roi, arr, spacing_zyx).items():
            out.values[f"original_shape_{k}"] = float(v)

    if ibsi and params.get("ibsiFilters"):  # IBSI 2 filters, on the whole prepared image
        from thyromics.features.ibsi_filters import filtered_statistics

        if ndim == 2:  # one slice: 2D filters
            vol, vol_roi, vol_sp, slice_axis = arr[None], roi[None], (1.0, *spacing_zyx), 0
        else:
            vol, vol_roi, vol_sp = arr, roi, tuple(spacing_zyx)
            slice_axis = int(s.get("force2Ddimension", 0)) if s.get("force2D", False) else None
        out.values.update(filtered_statistics(vol, vol_roi, vol_sp, params["ibsiFilters"],
                                              slice_axis))
    texture = [c for c in classes if not c.startswith("shape")]
    if not texture:
        return out
    families = 0
    for c in texture:
        families |= FAMILY_BITS[c]
    roi_c = roi[box]
    if ndim == 2:
        roi_c = roi_c[None]
        f2d = 0
    else:
        f2d = int(s.get("force2Ddimension", 0)) if s.get("force2D", False) else -1
    sp = spacing_zyx if ndim == 3 else np.r_[1.0, spacing_zyx]
    geo = _geometry(roi_c.shape, sp, s, f2d)
    axis = 0 if ndim == 2 else int(s.get("force2Ddimension", 0))  # slices of the variants
    variants = tuple((v, _geometry(roi_c.shape, sp, s, axis if AGGREGATIONS[v][0] else -1))
                     for v in (params.get("textureAggregations") or ()) if ibsi)
    voxel_volume = float(np.multiply.reduce(sitk_image.GetSpacing()))
    plan = _column_plan(texture, classes)
    mcc = any(key == "glcm_MCC" for _, key, _ in plan)  # its eigen-solves only when asked for
    for image_type, custom in params["imageType"].items():
        args = {**s, **(custom or {})}
        # of PyRadiomics' filters only the 3D LBP reads the mask
        mask_sitk = _as_sitk(roi, sitk_image) if image_type == "LBP3D" else None
        for filtered, name, _ in getattr(ops, f"get{image_type}Image")(sitk_image, mask_sitk,
                                                                       **args):
            whole = sitk.GetArrayFromImage(filtered)
            a = whole[box]
            if ndim == 2:
                a = a[None]
            lower = range_lower_bound(s) if name == "original" else None
            res, extra = _image_features(a, roi_c, geo, s, families, voxel_volume,
                                         (lower,) if ibsi else None, variants, axis,
                                         mcc)
            if ibsi_features:
                image_extras(out.values, name, texture, whole, roi, a, roi_c, s, lower, geo, sp,
                             params, shape_roi, "3D" if f2d < 0 else "2_5D", axis)
            columns, index = _columns_of(name, plan)
            out.values.update(zip(columns, res[index].tolist()))
            for family, key, k in plan:
                if key in DEPRECATED:
                    why = f"deprecated in PyRadiomics, which computes no value ({DEPRECATED[key]})"
                    out.missing[f"{name}_{key}"] = why
                    for suffix in aggregation_suffixes(family, extra):
                        out.missing[f"{name}_{key}_{suffix}"] = why
                    continue
                for v, values in extra.items():
                    for suffix in aggregation_suffixes(family, (v,)):  # none: first order
                        out.values.setdefault(f"{name}_{key}_{suffix}", float(values[k]))
    return out


@functools.lru_cache(maxsize=512)
def _columns_of(name: str, plan: tuple[tuple[str, str, int], ...]
                ) -> tuple[tuple[str, ...], np.ndarray]:
    """The columns of image ``name``'s computed features in ``plan`` and their positions in
    :data:`LAYOUT` (made once per image name and plan, not once per case)."""
    kept = [(f"{name}_{key}", k) for _, key, k in plan if key not in DEPRECATED]
    return tuple(c for c, _ in kept), np.array([k for _, k in kept], dtype=np.int64)


def _column_plan(texture: list[str], classes: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    """(family, ``family_feature``, index in :data:`LAYOUT`; -1 for a deprecated one) of
    every enabled texture feature, in PyRadiomics' column order."""
    plan = []
    for family, start, _ in LAYOUT:
        if family not in texture:
            continue
        names = NATIVE_NAMES[family]
        wanted = classes[family] or [f for f in names if f != "StandardDeviation"]
        plan += [(family, f"{family}_{f}", -1 if f"{family}_{f}" in DEPRECATED
                  else start + names.index(f)) for f in wanted]
    return tuple(plan)
