"""The native engine's mesh (:mod:`thyromics.features.native._mesh`) against PyRadiomics'
marching-cubes / marching-squares C extension (``radiomics.cShape``), the reference.

Every cube configuration alone and one step along each axis (the position term of the
volume), then seeded random masks: 3D blobs, noise, thin plates, one slice, hollow shapes
and anisotropic voxels, and 2D masks. Diameters must be equal to the bit; area and
volume to 1e-12 relative (PyRadiomics' own rounding of ``(i + 0.5) * spacing`` is about
1e-14 on these sizes).
"""

from __future__ import annotations

import numpy as np
import pytest
from radiomics import cShape
from scipy import ndimage

from thyromics.features.native._mesh import mesh_2d, mesh_3d

RTOL = 1e-12


def _corner_block(c: int) -> np.ndarray:
    m = np.zeros((2, 2, 2), np.uint8)
    for k in range(8):
        if c >> k & 1:
            m[(k >> 2) & 1, (k >> 1) & 1, k & 1] = 1
    return m


def _same_3d(mask: np.ndarray, spacing: np.ndarray, *, diameters: bool = True) -> None:
    a, v, d = cShape.calculate_coefficients(np.ascontiguousarray(mask), spacing)
    A, V, D = mesh_3d(mask, spacing)
    assert A == pytest.approx(a, rel=RTOL, abs=1e-13)
    assert V == pytest.approx(v, rel=RTOL, abs=1e-13)
    if diameters:
        assert np.array_equal(D, np.asarray(d)), (D, d)


@pytest.mark.parametrize("c", range(1, 255))
def test_every_cube_configuration(c):
    rng = np.random.default_rng(c)
    sp = rng.uniform(0.3, 3.0, 3)
    block = _corner_block(c)
    _same_3d(block, sp, diameters=False)  # the extension takes no diameters from one cube
    for axis in range(3):  # the same cube one step along the axis (its volume's position term)
        low = np.take(block, [0], axis=axis)
        _same_3d(np.concatenate([low, block], axis=axis), sp, diameters=False)


def _masks_3d(rng: np.random.Generator):
    for _ in range(40):  # noise and opened noise
        m = rng.random(rng.integers(1, 12, 3)) < rng.uniform(0.2, 0.9)
        yield ndimage.binary_opening(m) if rng.random() < 0.5 and m.sum() > 8 else m
    for _ in range(20):  # smooth blobs, some hollow
        size = rng.integers(6, 24, 3)
        field = ndimage.gaussian_filter(rng.random(size), rng.uniform(1.0, 3.0))
        m = field > np.quantile(field, rng.uniform(0.4, 0.8))
        if rng.random() < 0.3:
            m &= ~ndimage.binary_erosion(m, iterations=2)
        yield m
    for _ in range(10):  # thin plates and single slices
        m = rng.random((1, *rng.integers(3, 20, 2))) < 0.7
        yield np.repeat(m, rng.integers(1, 3), axis=0)


def test_random_masks_3d():
    rng = np.random.default_rng(7)
    for m in _masks_3d(rng):
        if not m.any():
            continue
        _same_3d(np.pad(m, 1).astype(np.uint8), rng.uniform(0.3, 3.0, 3))


def test_random_masks_2d():
    rng = np.random.default_rng(11)
    for k in range(60):
        shape = rng.integers(1, 30, 2)
        m = rng.random(shape) < rng.uniform(0.2, 0.9)
        if k % 2:
            m = ndimage.binary_closing(m)
        if not m.any():
            continue
        mp = np.pad(m, 1).astype(np.uint8)
        sp = rng.uniform(0.3, 3.0, 2)
        p, s, d = cShape.calculate_coefficients2D(mp, sp)
        P, S, D = mesh_2d(mp, sp)
        assert P == pytest.approx(p, rel=RTOL)
        assert S == pytest.approx(s, rel=RTOL)
        assert D == d


def test_area_and_volume_of_a_box():
    """Hand-counted: a solid a x b x c box of unit voxels. The surface through the edge
    midpoints is the box grown by half a voxel, with every edge and corner cut: along an
    edge a cube keeps 1/8 of the 1/4 the grown box has there, a corner cube keeps the
    tetrahedron 1/48 of the grown box's 1/8."""
    a, b, c = 3, 4, 5
    mask = np.pad(np.ones((a, b, c), np.uint8), 1)
    _, volume, _ = mesh_3d(mask, np.ones(3))
    edges = 4 * ((a - 1) + (b - 1) + (c - 1))
    assert volume == pytest.approx(a * b * c - edges / 8 - 8 * (1 / 8 - 1 / 48), rel=1e-14)
