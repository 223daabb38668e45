"""Lesion crops and patches, lesion selection, normalisation and augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need_module  # noqa: E402
need_module("torch")

from thyromics.deep._io import CASE_FAILURES, CaseRef, skip_reason  # noqa: E402
from thyromics.deep.data import (bounding_box, build_samples, crop_2d, patch_3d,  # noqa: E402
                                 select_lesions)
from thyromics.deep.settings import AugmentSettings, DataSettings  # noqa: E402
from thyromics.deep.transforms import build_augmentation, normalize  # noqa: E402
from thyromics.errors import CaseError, InputError  # noqa: E402
from thyromics.io.image import Image  # noqa: E402


def test_bounding_box_hand_example():
    m = np.zeros((10, 12), np.uint8)
    m[3:6, 4:9] = 1
    assert bounding_box(m) == (slice(3, 6), slice(4, 9))
    assert bounding_box(m, 2) == (slice(1, 8), slice(2, 11))
    assert bounding_box(m, 5) == (slice(0, 10), slice(0, 12))  # clipped to the array
    with pytest.raises(ValueError, match="empty"):
        bounding_box(np.zeros((3, 3)))


def test_normalize_window_and_minmax():
    a = np.array([[-1100.0, -1000.0], [-300.0, 500.0]])
    np.testing.assert_allclose(normalize(a, (-1000, 400)), [[0, 0], [0.5, 1]])
    np.testing.assert_allclose(normalize(np.array([2.0, 4.0, 6.0]), None), [0, 0.5, 1])
    assert normalize(np.full((2, 2), 7.0), None).max() == 0


def test_crop_2d_is_the_bounding_rectangle_plus_margin():
    arr = np.zeros((40, 50), np.float32)
    arr[10:20, 5:35] = np.arange(30, dtype=np.float32)[None, :]  # a ramp inside the lesion
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 5:35] = 1
    img, msk = crop_2d(Image(arr, (1.0, 1.0)), Image(mask, (1.0, 1.0)), DataSettings(size_2d=(10, 30)))
    # no margin and the same size: the crop is the rectangle itself, min-max scaled
    np.testing.assert_allclose(img, np.tile(np.arange(30) / 29.0, (10, 1)), atol=1e-6)
    assert msk.all()
    # a 2 mm margin at 0.5 mm pixels = 4 pixels each side; resized to 16 x 16
    img, msk = crop_2d(Image(arr, (0.5, 0.5)), Image(mask, (0.5, 0.5)),
                       DataSettings(size_2d=(16, 16), margin_mm=2.0))
    assert img.shape == msk.shape == (16, 16)
    assert img.min() >= 0 and img.max() <= 1
    # crop is 18 x 38 pixels, lesion rows 4..13 -> resized rows 3.6..12.4 of 16
    rows = np.nonzero(msk.any(axis=1))[0]
    assert rows.min() in (3, 4) and rows.max() in (11, 12)


def test_crop_2d_keep_aspect_pads_to_square():
    arr = np.random.default_rng(0).random((30, 30)).astype(np.float32)
    mask = np.zeros((30, 30), np.uint8)
    mask[10:14, 2:22] = 1  # 4 x 20
    _, msk = crop_2d(Image(arr, (1, 1)), Image(mask, (1, 1)), DataSettings(size_2d=(20, 20), keep_aspect=True))
    assert msk.sum() == 4 * 20  # square 20 x 20 crop: nothing stretched


def _sphere_volume(spacing=(0.7, 0.7, 2.5), shape=(20, 60, 70), centre_mm=(30.0, 20.0, 25.0), r_mm=4.0):
    """A sphere of radius r_mm at centre_mm (x, y, z in mm from the origin)."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    pts = (x * spacing[0], y * spacing[1], z * spacing[2])
    d2 = sum((p - c) ** 2 for p, c in zip(pts, centre_mm))
    mask = (d2 <= r_mm ** 2).astype(np.uint8)
    img = np.where(mask, 100.0, -800.0).astype(np.float32)
    return Image(img, spacing, origin=(-5.0, 3.0, 7.0)), Image(mask, spacing, origin=(-5.0, 3.0, 7.0))


def test_patch_3d_geometry_is_32x48x48_and_centred():
    image, mask = _sphere_volume()
    img, msk = patch_3d(image, mask, DataSettings(spatial_dims=3, window=(-1000, 400)))
    assert img.shape == msk.shape == (32, 48, 48)
    # the 4 mm sphere, resampled to 1 mm, has about 4/3 pi 4^3 = 268 voxels
    assert 150 < msk.sum() < 400
    centroid = np.array(np.nonzero(msk)).mean(axis=1)
    np.testing.assert_allclose(centroid, (16, 24, 24), atol=1.0)
    # intensities: lesion 100 HU -> (100 + 1000) / 1400; background -800 -> 200 / 1400
    assert img[msk > 0].max() == pytest.approx(1100 / 1400, abs=1e-4)
    assert img[0, 0, 0] == pytest.approx(200 / 1400, abs=1e-4) or img[0, 0, 0] == 0.0


def test_patch_3d_pads_lesions_at_the_border():
    image, mask = _sphere_volume(centre_mm=(3.0, 3.0, 6.0), r_mm=2.5)
    img, msk = patch_3d(image, mask, DataSettings(spatial_dims=3, window=(-1000, 400)))
    assert img.shape == (32, 48, 48) and msk.any()
    centroid = np.array(np.nonzero(msk)).mean(axis=1)
    np.testing.assert_allclose(centroid, (16, 24, 24), atol=1.5)
    assert img[0, 0, 0] == 0.0  # padded outside the volume


