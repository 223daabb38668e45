"""The synthetic cohort is reproducible, patient-grouped, and its classes differ."""

from __future__ import annotations

import numpy as np
import pandas as pd

from thyromics.study.synthetic import SyntheticSettings, ct_lesion, make_cohort, us_lesion


def test_cohort_is_seeded_and_well_formed(tmp_path):
    s = SyntheticSettings(n_patients=10, seed=3)
    a = pd.read_csv(make_cohort(tmp_path / "a", "us", s))
    b = pd.read_csv(make_cohort(tmp_path / "b", "us", s))
    pd.testing.assert_frame_equal(a, b)
    assert a["case_id"].is_unique
    assert set(a["split"]) <= {"train", "test", "external"}
    # a patient never has two different labels or splits
    assert (a.groupby("patient_id")[["label", "split"]].nunique() == 1).all().all()
    assert all((tmp_path / "a" / p).exists() for p in a["image"])


def test_planted_signal_is_in_the_images():
    """Higher latent aggressiveness: more heterogeneous CT lesions, darker ultrasound nodules."""
    rng = np.random.default_rng(1)
    ct_sd, us_mean = {}, {}
    for z in (-1.0, 1.0, 3.0):
        ct = [ct_lesion(z, rng) for _ in range(6)]
        ct_sd[z] = np.mean([img[m > 0].std() for img, m, _ in ct])
        us = [us_lesion(z, rng) for _ in range(6)]
        us_mean[z] = np.mean([img[m > 0].mean() for img, m in us])
    assert ct_sd[-1.0] < ct_sd[1.0] < ct_sd[3.0]
    assert us_mean[-1.0] > us_mean[1.0] > us_mean[3.0]


def test_classes_differ_in_texture():
    rng = np.random.default_rng(0)
    sd = {0: [], 1: []}
    for y in (0, 1):
        for _ in range(8):
            img, mask, _ = ct_lesion(-1.0 if y == 0 else 2.5, rng)
            sd[y].append(img[mask > 0].std())
            us, m2 = us_lesion(float(y), rng)
            assert us.dtype == np.uint8 and m2.sum() > 50
    assert np.mean(sd[1]) > np.mean(sd[0])
