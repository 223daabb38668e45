"""Preprocessing: hand-computed grids and values, and naive second implementations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from thyromics.errors import CaseError, InputError
from thyromics.io import Image
from thyromics.preprocess import (crop_to_mask, normalize_intensity, peritumoral_ring, resample,
                                  resample_mask, split_lesions)


def _row(values, spacing=(1.0, 1.0), origin=(0.0, 0.0), dtype=np.float64) -> Image:
    """A 2D image of one row (y = 1) so interpolation is 1D along x."""
    return Image(np.array([values], dtype), spacing, origin)


# ------------------------------------------------------------------ resample

def test_resample_upsample_ramp_hand_computed() -> None:
    # x centres 0..3, values 10 x. New spacing 0.5: n' = ceil(4 / 0.5) = 8; grid centred:
    # origin shift (1*3 - 0.5*7)/2 = -0.25 -> centres -0.25, 0.25, ..., 3.25; the two
    # outside the old grid take the nearest old value.
    out = resample(_row([0, 10, 20, 30]), (0.5, 1.0))
    assert out.size == (8, 1) and out.spacing == (0.5, 1.0)
    assert out.origin == pytest.approx((-0.25, 0.0))
    np.testing.assert_allclose(out.array[0], [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30], atol=1e-9)
    assert out.array.dtype == np.float64


def test_resample_downsample_3d_hand_computed() -> None:
    arr = np.broadcast_to(np.arange(4, dtype=np.int16) * 10, (4, 4, 4)).copy()  # value 10 x
    out = resample(Image(arr, (1.0, 1.0, 1.0)), 2.0)
    # n' = 2, shift (3 - 2)/2 = 0.5 -> x centres 0.5 and 2.5 -> 5 and 25 (no int truncation)
    assert out.size == (2, 2, 2) and out.origin == pytest.approx((0.5, 0.5, 0.5))
    np.testing.assert_allclose(out.array, np.broadcast_to([5.0, 25.0], (2, 2, 2)))


def _centre(img: Image) -> np.ndarray:
    s = img.to_sitk()
    return np.array(s.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in img.size]))


def test_resample_keeps_grid_centre_with_direction() -> None:
    d = (0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # rotated axes
    img = Image(np.zeros((5, 7, 9), np.float32), (0.7, 0.8, 2.5), (10.0, -4.0, 30.0), d)
    out = resample(img, (1.0, 1.0, 1.0))
    assert out.size == (7, 6, 13)  # ceil(9*.7), ceil(7*.8), ceil(5*2.5)
    assert out.direction == d
    np.testing.assert_allclose(_centre(out), _centre(img), atol=1e-9)


def test_resample_nearest_keeps_type_and_bspline_constant() -> None:
    img = Image(np.full((3, 4, 5), 7, np.int16), (1.0, 1.0, 1.0))
    near = resample(img, 0.5, interpolator="nearest")
    assert near.array.dtype == np.int16 and np.all(near.array == 7)
    np.testing.assert_allclose(resample(img, 0.7, interpolator="bspline").array, 7.0, atol=1e-9)


def test_resample_bad_arguments() -> None:
    img = _row([1, 2])
    with pytest.raises(InputError, match="Did you mean 'linear'"):
        resample(img, 1.0, interpolator="lineer")
    with pytest.raises(InputError, match="positive"):
        resample(img, (1.0, -1.0))
    with pytest.raises(InputError, match="2 positive numbers"):
        resample(img, (1.0, 1.0, 1.0))


# ------------------------------------------------------------------ resample_mask

def test_resample_mask_linear_threshold_hand_computed() -> None:
    # values at centres 0..3: 0 1 1 0; new centres -0.25 .. 3.25 step 0.5
    # interpolated: 0, .25, .75, 1, 1, .75, .25, 0  -> >= 0.5: 0 0 1 1 1 1 0 0
    out = resample_mask(_row([0, 1, 1, 0], dtype=np.uint8), (0.5, 1.0))
    assert out.array.dtype == np.uint8
    np.testing.assert_array_equal(out.array[0], [0, 0, 1, 1, 1, 1, 0, 0])
    near = resample_mask(_row([0, 1, 1, 0], dtype=np.uint8), (0.5, 1.0), method="nearest")
    np.testing.assert_array_equal(near.array[0].sum(), 4)


def test_resample_mask_onto_reference_grid() -> None:
    mask = _row([0, 1, 0, 1], dtype=np.uint8)
    ref = _row([5, 5, 5, 5], origin=(1.0, 0.0))  # shifted by one voxel
    out = resample_mask(mask, ref)
    # ref centres x = 1, 2, 3, 4; x = 4 lies outside the mask: background, not extended
    np.testing.assert_array_equal(out.array[0], [1, 0, 1, 0])
    assert (out.size, out.origin, out.spacing) == (ref.size, ref.origin, ref.spacing)
    # finer reference: centres 0, .4, ..., 2.8 -> interpolated 0, .4, .8, 1, 1, 1, .6, .2
    out2 = resample_mask(_row([0, 255, 255, 0], dtype=np.uint8), _row([0] * 8, spacing=(0.4, 1.0)))
    np.testing.assert_array_equal(out2.array[0], [0, 0, 1, 1, 1, 1, 1, 0])


# ------------------------------------------------------------------ crop

def test_crop_to_mask_margins_and_clipping() -> None:
    arr = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    m = np.zeros_like(arr, dtype=np.uint8)
    m[1:3, 2:4, 5] = 1  # z 1-2, y 2-3, x 5
    d = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    img = Image(arr, (0.5, 0.5, 2.0), (3.0, 4.0, 5.0), d)
    mask = img.with_array(m)
    ci, cm = crop_to_mask(img, mask)
    np.testing.assert_array_equal(ci.array, arr[1:3, 2:4, 5:6])
    np.testing.assert_array_equal(cm.array, 1)
    ci, cm = crop_to_mask(img, mask, margin_vox=1)  # x clipped at 7
    np.testing.assert_array_equal(ci.array, arr[0:4, 1:5, 4:7])
    ci, cm = crop_to_mask(img, mask, margin_mm=1.0)  # x, y: 2 voxels; z: ceil(1/2) = 1
    np.testing.assert_array_equal(ci.array, arr[0:4, 0:6, 3:7])
    assert cm.array.sum() == m.sum()
    # the first kept voxel keeps its physical position (SimpleITK as the reference)
    expected = img.to_sitk().TransformIndexToPhysicalPoint((3, 0, 0))
    np.testing.assert_allclose(ci.origin, expected, atol=1e-12)
    assert ci.spacing == img.spacing and ci.direction == d


def test_crop_errors() -> None:
    img = Image(np.zeros((3, 3)), (1.0, 1.0))
    with pytest.raises(CaseError, match="empty"):
        crop_to_mask(img, img.with_array(np.zeros((3, 3), np.uint8)))
    with pytest.raises(InputError, match="not both"):
        crop_to_mask(img, img, margin_mm=1, margin_vox=1)
    with pytest.raises(InputError, match="differ"):
        crop_to_mask(img, Image(np.ones((3, 4)), (1.0, 1.0)))


# ------------------------------------------------------------------ lesions

def test_split_lesions_hand_made() -> None:
    m = np.zeros((6, 6), np.uint8)
    m[0, 0] = m[1, 1] = 1          # diagonal pair: one lesion (full), two (face)
    m[3:5, 3] = 1
    m[4, 4] = 1                    # 3-voxel L
    m[0, 5] = 1                    # speck
    mask = Image(m, (0.5, 0.5))
    full = split_lesions(mask)
    assert [int(c.array.sum()) for c in full] == [3, 2, 1]
    assert full[0].array[4, 4] == 1 and full[1].array[1, 1] == 1 and full[2].array[0, 5] == 1
    np.testing.assert_array_equal(sum(c.array for c in full), m)
    assert full[0].spacing == (0.5, 0.5) and full[0].array.dtype == np.uint8
    assert [int(c.array.sum()) for c in split_lesions(mask, connectivity="face")] == [3, 1, 1, 1]
    assert [int(c.array.sum()) for c in split_lesions(mask, min_voxels=2)] == [3, 2]
    assert split_lesions(mask.with_array(np.zeros_like(m))) == []
    with pytest.raises(InputError, match="connectivity"):
        split_lesions(mask, connectivity="edge")


def test_split_lesions_3d_corner_touch() -> None:
    m = np.zeros((3, 3, 3), np.uint8)
    m[0, 0, 0] = m[1, 1, 1] = 1
    assert len(split_lesions(Image(m, (1.0, 1.0, 1.0)))) == 1
    assert len(split_lesions(Image(m, (1.0, 1.0, 1.0)), connectivity="face")) == 2


def test_peritumoral_ring_hand_computed() -> None:
    m = np.zeros((5, 5), np.uint8)
    m[2, 2] = 1
    assert peritumoral_ring(Image(m, (1.0, 1.0)), 1.0).array.sum() == 4    # faces
    assert peritumoral_ring(Image(m, (1.0, 1.0)), 1.5).array.sum() == 8    # + diagonals (1.414)
    # x spacing 1 mm, y spacing 2 mm: within 1.5 mm only the two x neighbours
    ring = peritumoral_ring(Image(m, (1.0, 2.0)), 1.5).array
    assert ring.sum() == 2 and ring[2, 1] == ring[2, 3] == 1 and ring[2, 2] == 0


def test_peritumoral_ring_against_brute_force() -> None:
    rng = np.random.default_rng(7)
    m = (rng.random((4, 6, 7)) > 0.9).astype(np.uint8)
    spacing = (0.8, 1.1, 2.0)  # x, y, z
    ring = peritumoral_ring(Image(m, spacing), 2.3).array
    inside = np.argwhere(m) * np.array(spacing[::-1])
    expected = np.zeros_like(m)
    for idx in itertools.product(*map(range, m.shape)):
        if m[idx]:
            continue
        d = np.sqrt((((np.array(idx) * np.array(spacing[::-1])) - inside) ** 2).sum(1)).min()
        expected[idx] = d <= 2.3
    np.testing.assert_array_equal(ring, expected)


# ------------------------------------------------------------------ intensity

def test_normalize_intensity() -> None:
    img = _row([-1100, -1000, -300, 400, 900])
    np.testing.assert_allclose(normalize_intensity(img, (-1000, 400)).array[0],
                               [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(normalize_intensity(_row([2, 4, 6])).array[0], [0, 0.5, 1])
    np.testing.assert_array_equal(normalize_intensity(_row([3, 3])).array, 0)
    with pytest.raises(InputError, match="lo < hi"):
        normalize_intensity(img, (5, 5))


def test_crop_origin_maps_back_to_the_original_index() -> None:
    img = Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), (1.0, 2.0, 3.0), (1.0, 1.0, 1.0))
    m = np.zeros((2, 3, 4), np.uint8)
    m[1, 1, 2] = 1
    ci, _ = crop_to_mask(img, img.with_array(m))
    idx = img.to_sitk().TransformPhysicalPointToIndex(ci.origin)
    assert tuple(idx) == (2, 1, 1) and ci.array[0, 0, 0] == img.array[1, 1, 2]
