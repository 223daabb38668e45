"""Feature-map engine: checked against PyRadiomics' voxel-based extraction (the oracle)
and against a naive numpy implementation; geometry and errors."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import SimpleITK as sitk

from thyromics.errors import CaseError
from thyromics.features.maps import (MapSettings, compute_feature_maps, discretise,
                                     generate_angles, write_feature_maps)
from thyromics.io.image import Image

CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _volume(seed: int = 0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(100, 40, (12, 12, 12)).round(1)
    m = np.zeros(arr.shape, np.uint8)
    m[3:9, 3:9, 3:9] = 1
    m[2, 4, 4] = 1  # one protruding voxel: kernels that see little of the lesion
    sp = (0.8, 0.9, 1.5)
    return Image(arr, sp, origin=(10.0, -5.0, 3.0)), Image(m, sp, origin=(10.0, -5.0, 3.0))


def _pyradiomics_maps(img: Image, mask: Image, s: MapSettings,
                      classes: tuple[str, ...] = CLASSES) -> dict[str, np.ndarray]:
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.CRITICAL)
    ex = featureextractor.RadiomicsFeatureExtractor(**s.to_pyradiomics())
    ex.disableAllFeatures()
    for c in classes:
        ex.enableFeatureClassByName(c)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-empty GLRLM angles
        res = ex.execute(img.to_sitk(), mask.to_sitk(), voxelBased=True)
    ref = img.to_sitk()
    out = {}
    for k, v in res.items():
        if not isinstance(v, sitk.Image):
            continue
        a = sitk.GetArrayFromImage(v)
        origin = ref.TransformIndexToPhysicalPoint((0,) * ref.GetDimension())
        idx = v.TransformPhysicalPointToIndex(origin)
        o = [-i for i in idx][::-1]
        full = np.full(img.array.shape, np.nan)
        full[tuple(slice(c, c + n) for c, n in zip(o, a.shape))] = a
        out[k.replace("original_", "")] = full
    return out


def _assert_maps_equal(ours, theirs: dict, roi: np.ndarray, init_value: float) -> None:
    for name, ref in theirs.items():
        got = ours.maps[name][roi]
        exp = ref[roi]
        if name == "glcm_MCC" and np.all(exp == 0):
            # PyRadiomics fails on a batch where a kernel has an angle without pairs
            # (LinAlgError on NaN) and leaves initValue; ours averages the valid angles.
            assert np.all(((got >= 0) & (got <= 1)) | np.isnan(got))
            continue
        # NaN where PyRadiomics gives NaN (e.g. GLRLM of a kernel whose every angle is empty)
        np.testing.assert_allclose(got, exp, rtol=1e-6, atol=1e-10, err_msg=name)
        # and the init value outside the ROI
        assert np.all(ours.maps[name][~roi] == init_value)


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
    _assert_maps_equal(ours, theirs, roi, s.init_value)


def _sparse_volume(seed: int = 5):
    """Few grey levels (long runs, large zones) and a ragged mask with holes: runs broken
    by non-ROI voxels, kernels where some angle has only one-voxel lines."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 4, (11, 10, 12)).astype(float) * 10
    arr[:, :, ::3] = 5
    m = (rng.random(arr.shape) < 0.55).astype(np.uint8)
    m[0] = 0
    return Image(arr, (1.0, 1.0, 1.0)), Image(m, (1.0, 1.0, 1.0))


def _image_2d(seed: int = 6):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 5, (15, 17)).astype(float) * 7
    m = (rng.random(arr.shape) < 0.7).astype(np.uint8)
    return Image(arr, (0.7, 0.6)), Image(m, (0.7, 0.6))


@pytest.mark.parametrize("case,kw", [
    ("sparse", dict(bin_width=10.0)),
    ("sparse", dict(bin_width=10.0, kernel_radius=2, masked_kernel=False)),
    ("sparse", dict(bin_width=None, bin_count=3, kernel_radius=2)),
    ("sparse", dict(bin_width=10.0, force2d=True, force2d_dimension=1)),
    ("2d", dict(bin_width=7.0)),
    ("2d", dict(bin_width=7.0, kernel_radius=2, masked_kernel=False)),
    ("2d", dict(bin_width=None, bin_count=4)),
], ids=["sparse", "sparse_r2_unmasked", "sparse_bincount_r2", "sparse_force2d_y", "2d",
        "2d_r2_unmasked", "2d_bincount"])