def _cases(n_patients=4, per_patient=(1, 3, 6, 2)):
    return [CaseRef(f"p{p}_l{i}", None, None, f"p{p}") for p in range(n_patients) for i in range(per_patient[p])]


def test_select_lesions_caps_per_patient_and_is_seeded():
    cases = _cases()
    kept = select_lesions(cases, 2, seed=3)
    counts = {}
    for c in kept:
        counts[c.patient_id] = counts.get(c.patient_id, 0) + 1
    assert counts == {"p0": 1, "p1": 2, "p2": 2, "p3": 2}
    assert [c.case_id for c in select_lesions(cases, 2, seed=3)] == [c.case_id for c in kept]
    # order of the manifest does not change the draw
    assert {c.case_id for c in select_lesions(cases[::-1], 2, seed=3)} == {c.case_id for c in kept}
    draws = {tuple(c.case_id for c in select_lesions(cases, 2, seed=s)) for s in range(10)}
    assert len(draws) > 1
    assert select_lesions(cases, None, 0) == cases


def test_build_samples_records_bad_cases(tmp_path):
    import SimpleITK as sitk

    good = np.zeros((20, 20), np.uint8)
    good[5:10, 5:12] = 255
    sitk.WriteImage(sitk.GetImageFromArray((np.arange(400).reshape(20, 20) % 255).astype(np.uint8)),
                    str(tmp_path / "img.png"))
    sitk.WriteImage(sitk.GetImageFromArray(good), str(tmp_path / "good.png"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((20, 20), np.uint8)), str(tmp_path / "empty.png"))
    cases = [CaseRef("ok", tmp_path / "img.png", tmp_path / "good.png", "a", 1.0),
             CaseRef("empty", tmp_path / "img.png", tmp_path / "empty.png", "b", 0.0),
             CaseRef("missing", tmp_path / "nope.png", tmp_path / "good.png", "c", 0.0),
             CaseRef("unlabelled", tmp_path / "img.png", tmp_path / "good.png", "d", None)]
    s = build_samples(cases, DataSettings(size_2d=(8, 8)), require_label=True)
    assert s.case_ids == ["ok"] and s.images.shape == (1, 1, 8, 8)
    reasons = dict(s.errors)
    assert set(reasons) == {"empty", "missing", "unlabelled"}
    assert "empty" in reasons["empty"] and "not found" in reasons["missing"]


def test_skip_reason_is_the_case_errors_own_reason_or_the_exception():
    # a CaseError's reason alone, without the "case 'x': " prefix of its message
    assert skip_reason(CaseError("the mask is empty", case_id="x")) == "the mask is empty"
    assert skip_reason(OSError("disk gone")) == "OSError: disk gone"
    assert skip_reason(InputError("bad spacing")) == "InputError: bad spacing"
    # a case skips on these; anything else (a bug: TypeError, KeyError ...) stops the batch
    assert all(isinstance(e, CASE_FAILURES) for e in (CaseError("m"), InputError("m"),
                                                      RuntimeError("m"), OSError("m")))
    assert not isinstance(TypeError("m"), CASE_FAILURES)


def test_augmentation_is_seeded_and_stays_in_range():
    x = np.random.default_rng(0).random((1, 24, 24)).astype(np.float32)
    aug = AugmentSettings(prob=1.0)
    a = np.asarray(build_augmentation(aug, (24, 24), seed=5)(x))
    b = np.asarray(build_augmentation(aug, (24, 24), seed=5)(x))
    c = np.asarray(build_augmentation(aug, (24, 24), seed=6)(x))
    assert a.shape == x.shape and np.array_equal(a, b) and not np.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1
    v = np.random.default_rng(1).random((1, 8, 12, 12)).astype(np.float32)
    assert np.asarray(build_augmentation(aug, (8, 12, 12), seed=1)(v)).shape == v.shape
    assert build_augmentation(AugmentSettings(enabled=False), (8, 8), 0) is None


def test_settings_validate():
    with pytest.raises(InputError, match="spatial_dims"):
        DataSettings(spatial_dims=4)
    with pytest.raises(InputError, match="window"):
        DataSettings(window=(5, 1))
    with pytest.raises(InputError, match="max_lesions_per_patient"):
        DataSettings(max_lesions_per_patient=0)


def test_resample_fills_outside_with_the_image_minimum():
    from thyromics.deep.data import resample_image

    img = Image(np.full((5, 7, 9), -800.0, np.float32), (0.7, 0.7, 2.5))
    out = resample_image(img, (1.0, 1.0, 1.0), is_mask=False)
    assert out.array.shape == (12, 5, 6)  # round(5 * 2.5), round(7 * 0.7), round(9 * 0.7)
    assert np.all(out.array == -800.0)


def test_crop_keeps_lesion_brightness_relative_to_the_image():
    """A uniform lesion must not become all zeros: normalisation is over the whole image."""
    base = np.full((20, 20), 40.0, np.float32)
    base[0, 0], base[-1, -1] = 0.0, 255.0
    mask = np.zeros((20, 20), np.uint8)
    mask[5:10, 5:10] = 1
    bright, dark = base.copy(), base.copy()
    bright[5:10, 5:10], dark[5:10, 5:10] = 220.0, 90.0
    s = DataSettings(size_2d=(10, 10))
    b, _ = crop_2d(Image(bright, (1, 1)), Image(mask, (1, 1)), s)
    d, _ = crop_2d(Image(dark, (1, 1)), Image(mask, (1, 1)), s)
    np.testing.assert_allclose(b, 220 / 255, atol=1e-6)
    np.testing.assert_allclose(d, 90 / 255, atol=1e-6)
