"""The native engine's ``ibsi`` convention: IBSI 1 definitions where PyRadiomics differs.

Tiers: hand-computed bins on tiny arrays; independent oracles (scipy's excess kurtosis,
numpy's sample covariance, PyRadiomics itself for the merged and per-slice texture
variants, whose matrices PyRadiomics builds with ``weightingNorm="no_weighting"`` or on one
slice); the settings' refusals. The IBSI reference values themselves (digital phantom, CT
phantom configurations A-E) are asserted in ``test_features_ibsi.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from thyromics.errors import InputError
from thyromics.features._prepare import prepare
from thyromics.features.engine import expected_columns, extract_features
from thyromics.features.native._ibsi import ibsi_bin_levels, outlier_filter
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image

IBSI = dict(engine="native", convention="ibsi")
SP = (0.8, 0.9, 2.0)


def _case(seed: int = 0, shape: tuple[int, int, int] = (6, 14, 13), levels: int = 6
          ) -> tuple[Image, Image]:
    """Integer grey levels 0..levels-1 in a ragged lesion of a volume."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, levels, shape).astype(np.float64)
    m = np.zeros(shape, np.uint8)
    m[1:-1, 2:-2, 2:-2] = rng.random((shape[0] - 2, shape[1] - 4, shape[2] - 4)) < 0.8
    return Image(arr, SP), Image(m, SP)


# ------------------------------------------------------------------ settings
def test_ibsi_convention_needs_the_native_engine() -> None:
    s = ExtractionSettings(convention="ibsi")  # the native engine is the default
    assert s.engine == "native"
    with pytest.raises(InputError, match="engine='native'"):
        s.replace(engine="pyradiomics")
    with pytest.raises(ValidationError, match="convention='ibsi' needs engine='native'"):
        ExtractionSettings(engine="pyradiomics", convention="ibsi")


@pytest.mark.parametrize("changes", [
    dict(resegment_outlier_sd=3.0),  # PyRadiomics' convention: one resegmentation mode
    dict(**IBSI, resegment_range=(-3.0, 3.0), resegment_mode="sigma", resegment_outlier_sd=3.0),
    dict(texture_aggregations=("3D_comb",)),
])
def test_ibsi_only_settings_are_refused_elsewhere(changes: dict) -> None:
    with pytest.raises(InputError, match="convention='ibsi'"):
        ExtractionSettings().replace(**changes)


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(InputError, match="texture_aggregations"):
        ExtractionSettings().replace(**IBSI, texture_aggregations=("3D_merged",))


# ------------------------------------------------------------------ discretisation (by hand)
def test_fixed_bin_size_starts_at_the_range_lower_bound() -> None:
    x = np.array([-500.0, -475.0, -476.0, 399.0, 400.0])
    # floor((x + 500) / 25) + 1
    assert ibsi_bin_levels(x, {"binWidth": 25.0}, -500.0).tolist() == [1, 2, 1, 36, 37]
    # -939 HU with the range starting at -1000: bin floor(61 / 25) + 1 = 3 (PyRadiomics: 1,
    # its first edge is -939 floored to a multiple of 25, -950)
    assert ibsi_bin_levels(np.array([-939.0, -900.0]), {"binWidth": 25.0}, -1000.0).tolist() == [3, 5]


def test_fixed_bin_size_without_range_starts_at_the_roi_minimum() -> None:
    assert ibsi_bin_levels(np.array([3.0, 4.5, 7.0]), {"binWidth": 2.0}, None).tolist() == [1, 1, 3]


def test_fixed_bin_number() -> None:
    # floor(4 (x - 0) / (4 - 0)) + 1, the maximum in bin 4
    assert ibsi_bin_levels(np.arange(5.0), {"binCount": 4}, None).tolist() == [1, 2, 3, 4, 4]
    assert ibsi_bin_levels(np.full(3, 7.0), {"binCount": 4}, None).tolist() == [1, 1, 1]


def test_outlier_filter_by_hand() -> None:
    arr = np.array([0.0] * 19 + [100.0])  # mean 5, SD sqrt(500 - 25) = 21.8: 100 > 70.4
    roi = np.ones(20, bool)
    assert outlier_filter(arr, roi, 3.0).tolist() == [True] * 19 + [False]
    with pytest.raises(ValueError, match="outlier filtering"):
        outlier_filter(np.array([0.0, 10.0]), np.ones(2, bool), 0.5)


