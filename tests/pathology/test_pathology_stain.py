"""Stain normalisation against the published formulas (Reinhard 2001, Macenko 2009)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from thyromics.pathology.synthetic import synthetic_he
from thyromics.pathology.stain import (StainReference, fit_reference, hed_channels, macenko_normalise,
                                       macenko_stains, normalise, reinhard_normalise, reinhard_stats)

H = np.array([0.65, 0.70, 0.29])
E = np.array([0.07, 0.99, 0.11])
TRUE = np.stack([H / np.linalg.norm(H), E / np.linalg.norm(E)], axis=1)


def _synthetic(stains: np.ndarray, n: int = 30000, seed: int = 0, io: float = 240.0) -> np.ndarray:
    """Pixels made by Beer-Lambert from known stains: pure H, pure E, mixtures and background."""
    rng = np.random.default_rng(seed)
    c = np.zeros((2, n))
    k = n // 4
    c[0, :k] = rng.uniform(0.3, 1.5, k)
    c[1, k:2 * k] = rng.uniform(0.5, 3.0, k)  # dense enough that red OD passes beta
    c[:, 2 * k:3 * k] = rng.uniform(0.2, 1.2, (2, k))
    od = stains @ c  # last quarter stays background (OD 0)
    rgb = io * np.exp(-od) - 1.0
    return np.clip(rgb.T, 0, 255).round().astype(np.uint8).reshape(-1, 1, 3)


def test_macenko_recovers_a_known_stain_matrix():
    stains, max_c = macenko_stains(_synthetic(TRUE))
    cos = np.sum(stains * TRUE, axis=0)  # columns are unit vectors
    assert cos[0] > 0.995 and cos[1] > 0.995, cos
    assert np.all((max_c > 1.0) & (max_c < 3.2))


def test_macenko_maps_one_stain_set_onto_another():
    other = np.stack([[0.55, 0.78, 0.30], [0.20, 0.95, 0.25]], axis=1)
    other /= np.linalg.norm(other, axis=0)
    src = _synthetic(other, seed=1)
    ref_stains, ref_max = macenko_stains(_synthetic(TRUE, seed=2))
    out = macenko_normalise(src, ref_stains, ref_max)
    got, _ = macenko_stains(out)
    assert np.all(np.sum(got * TRUE, axis=0) > 0.99)
    assert not np.all(np.sum(macenko_stains(src)[0] * TRUE, axis=0) > 0.99)  # it did change


def test_reinhard_output_has_the_target_lab_mean_and_sd():
    img = data.immunohistochemistry()
    target = img[..., [1, 0, 2]]  # a different, still natural, colour distribution
    t_mean, t_std = reinhard_stats(target)
    out = reinhard_normalise(img, t_mean, t_std)
    o_mean, o_std = reinhard_stats(out)
    s_mean, _ = reinhard_stats(img)
    assert np.allclose(o_mean, t_mean, atol=1.5), (o_mean, t_mean)
    assert np.allclose(o_std, t_std, atol=1.5), (o_std, t_std)
    assert np.abs(np.subtract(s_mean, t_mean)).max() > 5  # the test is not trivial


def test_reference_round_trips_and_normalises_the_same(tmp_path):
    img, _ = synthetic_he(512, 512, n_nuclei=60, margin=30)
    for method in ("macenko", "reinhard"):
        ref = fit_reference([img[:256], img[256:]], method, source=["a", "b"])
        path = ref.save(tmp_path / f"{method}.json")
        again = StainReference.load(path)
        assert again.method == method and again.source == ["a", "b"]
        np.testing.assert_array_equal(normalise(img[:128, :128], ref), normalise(img[:128, :128], again))


def test_hed_separates_haematoxylin_from_eosin():
    pixels = _synthetic(TRUE, n=4000).reshape(-1, 1, 3)
    h, e = hed_channels(pixels)
    k = 1000
    assert np.mean(h[:k]) > np.mean(h[k:2 * k]) and np.mean(e[k:2 * k]) > np.mean(e[:k])


def test_empty_image_is_refused():
    with pytest.raises(ValueError, match="stained pixels"):
        macenko_stains(np.full((20, 20, 3), 250, np.uint8))
