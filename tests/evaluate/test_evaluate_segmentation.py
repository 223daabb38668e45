"""Dice, IoU and HD95 against hand values, a brute-force oracle and MONAI."""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.errors import InputError
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.segmentation import case_agreement, dice, hd95, iou, lesion_agreement
from conftest import need_module  # noqa: E402


def _surface_naive(m):
    """Foreground voxels with a face-neighbour outside the mask or outside the array."""
    m = np.asarray(m, bool)
    out = np.zeros_like(m)
    for idx in zip(*np.nonzero(m)):
        for ax in range(m.ndim):
            for step in (-1, 1):
                j = list(idx)
                j[ax] += step
                if j[ax] < 0 or j[ax] >= m.shape[ax] or not m[tuple(j)]:
                    out[idx] = True
    return out


def _hd95_naive(a, b, spacing):
    pa = np.argwhere(_surface_naive(a)) * np.asarray(spacing)
    pb = np.argwhere(_surface_naive(b)) * np.asarray(spacing)
    d = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1))
    return max(np.percentile(d.min(axis=1), 95), np.percentile(d.min(axis=0), 95))


def _random_pair(rng, shape):
    a = np.zeros(shape, bool)
    b = np.zeros(shape, bool)
    lo = [int(rng.integers(0, s // 3)) for s in shape]
    hi = [int(rng.integers(s // 2, s)) for s in shape]
    a[tuple(slice(l, h) for l, h in zip(lo, hi))] = True
    b[tuple(slice(l + 1, h + 1) for l, h in zip(lo, hi))] = True
    b |= rng.random(shape) > 0.97           # speckles far from the box
    return a, b


def test_dice_iou_hand():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[0, :2] = True          # 2 pixels
    b[0, 1:4] = True         # 3 pixels, overlap 1
    assert dice(a, b) == pytest.approx(2 * 1 / 5)
    assert iou(a, b) == pytest.approx(1 / 4)


def test_hd95_hand_two_points():
    a = np.zeros((1, 10), bool)
    b = np.zeros((1, 10), bool)
    a[0, 0] = True
    b[0, 6] = True
    assert hd95(a, b, spacing=(1.0, 0.5)) == pytest.approx(3.0)   # 6 voxels x 0.5 mm


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(9, 12), (5, 9, 8)])
def test_hd95_equals_brute_force(seed, shape):
    rng = np.random.default_rng(seed)
    a, b = _random_pair(rng, shape)
    spacing = tuple(rng.uniform(0.4, 3.0, len(shape)))
    assert hd95(a, b, spacing) == pytest.approx(_hd95_naive(a, b, spacing), rel=1e-12)


@pytest.mark.slow  # importing MONAI takes several seconds
@pytest.mark.parametrize("seed", range(3))
def test_hd95_equals_monai(seed):
    torch = need_module("torch")
    from monai.metrics import compute_hausdorff_distance

    rng = np.random.default_rng(10 + seed)
    a, b = _random_pair(rng, (8, 16, 14))
    spacing = (2.5, 0.74, 0.74)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = compute_hausdorff_distance(torch.tensor(b[None, None]), torch.tensor(a[None, None]),
                                         include_background=True, percentile=95, spacing=spacing)
    assert hd95(a, b, spacing) == pytest.approx(float(ref), rel=1e-5)   # MONAI works in float32


def test_empty_masks():
    z = np.zeros((3, 3), bool)
    one = z.copy()
    one[1, 1] = True
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(dice(z, z))
    assert dice(z, one) == 0 and iou(z, one) == 0
    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(hd95(z, one))


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(InputError, match="shape"):
        dice(np.zeros((3, 3)), np.zeros((3, 4)))


def test_per_lesion_and_per_case():
    truth = np.zeros((1, 20, 20), bool)
    pred = np.zeros_like(truth)
    truth[0, 2:6, 2:6] = True        # lesion 1: 16 px
    truth[0, 12:16, 12:16] = True    # lesion 2: missed
    pred[0, 3:6, 2:6] = True         # matches lesion 1 (12 px inside)
    pred[0, 0, 18:20] = True         # false positive component
    r = lesion_agreement(truth, pred, spacing=(1, 1, 1))
    assert r["n_lesions"] == 2 and r["n_detected"] == 1 and r["false_positive_components"] == 1
    l1, l2 = r["lesions"]
    assert l1["detected"] and l1["dice"] == pytest.approx(2 * 12 / (16 + 12))
    assert l1["iou"] == pytest.approx(12 / 16)
    assert not l2["detected"] and l2["dice"] == 0 and np.isnan(l2["hd95"])
    case = case_agreement(truth, pred, spacing=(1, 1, 1))
    assert r["case"]["dice"] == case["dice"] == pytest.approx(2 * 12 / (32 + 14))