def test_range_then_outliers_in_the_engine() -> None:
    image, mask = _case(levels=4)
    arr = image.array.copy()
    arr[mask.array == 1] += 10.0
    inside = np.flatnonzero(mask.array == 1)
    arr.flat[inside[0]] = 900.0  # beyond mean + 3 SD of the lesion
    arr.flat[inside[1]] = -50.0  # below the range
    image = image.with_array(arr)
    s = ExtractionSettings(**IBSI, bin_width=1.0, resegment_range=(0.0, 1000.0),
                           resegment_outlier_sd=3.0, feature_classes=("firstorder",))
    res = extract_features(image, mask, s)
    assert res.diagnostics["thyromics_roi_voxels"] == len(inside) - 2
    assert res.values["original_firstorder_Maximum"] == 13.0
    assert res.values["original_firstorder_Minimum"] == 10.0


# ------------------------------------------------------------------ oracles
def test_excess_kurtosis_is_scipys() -> None:
    from scipy.stats import kurtosis

    image, mask = _case(3, levels=40)
    x = image.array[mask.array == 1]
    base = dict(bin_width=5.0, feature_classes=("firstorder",))
    ibsi = extract_features(image, mask, ExtractionSettings(**base, **IBSI))
    pyr = extract_features(image, mask, ExtractionSettings(**base))
    assert ibsi.values["original_firstorder_Kurtosis"] == pytest.approx(
        kurtosis(x, fisher=True, bias=True), rel=1e-12)
    assert pyr.values["original_firstorder_Kurtosis"] == pytest.approx(
        kurtosis(x, fisher=False, bias=True), rel=1e-12)


def test_pca_axes_from_the_sample_covariance() -> None:
    image, mask = _case(4)
    z, y, x = np.nonzero(mask.array)
    mm = np.c_[x * SP[0], y * SP[1], z * SP[2]]
    s = dict(bin_width=1.0, feature_classes=("shape",))
    for convention, ddof in (("ibsi", 1), ("pyradiomics", 0)):
        res = extract_features(image, mask, ExtractionSettings(**s, convention=convention))
        lam = np.sort(np.linalg.eigvalsh(np.cov(mm.T, ddof=ddof)))
        assert res.values["original_shape_MajorAxisLength"] == pytest.approx(4 * np.sqrt(lam[2]))
        assert res.values["original_shape_MinorAxisLength"] == pytest.approx(4 * np.sqrt(lam[1]))
        assert res.values["original_shape_LeastAxisLength"] == pytest.approx(4 * np.sqrt(lam[0]))


def test_ibsi_resampling_grid_rounds_integer_valued_images() -> None:
    image, mask = _case(5, shape=(8, 16, 15), levels=300)
    s = ExtractionSettings(**IBSI, bin_width=25.0, resampled_pixel_spacing=(1.3, 1.3, 1.3),
                           interpolator="sitkLinear")
    prep = prepare(image, mask, s)
    assert prep.grid == "ibsi"
    assert np.array_equal(prep.image.array, np.round(prep.image.array))
    # IBSI: the new grid's centre is the old grid's centre
    old = np.asarray(image.origin) + (np.asarray(image.size) - 1) * np.asarray(image.spacing) / 2
    new = (np.asarray(prep.image.origin)
           + (np.asarray(prep.image.size) - 1) * np.asarray(prep.image.spacing) / 2)
    assert np.allclose(old, new)
    assert prepare(image, mask, s.replace(convention="pyradiomics")).grid == "pyradiomics"


_TEXTURE = ("glcm", "glrlm")
# per-slice oracle: features that do not depend on where the grey levels start (PyRadiomics
# discretises each slice from its own minimum, the IBSI variant from the ROI's)
_SHIFT_FREE = {
    "glcm": ("Contrast", "JointEnergy", "JointEntropy", "DifferenceAverage", "DifferenceEntropy",
             "DifferenceVariance", "Id", "Idm", "InverseVariance", "MaximumProbability",
             "Correlation", "SumEntropy", "Imc1", "Imc2"),
    "glrlm": ("ShortRunEmphasis", "LongRunEmphasis", "RunLengthNonUniformity", "RunPercentage",
              "RunEntropy", "GrayLevelNonUniformity", "RunVariance"),
    "glszm": ("SmallAreaEmphasis", "LargeAreaEmphasis", "SizeZoneNonUniformity",
              "ZonePercentage", "ZoneEntropy", "GrayLevelNonUniformity", "ZoneVariance"),
    "gldm": ("SmallDependenceEmphasis", "LargeDependenceEmphasis", "DependenceNonUniformity",
             "DependenceEntropy", "DependenceVariance", "GrayLevelNonUniformity"),
    "ngtdm": ("Coarseness", "Contrast", "Strength"),
}


def _close(ours: float, ref: float, name: str) -> None:
    atol = 3e-8 if name.endswith("MCC") else 0.0
    assert ours == pytest.approx(ref, rel=1e-9, abs=atol), name


