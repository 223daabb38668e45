"""Segmentation metrics on hand-computed label maps; circularity bound; sizes in square micrometres."""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.pathology.morphometry import nucleus_features, smooth_contour
from thyromics.pathology.nuclei_io import filter_by_area
from thyromics.pathology.nucleus_metrics import aji, detection, dice_foreground, rasterise, score
from thyromics.pathology.settings import FeatureSettings


def _pair():
    """Reference: A (4x4 = 16 px), B (2x2 = 4 px). Prediction: A' = A shifted by one column
    (12 of 16 shared, IoU 12/20), C a false positive (2 px) away from both."""
    t = np.zeros((10, 12), int)
    t[1:5, 1:5] = 1
    t[7:9, 8:10] = 2
    p = np.zeros((10, 12), int)
    p[1:5, 2:6] = 5
    p[8, 0:2] = 9
    return t, p


def test_detection_and_dice_by_hand():
    t, p = _pair()
    d = detection(t, p)
    assert (d["tp"], d["fp"], d["fn"]) == (1, 1, 1)  # A-A' at IoU 0.6; C unmatched; B missed
    assert d["f1"] == pytest.approx(2 / 4) and d["precision"] == 0.5 and d["recall"] == 0.5
    assert dice_foreground(t, p) == pytest.approx(2 * 12 / (20 + 18))
    assert detection(t, p, iou=0.65)["tp"] == 0
    with pytest.raises(ValueError):
        detection(t, p, iou=0.3)


def test_aji_by_hand():
    t, p = _pair()
    # A paired with A': C = 12, U = 20; B has no overlap: U += 4; C unpaired: U += 2
    assert aji(t, p) == pytest.approx(12 / 26)
    assert aji(t, t) == 1.0
    # one prediction covering both reference nuclei is paired with each (Kumar's definition)
    merged = ((t > 0) * 3).astype(int)
    assert aji(t, merged) == pytest.approx((16 + 4) / (20 + 20))
    s = score(t, p)
    assert s.n_reference == 2 and s.n_predicted == 2 and s.count_error == 0


def test_rasterise_polygons():
    square = np.array([[1.0, 1.0], [5.0, 1.0], [5.0, 5.0], [1.0, 5.0]])  # x, y corners
    lab = rasterise([square, square + 20, square.copy()], (40, 40))  # the third hides the first wholly
    assert lab.max() == 2 and np.sum(lab == 2) == np.sum(lab == 1) > 0


def test_circularity_never_exceeds_one():
    yy, xx = np.mgrid[:40, :40]
    inst = np.zeros((40, 40), int)
    shapes = [((yy - 8) ** 2 + (xx - 8) ** 2) <= r * r for r in (1, 2, 3)]
    for k, m in enumerate(shapes, start=1):
        inst[np.roll(m, 12 * (k - 1), axis=1)] = k
    inst[30:32, 30:33] = 4  # 2 x 3 pixels: the pixel area over the Crofton perimeter exceeded 1
    f = nucleus_features(inst, {}, np.full((40, 40, 3), 100, np.uint8), mpp=None, settings=FeatureSettings())
    assert (f["circularity"] <= 1.0).all() and (f["circularity"] > 0.5).all()
    # the perimeter of a large disc is 2 pi r within 1%
    big = ((np.mgrid[:120, :120] - 60) ** 2).sum(0) <= 40 ** 2
    assert smooth_contour(big)[0] == pytest.approx(2 * np.pi * 40, rel=0.01)


def test_area_limits_in_square_micrometres_drop_and_count():
    inst = np.zeros((60, 60), int)
    inst[0:2, 0:2] = 1  # 4 px
    inst[10:20, 10:20] = 2  # 100 px
    inst[25:60, 25:60] = 3  # 1225 px
    mpp = 0.5  # 0.25 um^2 per pixel: 1, 25 and 306 um^2
    out, types, small, large = filter_by_area(inst, {1: 1, 2: 2, 3: 3}, 4 / mpp ** 2, 300 / mpp ** 2)
    assert (small, large) == (1, 1) and out.max() == 1 and types == {1: 2}
    assert np.sum(out == 1) == 100
