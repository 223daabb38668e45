"""Perturbations: hand-checkable geometry, seeded and reproducible draws, and the grids.

Rotation and translation go through thyromics.preprocess.resample (rotated_grid,
translated_grid); each repetition of a case draws from (seed, case_id, repetition) only.
"""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image
from thyromics.preprocess.resample import Grid, rotated_grid, translated_grid
from thyromics.robustness.perturb import (Perturbation, adapt_volume, estimate_noise,
                                          randomise_contour, rotate_translate)
from thyromics.robustness.settings import get_chain


def _case(seed=0, shape=(8, 32, 32), spacing=(0.8, 0.8, 2.0)):
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    c = np.array(shape) / 2
    r = np.sqrt(((z - c[0]) * spacing[2]) ** 2 + ((y - c[1]) * spacing[1]) ** 2
                + ((x - c[2]) * spacing[0]) ** 2)
    mask = (r < 7).astype(np.uint8)
    arr = (100 + 60 * mask + rng.normal(0, 8, shape)).round().astype(np.int16)
    return Image(arr, spacing), Image(mask, spacing)


def test_identity_grids_and_a_quarter_turn():
    grid = Grid((5, 4, 3), (1.0, 2.0, 3.0), (1.0, 2.0, 3.0), tuple(np.eye(3).ravel()))
    assert rotated_grid(grid, 0.0, (0.0, 0.0, 0.0)) == grid
    assert translated_grid(grid, (0.0, 0.0, 0.0)) == grid
    shifted = translated_grid(grid, (0.5, 0.25, 0.0))
    assert shifted.origin == pytest.approx((1.5, 2.5, 3.0))
    arr = np.arange(7 * 7, dtype=float).reshape(7, 7)
    img = Image(arr, (1.0, 1.0))
    mask = Image(np.ones((7, 7), np.uint8), (1.0, 1.0))
    out, _ = rotate_translate(img, mask, angle=90.0, interpolator="linear")
    # a quarter turn about the centre permutes the voxels: the array is rotated
    assert sorted(out.array.ravel().round(9)) == sorted(arr.ravel())
    assert np.allclose(out.array, np.rot90(arr, k=1)) or np.allclose(out.array, np.rot90(arr, k=-1))
    with pytest.raises(InputError):
        translated_grid(grid, (0.5,))


def test_sub_voxel_translation_of_a_ramp():
    arr = np.tile(np.arange(10, dtype=float), (6, 1))  # value = x index
    img, mask = Image(arr, (1.0, 1.0)), Image(np.ones_like(arr, np.uint8), (1.0, 1.0))
    out, m = rotate_translate(img, mask, fraction=(0.25, 0.0), interpolator="linear")
    np.testing.assert_allclose(out.array[:, :-1], arr[:, :-1] + 0.25)
    assert m.array.sum() > 0


def test_noise_estimate_on_white_noise_and_a_smooth_image():
    rng = np.random.default_rng(1)
    flat = Image(rng.normal(0, 5.0, (20, 64, 64)), (1.0, 1.0, 1.0))
    assert estimate_noise(flat) == pytest.approx(5.0, rel=0.05)
    yy, xx = np.mgrid[:64, :64]
    smooth = 300 * np.sin(xx / 9.0) * np.cos(yy / 11.0) + (xx > 32) * 200
    noisy = Image(smooth[None] + rng.normal(0, 5.0, (20, 64, 64)), (1.0, 1.0, 1.0))
    assert estimate_noise(noisy) == pytest.approx(5.0, rel=0.15)  # edges and texture ignored
    assert estimate_noise(Image(np.ones((4, 4)), (1.0, 1.0))) == 0.0


def test_volume_adaptation_is_exact_and_concentric():
    _, mask = _case()
    n = int(mask.array.sum())
    grown = adapt_volume(mask, 0.2)
    shrunk = adapt_volume(mask, -0.2)
    assert grown.array.sum() == round(1.2 * n) and shrunk.array.sum() == round(0.8 * n)
    assert (grown.array >= mask.array).all() and (shrunk.array <= mask.array).all()
    by_mm = adapt_volume(mask, 2.0, mode="distance")
    assert (by_mm.array >= mask.array).all() and by_mm.array.sum() > n
    floor = adapt_volume(mask, -50.0, mode="distance", min_volume_fraction=0.2)
    assert floor.array.sum() == int(np.ceil(0.2 * n))
    assert adapt_volume(mask, 0.0).array.sum() == n


def test_contour_randomisation_is_seeded_and_stays_near_the_lesion():
    img, mask = _case()
    a = randomise_contour(img, mask, np.random.default_rng(5))
    b = randomise_contour(img, mask, np.random.default_rng(5))
    c = randomise_contour(img, mask, np.random.default_rng(6))
    np.testing.assert_array_equal(a.array, b.array)
    assert not np.array_equal(a.array, c.array)
    m, r = mask.array > 0, a.array > 0
    assert 2 * (m & r).sum() / (m.sum() + r.sum()) > 0.6


def test_a_repetition_is_the_same_whatever_the_order_and_records_its_draws():
    img, mask = _case()
    chain = get_chain("rnvc", repetitions=3, seed=7)
    first = [Perturbation(chain, r).apply(img, mask, case_id="x") for r in (2, 0, 1)]
    again = [Perturbation(chain, r).apply(img, mask, case_id="x") for r in (0, 1, 2)]
    for (i1, m1, d1), (i2, m2, d2) in zip([first[1], first[2], first[0]], again):
        np.testing.assert_array_equal(i1.array, i2.array)
        np.testing.assert_array_equal(m1.array, m2.array)
        assert d1 == d2
    assert not np.array_equal(again[0][0].array, again[1][0].array)
    drawn = again[0][2]
    assert {"noise_sd", "angle_deg", "volume_fraction", "voxels_before", "voxels_after"} <= set(drawn)
    other = Perturbation(chain, 0).apply(img, mask, case_id="y")
    assert not np.array_equal(other[0].array, again[0][0].array)  # the case id is in the seed
    seeded = Perturbation(get_chain("rnvc", repetitions=3, seed=8), 0).apply(img, mask, case_id="x")
    assert not np.array_equal(seeded[0].array, again[0][0].array)


def test_chain_settings_are_validated():
    assert get_chain("ntvc").code == "NTVC"
    assert get_chain("rnvc").chain == ("noise", "rotation", "volume", "contour")
    with pytest.raises(InputError, match="Did you mean"):
        get_chain("ntcv2")
    with pytest.raises(InputError, match="translation fractions"):
        get_chain("translation", translation_fractions=(1.5,))
    img, mask = _case()
    with pytest.raises(CaseError, match="not binary"):
        bad = mask.array.copy()
        bad[0, 0, 0] = 3  # labels 1 and 3
        Perturbation(get_chain("noise"), 0).apply(img, mask.with_array(bad), case_id="z")