@pytest.mark.parametrize(("variant", "dimensionality"), [("3D_comb", "3d"), ("2_5D_comb", "2d")])
def test_merged_variants_are_pyradiomics_unweighted_merge(variant: str, dimensionality: str) -> None:
    image, mask = _case(6)
    base = dict(bin_width=1.0, feature_classes=_TEXTURE, min_roi_dimensions=1)
    ours = extract_features(image, mask, ExtractionSettings(
        **base, **IBSI, texture_aggregations=(variant,)))
    ref = extract_features(image, mask, ExtractionSettings(
        **base, engine="pyradiomics", dimensionality=dimensionality,
        weighting_norm="no_weighting"))
    compared = 0
    for col, v in ref.values.items():
        if np.isfinite(v):
            _close(ours.values[f"{col}_{variant}"], v, col)
            compared += 1
    assert compared >= 30


@pytest.mark.parametrize("variant", ["2D_avg", "2D_comb"])
def test_per_slice_variants_average_pyradiomics_slices(variant: str) -> None:
    image, mask = _case(7, shape=(5, 16, 15))
    classes = tuple(_SHIFT_FREE)
    ours = extract_features(image, mask, ExtractionSettings(
        bin_width=1.0, feature_classes=classes, **IBSI, texture_aggregations=(variant,)))
    weighting = "no_weighting" if variant == "2D_comb" else None
    per_slice = []
    for z in range(image.array.shape[0]):
        if mask.array[z].sum() < 2:
            continue
        img2 = Image(image.array[z], SP[:2])
        msk2 = Image(mask.array[z], SP[:2])
        per_slice.append(extract_features(img2, msk2, ExtractionSettings(
            bin_width=1.0, feature_classes=classes, engine="pyradiomics",
            weighting_norm=weighting)).values)
    assert len(per_slice) == 3
    for family, names in _SHIFT_FREE.items():
        suffix = variant if family in _TEXTURE else "2D"
        for f in names:
            ref = float(np.mean([r[f"original_{family}_{f}"] for r in per_slice]))
            _close(ours.values[f"original_{family}_{f}_{suffix}"], ref, f"{family}_{f}")


def test_variant_columns_are_expected_columns() -> None:
    image, mask = _case(8)
    s = ExtractionSettings(bin_width=1.0, **IBSI, texture_aggregations=("2D_avg", "3D_comb"),
                           feature_classes=("firstorder", "glcm", "glszm"))
    res = extract_features(image, mask, s)
    cols = expected_columns(s, 3)
    assert list(res.values) == cols
    assert "original_glcm_Contrast_2D_avg" in cols and "original_glcm_Contrast_3D_comb" in cols
    assert "original_glszm_ZoneEntropy_2D" in cols and "original_glszm_ZoneEntropy_3D" in cols
    assert not any(c.startswith("original_firstorder") and c.endswith(("_2D", "_3D_comb"))
                   for c in cols)


# ------------------------------------------------------------------ IBSI features PyRadiomics lacks
def test_moran_and_geary_equal_the_pairwise_sums() -> None:
    from thyromics.features.native._ibsi_features import _moran_geary

    rng = np.random.default_rng(9)
    arr = rng.normal(0, 10, (4, 6, 5))
    roi = rng.random(arr.shape) < 0.6
    sp = np.array([2.0, 0.7, 0.9])
    pos = np.argwhere(roi) * sp
    x = arr[roi]
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    w = np.divide(1.0, d, out=np.zeros_like(d), where=d > 0)
    a = x - x.mean()
    n = len(x)
    moran = n / w.sum() * (w * np.outer(a, a)).sum() / (a @ a)
    geary = (n - 1) / (2 * w.sum()) * (w * (x[:, None] - x[None]) ** 2).sum() / (a @ a)
    ours = _moran_geary(arr, roi, sp)
    assert ours == pytest.approx((moran, geary), rel=1e-9)


def test_intensity_peaks_equal_the_sphere_means() -> None:
    from thyromics.features.native._ibsi_features import _PEAK_RADIUS_MM, _peaks

    rng = np.random.default_rng(10)
    arr = rng.integers(0, 50, (6, 9, 8)).astype(np.float64)
    roi = np.zeros(arr.shape, bool)
    roi[1:5, 0:6, 2:7] = rng.random((4, 6, 5)) < 0.7  # touches the image's edge
    sp = np.array([3.0, 2.0, 2.5])
    grid = np.argwhere(np.ones(arr.shape, bool)) * sp
    values = arr.ravel()
    means = {}
    for idx in map(tuple, np.argwhere(roi)):
        near = np.linalg.norm(grid - np.array(idx) * sp, axis=1) <= _PEAK_RADIUS_MM
        means[idx] = values[near].mean()
    top = arr[roi].max()
    local = max(v for k, v in means.items() if arr[k] == top)
    assert _peaks(arr, roi, sp) == pytest.approx((local, max(means.values())), rel=1e-12)


