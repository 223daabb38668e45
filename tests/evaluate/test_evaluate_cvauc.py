"""Issue 14: the cross-validated AUC's influence-curve CI (LeDell et al. 2015) and the
optimism-corrected bootstrap (Harrell; rms::validate).

References: tests/fixtures/evaluate/corners_ref.json (make_corners.R): cvAUC::ci.cvAUC
transcribed into base R, and rms::validate(lrm, B = 60) with the bootstrap samples R drew
(data/optimism_idx.csv). Coverage of the CI is checked by simulation.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from thyromics.evaluate.cv_roc import cv_auc_ci
from thyromics.evaluate.optimism import (
    bootstrap_indices,
    optimism_bootstrap,
    validation_indexes,
)
from thyromics.evaluate.roc import auc


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return json.loads((fixtures_dir / "evaluate" / "corners_ref.json").read_text())


def test_cv_auc_ci_matches_cvauc(ref, fixtures_dir):
    r = ref["cvauc"]
    d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "cvauc.csv")
    res = cv_auc_ci(d.y, d.s, d.fold)
    assert res.auc == pytest.approx(r["cvAUC"], abs=1e-12)
    assert res.se == pytest.approx(r["se"], rel=1e-10)
    assert [res.ci_low, res.ci_high] == pytest.approx(r["ci"], abs=1e-12)
    folds = [auc(d.y[d.fold == k], d.s[d.fold == k]) for k in sorted(d.fold.unique())]
    assert folds == pytest.approx(r["fold_AUC"], abs=1e-12)
    assert res.method == "influence_curve_cvAUC"


def test_cv_auc_ci_with_repeats_and_undefined_cases():
    rng = np.random.default_rng(0)
    n = 120
    y = np.tile([0, 1, 0], n // 3)
    s = rng.normal(size=n) + y
    f1, f2 = np.arange(n) % 4, rng.permutation(np.arange(n) % 4)
    one = [cv_auc_ci(y, s, f) for f in (f1, f2)]
    both = cv_auc_ci(np.r_[y, y], np.r_[s, s], np.r_[f1, f2], repeat=np.r_[np.zeros(n), np.ones(n)])
    assert both.auc == pytest.approx((one[0].auc + one[1].auc) / 2)
    assert both.se ** 2 == pytest.approx((one[0].se ** 2 + one[1].se ** 2) / 2)
    with pytest.warns(Warning, match="single class"):
        bad = cv_auc_ci(y, s, np.where(y == 1, 0, np.arange(n) % 3 + 1))
    assert np.isnan(bad.ci_low) and "single class" in bad.note


def _coverage(reps: int, seed: int, learned: bool) -> float:
    """Share of influence-curve 95% CIs covering the true CV AUC."""
    rng = np.random.default_rng(seed)
    n, k, d = 200, 5, 4
    mu = np.array([0.8, 0.4, 0.0, 0.0])
    hits = 0
    for _ in range(reps):
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, d)) + y[:, None] * mu
        fold = rng.permutation(np.arange(n) % k)
        score = np.empty(n)
        truths = []
        for v in range(k):
            tr, te = fold != v, fold == v
            if learned:  # least-squares discriminant fitted on the training part
                w = np.linalg.lstsq(np.c_[np.ones(tr.sum()), x[tr]], y[tr] - y[tr].mean(), rcond=None)[0][1:]
            else:
                w = mu
            score[te] = x[te] @ w
            # true AUC of the fold's rule: w'x ~ N(w'mu y, |w|^2), cases vs controls
            truths.append(norm.cdf(w @ mu / (np.sqrt(2) * np.linalg.norm(w))))
        res = cv_auc_ci(y, score, fold)
        hits += res.ci_low <= np.mean(truths) <= res.ci_high
    return hits / reps


@pytest.mark.slow
def test_influence_curve_ci_covers_the_true_cv_auc():
    # 95% intervals; 400 replicates each: Monte-Carlo SE of a coverage of 0.95 is 0.011
    assert 0.92 <= _coverage(400, 1, learned=False) <= 0.98
    assert 0.92 <= _coverage(400, 2, learned=True) <= 0.98


# ----------------------------------------------------------------- rms::validate
def _logistic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Maximum-likelihood logistic coefficients by Newton (intercept first)."""
    X = np.c_[np.ones(len(y)), x]
    b = np.zeros(X.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-X @ b))
        step = np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (y - p))
        b += step
        if np.abs(step).max() < 1e-13:
            break
    return b


def test_optimism_bootstrap_matches_rms_validate(ref, fixtures_dir):
    r = ref["validate"]
    d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "optimism.csv")
    idx = pd.read_csv(fixtures_dir / "evaluate" / "data" / "optimism_idx.csv").to_numpy().T - 1
    x, y = d[["x1", "x2", "x3", "x4"]].to_numpy(), d.y.to_numpy().astype(float)

    def fit_predict(rows):
        b = _logistic(x[rows], y[rows])
        return lambda at: 1 / (1 + np.exp(-(b[0] + x[at] @ b[1:])))

    out = optimism_bootstrap(fit_predict, y, indices=list(idx))
    assert out["n_boot"] == r["B"] == 60 and out["n_failed"] == 0
    for ours, theirs in (("dxy", "Dxy"), ("intercept", "Intercept"), ("slope", "Slope"),
                         ("brier", "B_brier")):
        for k_ours, k_r in (("apparent", "index.orig"), ("training", "training"), ("test", "test"),
                            ("optimism", "optimism"), ("corrected", "index.corrected")):
            assert out[ours][k_ours] == pytest.approx(r[theirs][k_r], abs=1e-7), (ours, k_ours)
    assert out["auc"]["corrected"] == pytest.approx(r["Dxy"]["index.corrected"] / 2 + 0.5, abs=1e-7)


def test_optimism_bootstrap_resamples_patients_and_is_seeded():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(40), 3)
    a = bootstrap_indices(120, 5, seed=3, groups=groups)
    assert all(len(set(groups[s])) <= 40 and len(s) % 3 == 0 for s in a)
    b = bootstrap_indices(120, 5, seed=3, groups=groups)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    y = rng.integers(0, 2, 120)
    v = validation_indexes(y, np.full(120, 0.5))
    assert v["auc"] == 0.5 and v["brier"] == pytest.approx(0.25)
