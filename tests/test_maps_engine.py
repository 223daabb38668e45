"""Feature-map engine: checked against PyRadiomics' voxel-based extraction (the oracle)
and against a naive numpy implementation; geometry and errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from thyromics.errors import CaseError
from thyromics.features.maps import (MapSettings, compute_feature_maps, discretise,
                                     generate_angles, write_feature_maps)
from thyromics.io.image import Image

CLASSES = ("firstorder", "glcm", "gldm", "ngtdm")


def _volume(seed: int = 0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(100, 40, (12, 12, 12)).round(1)
    m = np.zeros(arr.shape, np.uint8)
    m[3:9, 3:9, 3:9] = 1
    m[2, 4, 4] = 1  # one protruding voxel: kernels that see little of the lesion
    sp = (0.8, 0.9, 1.5)
    return Image(arr, sp, origin=(10.0, -5.0, 3.0)), Image(m, sp, origin=(10.0, -5.0, 3.0))


def _pyradiomics_maps(img: Image, mask: Image, s: MapSettings) -> dict[str, np.ndarray]:
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.CRITICAL)
    ex = featureextractor.RadiomicsFeatureExtractor(**s.to_pyradiomics())
    ex.disableAllFeatures()
    for c in CLASSES:
        ex.enableFeatureClassByName(c)
    res = ex.execute(img.to_sitk(), mask.to_sitk(), voxelBased=True)
    ref = img.to_sitk()
    out = {}
    for k, v in res.items():
        if not isinstance(v, sitk.Image):
            continue
        a = sitk.GetArrayFromImage(v)
        idx = v.TransformPhysicalPointToIndex(ref.TransformIndexToPhysicalPoint((0, 0, 0)))
        o = [-i for i in idx][::-1]
        full = np.full(img.array.shape, np.nan)
        full[o[0]:o[0] + a.shape[0], o[1]:o[1] + a.shape[1], o[2]:o[2] + a.shape[2]] = a
        out[k.replace("original_", "")] = full
    return out


@pytest.mark.parametrize("kw", [
    dict(bin_width=25.0),
    dict(bin_width=None, bin_count=16),
    dict(bin_width=10.0, masked_kernel=False),
    dict(bin_width=20.0, force2d=True),
    dict(bin_width=15.0, normalize=True, normalize_scale=100, bin_count=None),
    dict(bin_width=20.0, kernel_radius=2, distances=(1, 2), gldm_alpha=1),
], ids=["binwidth", "bincount", "unmasked", "force2d", "normalize", "r2_d12_alpha1"])
def test_matches_pyradiomics_voxel_based(kw):
    img, mask = _volume()
    s = MapSettings(features=CLASSES, **kw)
    ours = compute_feature_maps(img, mask, s)
    theirs = _pyradiomics_maps(img, mask, s)
    assert set(theirs) == set(ours.names)
    roi = mask.array > 0
    assert np.array_equal(ours.roi, roi)
    for name, ref in theirs.items():
        got = ours.maps[name][roi]
        exp = ref[roi]
        if name == "glcm_MCC" and np.all(exp == 0):
            # PyRadiomics fails on a batch where a kernel has an angle without pairs
            # (LinAlgError on NaN) and leaves initValue; ours averages the valid angles.
            assert np.all(((got >= 0) & (got <= 1)) | np.isnan(got))
            continue
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-10, err_msg=name)
        # and the init value outside the ROI
        assert np.all(ours.maps[name][~roi] == s.init_value)


def test_firstorder_against_naive_numpy():
    """Second oracle: plain numpy over each voxel's clipped, masked 3x3x3 box."""
    img, mask = _volume(3)
    fm = compute_feature_maps(img, mask, MapSettings(features=("firstorder",)))
    a, m = img.array, mask.array > 0
    for z, y, x in list(zip(*np.nonzero(m)))[::17]:
        sl = tuple(slice(max(c - 1, 0), c + 2) for c in (z, y, x))
        vals = a[sl][m[sl]]
        assert fm.maps["firstorder_Mean"][z, y, x] == pytest.approx(vals.mean(), rel=1e-12)
        assert fm.maps["firstorder_Median"][z, y, x] == pytest.approx(np.median(vals), rel=1e-12)
        assert fm.maps["firstorder_90Percentile"][z, y, x] == pytest.approx(
            np.percentile(vals, 90), rel=1e-12)
        assert fm.maps["firstorder_Variance"][z, y, x] == pytest.approx(vals.var(), rel=1e-10)
        assert fm.maps["firstorder_TotalEnergy"][z, y, x] == pytest.approx(
            (vals ** 2).sum() * 0.8 * 0.9 * 1.5, rel=1e-12)


