"""SLIC sub-regions, mask expansion, per-sub-region radiomics against PyRadiomics."""

from __future__ import annotations

import logging

import numpy as np

from thyromics.features.ith import (IthSettings, expand_mask, slic_subregions,
                                    subregion_radiomics)
from thyromics.io.image import Image


def _lesion_volume():
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 5, (16, 32, 32))
    arr[:, :, 16:] += 100  # two halves with different intensity
    zz, yy, xx = np.mgrid[:16, :32, :32]
    les = ((zz - 8) ** 2 / 36 + (yy - 16) ** 2 / 100 + (xx - 16) ** 2 / 100) <= 1
    return Image(arr, (0.7, 0.7, 2.0)), les


def test_expand_mask_is_spacing_aware_and_on_numpy_axes():
    m = np.zeros((7, 7, 7), bool)
    m[3, 3, 3] = True
    # spacing ITK (x, y, z) = (1, 1, 2): 2 mm reaches 1 slice in z but 2 voxels in x
    e = expand_mask(m, (1.0, 1.0, 2.0), 2.0)
    assert e[4, 3, 3] and not e[5, 3, 3]
    assert e[3, 3, 5] and not e[3, 3, 6]
    thy = np.zeros_like(m)
    thy[3, 3, :] = True  # thyroid only along x
    e = expand_mask(m, (1.0, 1.0, 2.0), 2.0, thyroid=thy)
    assert e.sum() == 5 and e[3, 3, 1:6].all()


def test_slic_subregions_tile_the_lesion_and_filter():
    img, les = _lesion_volume()
    s = IthSettings(min_segments=10, voxels_per_segment=10_000)
    sub = slic_subregions(img, les, s)
    assert sub.expansion_mm == 0.0
    assert np.array_equal(sub.labels > 0, les)
    assert len(sub.valid) >= s.min_valid_subregions
    # SLIC follows the intensity edge (blurred by sigma = 1): each valid sub-region lies
    # essentially on one side of it
    for i in sub.valid:
        xs = np.nonzero(sub.labels == i)[2]
        assert max((xs < 15).mean(), (xs > 16).mean()) >= 0.8 or np.isin(xs, (15, 16)).mean() > 0.2


def test_expansion_when_too_few_subregions():
    img, les = _lesion_volume()
    small = np.zeros_like(les)
    small[7:9, 15:18, 15:18] = True  # 18 voxels: fewer than 5 sub-regions of >= 10 voxels
    s = IthSettings(min_segments=10)
    sub = slic_subregions(img, small, s)
    assert sub.expansion_mm > 0
    assert sub.roi.sum() > small.sum() and sub.roi[small].all()


def test_subregion_radiomics_matches_pyradiomics_on_the_whole_image():
    from radiomics import featureextractor

    img, les = _lesion_volume()
    labels = np.where(les, np.where(np.arange(32)[None, None, :] < 16, 1, 2), 0)
    s = IthSettings()
    feats, names = subregion_radiomics(img, labels, (1, 2), s)
    assert len(names) == 93 and not any(n.startswith("shape") for n in names)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ex = featureextractor.RadiomicsFeatureExtractor(binCount=32, normalize=True, normalizeScale=100)
    ex.disableAllFeatures()
    for c in s.classes:
        ex.enableFeatureClassByName(c)
    res = ex.execute(img.to_sitk(), img.with_array((labels == 2).astype(np.uint8)).to_sitk())
    ref = np.array([float(res[f"original_{n}"]) for n in names])
    np.testing.assert_allclose(feats[1], ref, rtol=1e-6)