def test_histogram_by_hand() -> None:
    from thyromics.features.native._ibsi_features import _histogram

    # levels 1 1 1 2 4: counts H = (3, 1, 0, 1); gradient (H2 - H1, (H3 - H1) / 2,
    # (H4 - H2) / 2, H4 - H3) = (-2, -1.5, 0, 1)
    h = _histogram(np.array([1, 1, 1, 2, 4]))
    assert h["Mean"] == 1.8 and h["Mode"] == 1.0 and h["Median"] == 1.0
    assert h["Range"] == 3.0 and h["MedianAbsoluteDeviation"] == pytest.approx(0.8)
    assert (h["MaximumGradient"], h["MaximumGradientGreyLevel"]) == (1.0, 4.0)
    assert (h["MinimumGradient"], h["MinimumGradientGreyLevel"]) == (-2.0, 1.0)
    # two modes (1 and 3, twice each): the one nearest the mean 2.4
    assert _histogram(np.array([1, 1, 3, 3, 4]))["Mode"] == 3.0


def test_dependence_count_energy_by_hand() -> None:
    from thyromics.features.native._ibsi_features import dependence_count_energy

    # one row 1 1 2 with left/right neighbours, alpha 0: dependences 1, 1, 0 ->
    # matrix cells (1, 1) twice and (2, 0) once: p = 2/3, 1/3
    disc = np.array([[[1, 1, 2]]])
    offsets = np.array([[0, 0, 1], [0, 0, -1]])
    assert dependence_count_energy(disc, offsets, 0) == pytest.approx(4 / 9 + 1 / 9)


@pytest.mark.parametrize("kind", ["3d", "2d", "log", "precrop", "negative"])
def test_ibsi_features_columns_on_every_kind_of_case(kind: str) -> None:
    image, mask = _case(11, levels=30)
    s = dict(**IBSI, bin_width=3.0, ibsi_features=True, texture_aggregations=("2D_comb",))
    if kind == "2d":
        image, mask = Image(image.array[3], SP[:2]), Image(mask.array[3], SP[:2])
    if kind == "log":
        s.update(log_sigmas=(1.0,))
    if kind == "precrop":
        s.update(pre_crop=True, pad_distance=1)
    if kind == "negative":  # mean near 0: the coefficient of variation is large, not an error
        image = image.with_array(image.array - 14.5)
    settings = ExtractionSettings(**s)
    res = extract_features(image, mask, settings)
    again = extract_features(image, mask, settings)
    assert list(res.values) == expected_columns(settings, image.ndim)
    extra = [c for c in res.values if "Histogram" in c or "MoransI" in c or "CountEnergy" in c]
    assert extra and all(np.isfinite(res.values[c]) for c in extra)
    assert res.values == again.values  # deterministic


def test_distance_zone_matrix_by_hand() -> None:
    from thyromics.features.native._gldzm import GLDZM_FEATURES, gldzm_values

    # one 5 x 5 slice of level 1 around a centre of level 2: in-plane steps to the edge are
    # 1 on the border ring and 3 at the centre, so zones (1, distance 1) and (2, distance 3)
    disc = np.ones((1, 5, 5), dtype=np.int64)
    disc[0, 2, 2] = 2
    morph = np.ones(disc.shape, bool)
    f = dict(zip(GLDZM_FEATURES, gldzm_values(disc, morph, "2_5D")))
    assert f["SmallDistanceEmphasis"] == pytest.approx((1 + 1 / 9) / 2)
    assert f["LargeDistanceEmphasis"] == pytest.approx(5.0)
    assert f["LowGrayLevelZoneEmphasis"] == pytest.approx(0.625)
    assert f["ZonePercentage"] == pytest.approx(2 / 25)
    assert f["ZoneDistanceVariance"] == pytest.approx(1.0)
    assert f["ZoneDistanceEntropy"] == pytest.approx(1.0)
    # in 3D every voxel of a single slice touches the edge (6-connected, above and below)
    f3 = dict(zip(GLDZM_FEATURES, gldzm_values(disc, morph, "3D")))
    assert f3["LargeDistanceEmphasis"] == pytest.approx(1.0)
    # 2D: per-slice features averaged; a second, uniform slice has one zone at distance 1
    two = np.concatenate([disc, np.ones_like(disc)])
    f2 = dict(zip(GLDZM_FEATURES, gldzm_values(two, np.ones(two.shape, bool), "2D")))
    assert f2["SmallDistanceEmphasis"] == pytest.approx(((1 + 1 / 9) / 2 + 1) / 2)
    assert f2["ZonePercentage"] == pytest.approx((2 / 25 + 1 / 25) / 2)
    # the distances come from the morphological mask: a voxel left out of the intensity
    # mask (0) does not make its neighbours edge voxels
    hole = disc.copy()
    hole[0, 1, 1] = 0
    assert dict(zip(GLDZM_FEATURES, gldzm_values(hole, morph, "2_5D")))[
        "LargeDistanceEmphasis"] == pytest.approx(5.0)
