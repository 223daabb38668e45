"""Fractal dimension and moment invariants on shapes whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thyromics.features.fractal import box_counting_dimension, box_counts
from thyromics.features.moments import central_moments, moment_invariants


def _carpet(levels: int) -> np.ndarray:
    c = np.ones((1, 1), bool)
    for _ in range(levels):
        z = np.zeros_like(c)
        c = np.block([[c, c, c], [c, z, c], [c, c, c]])
    return c


def _gasket(levels: int) -> np.ndarray:
    g = np.ones((1, 1), bool)
    for _ in range(levels):
        z = np.zeros_like(g)
        g = np.block([[g, z], [g, g]])
    return g


# ---------------------------------------------------------------- fractal
@pytest.mark.parametrize("mask, expected", [
    (np.ones((64, 64), bool), 2.0),
    (np.ones((32, 32, 32), bool), 3.0),
    (np.eye(64, dtype=bool), 1.0),                      # a diagonal digital line
    (np.ones((1, 128), bool), 1.0),
    (np.pad(np.ones((16, 16, 16), bool), 5), 3.0),      # position in the array is irrelevant
])
def test_fractal_exact_shapes(mask: np.ndarray, expected: float) -> None:
    assert box_counting_dimension(mask) == pytest.approx(expected, abs=1e-9)


def test_fractal_sierpinski_gasket_exact() -> None:
    # a dyadic fractal probed with dyadic boxes: N(2^k) = 3^(7-k) exactly
    sizes, counts = box_counts(_gasket(7))
    assert list(counts) == [3 ** (7 - k) for k in range(len(sizes))]
    assert box_counting_dimension(_gasket(7)) == pytest.approx(math.log(3) / math.log(2), abs=1e-9)


@pytest.mark.parametrize("levels", [5, 6])
def test_fractal_sierpinski_carpet(levels: int) -> None:
    # triadic structure, dyadic boxes: a documented low bias of a few hundredths
    d = box_counting_dimension(_carpet(levels))
    assert d == pytest.approx(math.log(8) / math.log(3), abs=0.08)
    assert d < 2.0 - 0.05  # clearly not a filled square


def test_fractal_counts_by_hand() -> None:
    m = np.zeros((8, 8), bool)
    m[0, 0] = m[7, 7] = m[0, 7] = True  # 3 isolated corners of an 8x8 box
    sizes, counts = box_counts(m)
    assert list(sizes) == [1, 2]   # L = 8 -> sides up to max(2, 8/4) = 2
    assert list(counts) == [3, 3]
    assert box_counting_dimension(m) == pytest.approx(0.0, abs=1e-12)


def test_fractal_errors() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        box_counting_dimension(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="single voxel"):
        box_counting_dimension(np.pad(np.ones((1, 1)), 2))


# ---------------------------------------------------------------- moments
def test_moments_hand_example() -> None:
    # two unit masses at (0, 0) and (0, 1): mu00 = 2, centroid (0, 0.5), mu02 = 2 * 0.25
    f = np.array([[1.0, 1.0]])
    mu = central_moments(f, np.ones_like(f))
    assert mu[0, 0] == 2 and mu[0, 2] == pytest.approx(0.5) and mu[2, 0] == 0 and mu[1, 1] == 0
    inv = moment_invariants(f, np.ones_like(f))
    eta02 = 0.5 / 2 ** 2
    assert inv["Invariant1"] == pytest.approx(eta02)
    assert inv["Invariant2"] == pytest.approx(eta02 ** 2)


def test_moments_2d_match_skimage_hu() -> None:
    from skimage.measure import moments_central, moments_hu, moments_normalized

    rng = np.random.default_rng(1)
    f = rng.integers(1, 33, size=(30, 40)).astype(float)
    mask = np.zeros_like(f, dtype=bool)
    mask[5:25, 8:35] = True
    mask[10:15, 20:30] = False
    g = np.where(mask, f, 0.0)
    hu = moments_hu(moments_normalized(moments_central(g, order=3), order=3))
    inv = moment_invariants(f, mask)
    assert inv["Invariant1"] == pytest.approx(hu[0], rel=1e-10)
    assert inv["Invariant2"] == pytest.approx(hu[1], rel=1e-10)


def test_moments_3d_match_skimage_central_moments() -> None:
    from skimage.measure import moments_central, moments_normalized

    rng = np.random.default_rng(2)
    f = rng.integers(1, 17, size=(10, 12, 14)).astype(float)
    mask = np.zeros(f.shape, bool)
    mask[2:8, 3:10, 1:12] = True
    mask[4, 5, 6] = False
    nu = moments_normalized(moments_central(np.where(mask, f, 0.0), order=2), order=2)
    a, b, c = nu[2, 0, 0], nu[0, 2, 0], nu[0, 0, 2]
    j1 = a + b + c
    j2 = a * b + a * c + b * c - nu[1, 1, 0] ** 2 - nu[1, 0, 1] ** 2 - nu[0, 1, 1] ** 2
    inv = moment_invariants(f, mask)
    assert inv["Invariant1"] == pytest.approx(j1, rel=1e-10)
    assert inv["Invariant2"] == pytest.approx(j2, rel=1e-10)


def test_moments_invariance() -> None:
    rng = np.random.default_rng(3)
    f = rng.integers(1, 9, size=(9, 11, 13)).astype(float)
    mask = np.ones(f.shape, bool)
    ref = moment_invariants(f, mask)
    # rotation by 90 degrees and translation inside a larger array
    rot = moment_invariants(np.rot90(f, axes=(1, 2)), np.rot90(mask, axes=(1, 2)))
    big = np.zeros((20, 20, 20))
    big[3:12, 4:15, 5:18] = f
    moved = moment_invariants(big, big > 0)
    for other in (rot, moved):
        assert other["Invariant1"] == pytest.approx(ref["Invariant1"], rel=1e-10)
        assert other["Invariant2"] == pytest.approx(ref["Invariant2"], rel=1e-10)
    # density scale c: mu scales by c, mu000^(1 + 2/3) by c^(5/3), so J1 by c^(-2/3), J2 by
    # c^(-4/3) (why the engine feeds discretised grey levels, not raw intensities)
    scaled = moment_invariants(3 * f, mask)
    assert scaled["Invariant1"] == pytest.approx(ref["Invariant1"] * 3 ** (-2 / 3), rel=1e-10)
    assert scaled["Invariant2"] == pytest.approx(ref["Invariant2"] * 3 ** (-4 / 3), rel=1e-10)
    # spacing: voxels of (2, 1, 1) mm equal the array upsampled x2 along axis 0 (up to the
    # within-voxel variance the sum ignores)
    up = np.repeat(f, 2, axis=0)
    ups = moment_invariants(up, np.ones(up.shape, bool))
    spaced = moment_invariants(f, mask, spacing=(2.0, 1.0, 1.0))
    assert spaced["Invariant1"] == pytest.approx(ups["Invariant1"], rel=0.02)


def test_moments_errors() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        moment_invariants(np.ones((3, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        moment_invariants(np.ones((3, 3)), np.ones((3, 4)))