def test_glrlm_glszm_match_pyradiomics(case, kw):
    """GLRLM / GLSZM on ragged masks (3D and a true 2D image) against PyRadiomics."""
    img, mask = _sparse_volume() if case == "sparse" else _image_2d()
    classes = ("glrlm", "glszm")
    s = MapSettings(features=classes, **kw)
    ours = compute_feature_maps(img, mask, s)
    theirs = _pyradiomics_maps(img, mask, s, classes)
    assert set(theirs) == set(ours.names)
    assert len(theirs) == 32
    _assert_maps_equal(ours, theirs, mask.array > 0, s.init_value)


def _run_stats(runs):
    """ShortRunEmphasis, RunPercentage, LongRunEmphasis of one angle's runs [(level, length)]."""
    nr = len(runs)
    return (sum(1 / j ** 2 for _, j in runs) / nr, nr / sum(j for _, j in runs),
            sum(j ** 2 for _, j in runs) / nr)


def test_glrlm_hand_counted_runs():
    """3x3 image, bin width 1, the centre kernel sees all of it; runs counted by hand for
    the 4 angles of 2D (numpy (row, col) offsets)."""
    arr = np.array([[1.0, 1, 2], [1, 2, 2], [3, 3, 3]])
    m = np.ones(arr.shape, np.uint8)
    feats = ("glrlm_ShortRunEmphasis", "glrlm_RunPercentage", "glrlm_LongRunEmphasis",
             "glrlm_GrayLevelNonUniformity")
    fm = compute_feature_maps(Image(arr, (1, 1)), Image(m, (1, 1)),
                              MapSettings(bin_width=1.0, features=feats))
    runs = {
        (0, 1): [(1, 2), (2, 1), (1, 1), (2, 2), (3, 3)],                # rows
        (1, 0): [(1, 2), (3, 1), (1, 1), (2, 1), (3, 1), (2, 2), (3, 1)],  # columns
        (1, 1): [(1, 1), (2, 1), (3, 1), (1, 1), (2, 1), (2, 1), (1, 1), (3, 1), (3, 1)],
        (1, -1): [(1, 1), (1, 2), (2, 2), (3, 1), (2, 1), (3, 1), (3, 1)],
    }
    per_angle = np.array([_run_stats(r) for r in runs.values()])
    sre, rp, lre = per_angle.mean(axis=0)
    assert fm.maps["glrlm_ShortRunEmphasis"][1, 1] == pytest.approx(sre, rel=1e-12)
    assert fm.maps["glrlm_RunPercentage"][1, 1] == pytest.approx(rp, rel=1e-12)
    assert fm.maps["glrlm_LongRunEmphasis"][1, 1] == pytest.approx(lre, rel=1e-12)
    gln = np.mean([sum(sum(1 for g, _ in r if g == lv) ** 2 for lv in (1, 2, 3)) / len(r)
                   for r in runs.values()])
    assert fm.maps["glrlm_GrayLevelNonUniformity"][1, 1] == pytest.approx(gln, rel=1e-12)
    # corner voxel: its 2x2 kernel [[1, 1], [1, 2]]
    corner = {(0, 1): [(1, 2), (1, 1), (2, 1)], (1, 0): [(1, 2), (1, 1), (2, 1)],
              (1, 1): [(1, 1), (2, 1), (1, 1), (1, 1)], (1, -1): [(1, 1), (1, 2), (2, 1)]}
    sre_c = np.mean([_run_stats(r)[0] for r in corner.values()])
    assert fm.maps["glrlm_ShortRunEmphasis"][0, 0] == pytest.approx(sre_c, rel=1e-12)