def test_glcm_hand_computed_two_level_kernel():
    """A 1x1x3 line [1, 2, 2] (bin width 1): one angle (0,0,1) with pairs (1,2), (2,2);
    symmetric P = [[0, 1], [1, 2]] / 4 -> Contrast = 2 * 1/4 = 0.5, JointEnergy = 3/8."""
    arr = np.array([[[1.0, 2.0, 2.0]]])
    m = np.ones_like(arr, dtype=np.uint8)
    fm = compute_feature_maps(Image(arr, (1, 1, 1)), Image(m, (1, 1, 1)),
                              MapSettings(bin_width=1.0, features=("glcm_Contrast", "glcm_JointEnergy",
                                                                   "glcm_JointAverage")))
    # centre voxel sees the whole line
    assert fm.maps["glcm_Contrast"][0, 0, 1] == pytest.approx(0.5)
    assert fm.maps["glcm_JointEnergy"][0, 0, 1] == pytest.approx(1 / 16 + 1 / 16 + 4 / 16)
    assert fm.maps["glcm_JointAverage"][0, 0, 1] == pytest.approx((1 * 1 + 2 * 3) / 4)


def test_discretise_and_angles_follow_pyradiomics():
    from radiomics import cMatrices, imageoperations

    rng = np.random.default_rng(1)
    v = rng.normal(-300, 200, 500)
    for kw in (dict(binWidth=25), dict(binCount=32)):
        exp = np.digitize(v, imageoperations.getBinEdges(v, **kw))
        got = discretise(v, kw.get("binWidth"), kw.get("binCount"))
        assert np.array_equal(got, exp)
    for size, dist, f2d in [((5, 5, 5), (1,), -1), ((2, 5, 5), (1, 2), -1), ((5, 5, 5), (1,), 0)]:
        exp = cMatrices.generate_angles(np.array(size), np.array(dist), False, f2d >= 0, max(f2d, 0))
        got = generate_angles(size, dist, f2d)
        assert {tuple(r) for r in got} == {tuple(r) for r in exp}


def test_maps_written_with_input_geometry(tmp_path):
    img, mask = _volume()
    fm = compute_feature_maps(img, mask, MapSettings(features=("firstorder_Mean",), margin_mm=1.0))
    assert fm.roi.sum() > (mask.array > 0).sum()  # margin grew the ROI
    paths = write_feature_maps(fm, tmp_path, fmt="nrrd", prefix="c1_")
    back = sitk.ReadImage(str(paths["firstorder_Mean"]))
    assert back.GetSpacing() == pytest.approx(img.spacing)
    assert back.GetOrigin() == pytest.approx(img.origin)
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), fm.maps["firstorder_Mean"], rtol=1e-6)


def test_2d_image():
    rng = np.random.default_rng(2)
    arr = rng.integers(0, 200, (20, 20)).astype(float)
    m = np.zeros((20, 20), np.uint8)
    m[5:15, 6:14] = 1
    fm = compute_feature_maps(Image(arr, (1, 1)), Image(m, (1, 1)), MapSettings())
    assert fm.maps["glcm_Contrast"].shape == (20, 20)
    # centre voxel mean equals the 3x3 mean
    assert fm.maps["firstorder_Mean"][10, 10] == pytest.approx(arr[9:12, 9:12].mean())


def test_errors():
    img, mask = _volume()
    with pytest.raises(CaseError, match="no lesion voxels"):
        compute_feature_maps(img, mask.with_array(np.zeros_like(mask.array)), case_id="c9")
    with pytest.raises(KeyError, match="glcm_Contrast"):
        MapSettings(features=("glcm_Contrst",))
    with pytest.raises(ValueError):
        MapSettings(kernel_radius=0)
