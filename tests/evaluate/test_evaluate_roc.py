"""AUC, DeLong CI and DeLong tests against pROC (fixtures) and a naive O(mn) oracle."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from thyromics.errors import InputError
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.roc import (
    auc,
    bootstrap_auc_ci,
    delong_ci,
    delong_covariance,
    delong_test,
    delong_test_unpaired,
    roc_curve,
)

_spec = importlib.util.spec_from_file_location(
    "evaluate_refs", Path(__file__).parents[1] / "fixtures" / "evaluate" / "evaluate_refs.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)

TOL = 1e-6
REF = refs.reference()


def _data(name, lidc_dir=None):
    return refs.dataset(name, lidc_dir)


@pytest.fixture(params=[*refs.SYNTHETIC, "lidc"])
def case(request):
    name = request.param
    lidc = request.getfixturevalue("lidc_dir") if name == "lidc" else None
    return name, _data(name, lidc), REF["datasets"][name]


# ------------------------------------------------------------------ pROC agreement

def test_auc_and_delong_ci_match_proc(case):
    name, d, ref = case
    assert len(d) == ref["n"] and int(d.y.sum()) == ref["n_pos"]
    for s in ("a", "b"):
        r = ref[s]
        assert auc(d.y, d[s]) == pytest.approx(r["auc"], abs=TOL), (name, s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            ci = delong_ci(d.y, d[s])
        assert ci.auc == pytest.approx(r["delong"]["auc"], abs=TOL)
        if r["delong"]["var"] == 0:  # perfect separation: pROC prints 1-1, we say not estimable
            assert np.isnan(ci.ci_low) and np.isnan(ci.ci_high) and "not estimable" in ci.note
            continue
        assert ci.ci_low == pytest.approx(r["delong"]["low"], abs=TOL), (name, s)
        assert ci.ci_high == pytest.approx(r["delong"]["high"], abs=TOL), (name, s)
        assert ci.se ** 2 == pytest.approx(r["delong"]["var"], abs=1e-9), (name, s)
        assert ci.method == "delong"


def test_paired_delong_matches_proc(case):
    name, d, ref = case
    r = ref["paired_ab"]
    t = delong_test(d.y, d.a, d.b)
    assert t.paired and t.method == "delong" and t.df is None
    assert t.auc_a == pytest.approx(r["auc_a"], abs=TOL)
    assert t.auc_b == pytest.approx(r["auc_b"], abs=TOL)
    assert t.z == pytest.approx(r["z"], abs=TOL), name
    assert t.p == pytest.approx(r["p"], abs=TOL), name
    assert t.ci_low == pytest.approx(r["ci_low"], abs=TOL), name
    assert t.ci_high == pytest.approx(r["ci_high"], abs=TOL), name


@pytest.mark.parametrize("i", range(len(REF["unpaired"])))
def test_unpaired_delong_matches_proc(i, request):
    r = REF["unpaired"][i]
    frames = []
    for side in ("a", "b"):
        ds = r[side]["dataset"]
        lidc = request.getfixturevalue("lidc_dir") if ds == "lidc" else None
        d = _data(ds, lidc)
        frames.append((d.y, d[r[side]["score"]]))
    t = delong_test_unpaired(frames[0][0], frames[0][1], frames[1][0], frames[1][1])
    assert not t.paired
    assert t.z == pytest.approx(r["d"], abs=TOL)
    assert t.df == pytest.approx(r["df"], rel=1e-9)
    assert t.p == pytest.approx(r["p"], abs=TOL)


def test_bootstrap_ci_close_to_proc_bootstrap(case):
    """Different random streams: agreement within Monte-Carlo error only."""
    name, d, ref = case
    r = ref["a"]["bootstrap_stratified_2000"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        b = bootstrap_auc_ci(d.y, d.a, n_boot=2000, seed=3)
    tol = 0.03 if name in ("tiny", "imbalance") else 0.015
    assert b.method == "bootstrap" and b.n_boot == 2000
    if r["low"] == r["high"] == 1:  # perfect separation: pROC prints 1-1, we say not estimable
        assert np.isnan(b.ci_low) and np.isnan(b.ci_high) and "not estimable" in b.note
        return
    assert b.ci_low == pytest.approx(r["low"], abs=tol), name
    assert b.ci_high == pytest.approx(r["high"], abs=tol), name


# ------------------------------------------------------------------ naive oracle

def _naive_delong(y, scores):
    """DeLong et al. (1988) structural components, O(m n), straight from the paper."""
    y = np.asarray(y)
    scores = np.atleast_2d(scores)
    K = scores.shape[0]
    aucs, v10, v01 = [], [], []
    for k in range(K):
        x, z = scores[k, y == 1], scores[k, y == 0]
        psi = (x[:, None] > z[None, :]).astype(float) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.array([[np.sum((v10[i] - aucs[i]) * (v10[j] - aucs[j])) / (m - 1) for j in range(K)] for i in range(K)])
    s01 = np.array([[np.sum((v01[i] - aucs[i]) * (v01[j] - aucs[j])) / (n - 1) for j in range(K)] for i in range(K)])
    return np.array(aucs), s10 / m + s01 / n


@pytest.mark.parametrize("seed", range(6))
def test_fast_delong_equals_naive_structural_components(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 150))
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    latent = rng.normal(size=n) + y
    scores = np.vstack([
        latent + rng.normal(scale=0.5, size=n),
        np.round(latent + rng.normal(size=n)),            # heavy ties
        rng.integers(0, 3, n).astype(float) * 100 - 7,    # few levels, odd scale
    ])
    a_fast, c_fast = delong_covariance(y, scores)
    a_naive, c_naive = _naive_delong(y, scores)
    np.testing.assert_allclose(a_fast, a_naive, atol=1e-12)
    np.testing.assert_allclose(c_fast, c_naive, atol=1e-12)


# ------------------------------------------------------------------ hand-computed cases

def test_tiny_hand_computed():
    # cases 3, 2; controls 1, 2: pairs (3>1)=1, (3>2)=1, (2>1)=1, (2=2)=0.5 -> 3.5 / 4
    y = [1, 1, 0, 0]
    s = [3, 2, 1, 2]
    assert auc(y, s) == pytest.approx(0.875)
    # V10 = (1, 0.75), V01 = (1, 0.75): var = 0.03125/2 + 0.03125/2
    assert delong_ci(y, s).se ** 2 == pytest.approx(0.03125)


def test_direction_and_scale_invariance():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    s = rng.normal(size=60) + y
    a = auc(y, s)
    assert auc(y, -s) == pytest.approx(1 - a)              # never flipped silently
    assert auc(y, -s, direction=">") == pytest.approx(a)
    assert auc(y, 1000 * s + 50) == pytest.approx(a)        # any scale
    assert auc(y, np.exp(s)) == pytest.approx(a)            # any monotone transform


def test_roc_curve_points():
    fpr, tpr, thr = roc_curve([1, 1, 0, 0], [3, 2, 1, 2])
    np.testing.assert_allclose(thr, [np.inf, 3, 2, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.875)


def test_identical_scores_give_z0_p1():
    y = [0, 1, 0, 1, 1, 0]
    s = [0.1, 0.8, 0.3, 0.2, 0.9, 0.4]
    t = delong_test(y, s, s)
    assert t.z == 0 and t.p == 1 and t.auc_diff == 0


def test_paired_test_symmetry():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 80)
    a, b = rng.normal(size=80) + y, rng.normal(size=80) + 0.5 * y
    t1, t2 = delong_test(y, a, b), delong_test(y, b, a)
    assert t1.z == pytest.approx(-t2.z) and t1.p == pytest.approx(t2.p)
    assert t1.ci_low == pytest.approx(-t2.ci_high)


# ------------------------------------------------------------------ bad input

def test_one_class_is_a_clear_error():
    with pytest.raises(InputError, match="both classes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="both classes"):
        delong_ci([0, 0], [0.1, 0.2])


def test_nan_scores_rejected_naming_rows():
    with pytest.raises(InputError, match=r"row\(s\) 1, 3"):
        auc([0, 1, 0, 1], [0.1, np.nan, 0.2, np.inf])


def test_non_binary_truth_rejected():
    with pytest.raises(InputError, match="0/1"):
        auc([0, 1, 2, 1], [0.1, 0.5, 0.2, 0.3])
    with pytest.raises(InputError, match="non-numeric"):
        auc(["benign", "malignant"], [0.1, 0.5])


def test_single_case_delong_warns():
    with pytest.warns(UndefinedMetricWarning):
        r = delong_ci([1, 0, 0], [0.9, 0.1, 0.2])
    assert r.auc == 1.0 and np.isnan(r.ci_low)