def test_glrlm_angle_with_only_single_voxel_lines_is_dropped():
    """Masked kernel whose ROI voxels lie on one diagonal: rows, columns and the other
    diagonal hold one ROI voxel per line, so (as in PyRadiomics) those angles are empty and
    only the diagonal's runs [level 1 x 2, level 2 x 1] count: SRE = (1/4 + 1) / 2."""
    arr = np.array([[1.0, 5, 5], [5, 1, 5], [5, 5, 2]])
    m = np.eye(3, dtype=np.uint8)
    fm = compute_feature_maps(Image(arr, (1, 1)), Image(m, (1, 1)),
                              MapSettings(bin_width=1.0, features=("glrlm",)))
    assert fm.maps["glrlm_ShortRunEmphasis"][1, 1] == pytest.approx((1 / 4 + 1) / 2, rel=1e-12)
    assert fm.maps["glrlm_RunPercentage"][1, 1] == pytest.approx(2 / 3, rel=1e-12)
    assert fm.maps["glrlm_RunEntropy"][1, 1] == pytest.approx(1.0, rel=1e-12)


def test_glszm_hand_counted_zones():
    """Zones are 8-connected in 2D: level 1 on the diagonal is one zone of 3, level 2 (linked
    through a corner) one zone of 4, level 3 one zone of 2."""
    arr = np.array([[1.0, 2, 2], [2, 1, 2], [3, 3, 1]])
    m = np.ones(arr.shape, np.uint8)
    fm = compute_feature_maps(Image(arr, (1, 1)), Image(m, (1, 1)),
                              MapSettings(bin_width=1.0, features=("glszm",)))
    sizes = [3, 4, 2]
    assert fm.maps["glszm_SmallAreaEmphasis"][1, 1] == pytest.approx(
        sum(1 / s ** 2 for s in sizes) / 3, rel=1e-12)
    assert fm.maps["glszm_LargeAreaEmphasis"][1, 1] == pytest.approx(29 / 3, rel=1e-12)
    assert fm.maps["glszm_ZonePercentage"][1, 1] == pytest.approx(3 / 9, rel=1e-12)
    assert fm.maps["glszm_GrayLevelVariance"][1, 1] == pytest.approx(2 / 3, rel=1e-12)
    assert fm.maps["glszm_ZoneEntropy"][1, 1] == pytest.approx(np.log2(3), rel=1e-12)
    # 3D: 26-connectivity joins two level-1 voxels that touch at a corner
    a3 = np.full((2, 2, 2), 2.0)
    a3[0, 0, 0] = a3[1, 1, 1] = 1.0
    fm3 = compute_feature_maps(Image(a3, (1, 1, 1)), Image(np.ones((2, 2, 2), np.uint8), (1, 1, 1)),
                               MapSettings(bin_width=1.0, features=("glszm_SmallAreaEmphasis",)))
    assert fm3.maps["glszm_SmallAreaEmphasis"][0, 0, 0] == pytest.approx((1 / 4 + 1 / 36) / 2)


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


def test_glcm_maps_without_mcc_are_the_same():
    """MCC (one eigen-solve per voxel and angle) is computed only when it is asked for;
    the other GLCM maps do not depend on it."""
    rng = np.random.default_rng(4)
    arr = rng.normal(100.0, 40.0, (7, 9, 9))
    mask = np.zeros(arr.shape, np.uint8)
    mask[1:6, 2:8, 2:8] = 1
    img, m = Image(arr, (1.0, 1.0, 1.0)), Image(mask, (1.0, 1.0, 1.0))
    every = compute_feature_maps(img, m, MapSettings(bin_width=25.0, features=("glcm",)))
    some = compute_feature_maps(img, m, MapSettings(
        bin_width=25.0, features=("glcm_Contrast", "glcm_Idmn", "glcm_JointAverage")))
    assert some.names == ("glcm_Contrast", "glcm_Idmn", "glcm_JointAverage")
    assert np.isfinite(every.maps["glcm_MCC"][every.roi]).all()
    for name in some.names:
        assert np.array_equal(some.maps[name], every.maps[name]), name
