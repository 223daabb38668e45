"""Heterogeneity scores on hand-built label maps and features whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.features.ith import (cluster_subregions, diversity, ited, ithscore_from_clusters,
                                    li2022_from_label_map)


def test_ithscore3d_two_halves_is_zero():
    roi = np.ones((4, 4, 4), bool)
    cl = np.zeros((4, 4, 4), int)
    cl[:, :, 2:] = 1
    assert ithscore_from_clusters(cl, roi) == pytest.approx(0.0)


def test_ithscore3d_alternating_line_and_unassigned():
    # 1x1x6 line 0,1,0,1,0,1: every component is one voxel -> 1 - 2/6
    cl = np.array([[[0, 1, 0, 1, 0, 1]]])
    assert ithscore_from_clusters(cl, np.ones_like(cl, bool)) == pytest.approx(2 / 3)
    # dropped sub-regions (-1) count in V only: 1 - 2/4
    cl = np.array([[[0, 0, -1, -1]]])
    assert ithscore_from_clusters(cl, np.ones_like(cl, bool)) == pytest.approx(0.5)


def test_ithscore3d_uses_26_connectivity():
    # two voxels of cluster 0 touching only at a corner form one component
    cl = np.full((2, 2, 2), 1)
    cl[0, 0, 0] = 0
    cl[1, 1, 1] = 0
    # cluster 0: M = 2 (corner-connected); cluster 1: 6 voxels, all connected -> 1 - 8/8
    assert ithscore_from_clusters(cl, np.ones_like(cl, bool)) == pytest.approx(0.0)


def test_li2022_hand_computed():
    lm = np.array([
        [1, 1, 0, 2, 2, 2],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 0, 2, 2, 0],
        [3, 0, 0, 0, 0, 0],
    ])
    # S = 10; cluster 1: one region of 4 -> 4/1; cluster 2: regions 3 and 2 -> 3/2;
    # cluster 3: a single pixel only -> left out.  1 - (4 + 1.5) / 10
    assert li2022_from_label_map(lm) == pytest.approx(1 - 5.5 / 10)


def test_li2022_eight_connectivity():
    lm = np.array([[1, 0], [0, 1]])  # diagonal pixels are one 8-connected region
    assert li2022_from_label_map(lm) == pytest.approx(1 - 2 / 2)


def test_diversity():
    d = diversity(np.array([0, 0, 1, 1]))
    assert d == pytest.approx({"shannon": np.log(2), "simpson": 0.5, "n": 2.0})
    d = diversity(np.array([2, 2, 2]))
    assert d == pytest.approx({"shannon": 0.0, "simpson": 0.0, "n": 1.0})


def test_ited_two_separated_groups_and_constant():
    rng = np.random.default_rng(0)
    a = np.r_[rng.normal(0, 0.01, 15), rng.normal(10, 0.01, 15)]
    x = np.c_[a, np.full(30, 3.0)]
    out = ited(x, ["glcm_A", "firstorder_B"])
    # k = 2 by BIC, means ~0 and ~10 -> population SD of the two means = 5
    assert out["iTED_glcm_A"] == pytest.approx(5.0, abs=0.02)
    assert out["iTED_firstorder_B"] == 0.0


def test_ited_unimodal_is_zero_and_bootstrap_seeded():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (40, 1))
    out = ited(x, ["f"], n_bootstrap=20, seed=3)
    assert out["iTED_f"] == 0.0  # one component wins by BIC
    assert out == ited(x, ["f"], n_bootstrap=20, seed=3)


def test_cluster_subregions_elbow_finds_four_blobs():
    rng = np.random.default_rng(2)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    x = np.vstack([c + rng.normal(0, 0.1, (10, 2)) for c in centres])
    lab = cluster_subregions(x, k_min=3, k_max=8, seed=42)
    assert len(np.unique(lab)) == 4
    for g in range(4):
        assert len(np.unique(lab[g * 10:(g + 1) * 10])) == 1
