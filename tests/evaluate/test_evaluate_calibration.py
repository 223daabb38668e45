"""Calibration against rms::val.prob / glm (fixtures), decision curves against dcurves,
and cross-validated ROC averaging against naive oracles."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.calibration import calibration, hosmer_lemeshow
from thyromics.evaluate.cv_roc import cv_roc
from thyromics.evaluate.dca import decision_curve
from thyromics.evaluate.roc import auc
from conftest import need_module  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "evaluate_refs", Path(__file__).parents[1] / "fixtures" / "evaluate" / "evaluate_refs.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)

REF = refs.reference()
CAL_CASES = [(name, col) for name in (*refs.SYNTHETIC, "lidc")
             for col in ("pa", "pb") if f"calibration_{col}" in REF["datasets"][name]]


@pytest.mark.parametrize(("name", "col"), CAL_CASES)
def test_calibration_matches_rms_val_prob(name, col, request):
    lidc = request.getfixturevalue("lidc_dir") if name == "lidc" else None
    d = refs.dataset(name, lidc)
    r = REF["datasets"][name][f"calibration_{col}"]
    c = calibration(d.y, d[col])
    assert c["brier"] == pytest.approx(r["brier"], abs=1e-9)
    # val.prob's "Slope" / "Intercept" (lrm.fit, its own convergence tolerance) ...
    assert c["slope"] == pytest.approx(r["slope"], abs=1e-4)
    assert c["recalibration_intercept"] == pytest.approx(r["intercept_valprob"], abs=1e-4)
    # ... and the same fit by glm to a tight tolerance
    assert c["slope"] == pytest.approx(r["slope_glm"], abs=1e-6)
    assert c["recalibration_intercept"] == pytest.approx(r["recal_intercept_glm"], abs=1e-6)
    assert c["intercept"] == pytest.approx(r["citl"], abs=1e-6)                   # glm offset
    hl = c["hosmer_lemeshow"]
    assert hl["chi2"] == pytest.approx(r["hosmer_lemeshow"]["chi2"], rel=1e-9)
    assert hl["df"] == r["hosmer_lemeshow"]["df"]
    assert hl["p"] == pytest.approx(r["hosmer_lemeshow"]["p"], abs=1e-9)
    assert sum(b["n"] for b in c["bins"]) == len(d)


@pytest.mark.filterwarnings("ignore::thyromics.evaluate._checks.UndefinedMetricWarning")
def test_perfect_calibration_hand():
    # p = 0.25 for 4 cases of which 1 event, p = 0.75 for 4 of which 3: calibrated exactly
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    p = [0.25] * 4 + [0.75] * 4
    c = calibration(y, p, n_bins=2)
    assert c["intercept"] == pytest.approx(0.0, abs=1e-10)
    assert c["slope"] == pytest.approx(1.0, abs=1e-10)
    assert c["brier"] == pytest.approx(0.1875)
    assert [b["observed"] for b in c["bins"]] == [0.25, 0.75]


def test_calibration_rejects_non_probabilities():
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        calibration([0, 1], [-3.0, 40.0])


def test_separated_outcome_warns_not_absurd():
    with pytest.warns(UndefinedMetricWarning, match="separated"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Hosmer", category=UndefinedMetricWarning)
        c = calibration([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2)
    assert np.isnan(c["slope"])


def test_hosmer_lemeshow_hand():
    # two groups of 5: expected 1 and 4 events, observed 2 and 3
    y = [1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    p = [0.2] * 5 + [0.8] * 5
    with pytest.warns(UndefinedMetricWarning):  # 2 groups -> df 0
        hl = hosmer_lemeshow(y, p, g=2)
    chi = (2 - 1) ** 2 / 1 + (3 - 4) ** 2 / 4 + (3 - 4) ** 2 / 4 + (2 - 1) ** 2 / 1
    assert hl["chi2"] == pytest.approx(chi) and hl["groups"] == 2


# ------------------------------------------------------------------ decision curves

def test_decision_curve_matches_dcurves():
    dcurves = need_module("dcurves")
    d = refs.dataset("medium")
    pt = np.round(np.arange(0.01, 0.99, 0.01), 2)
    ours = decision_curve(d.y, {"pa": d.pa, "pb": d.pb}, thresholds=pt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = dcurves.dca(data=d[["y", "pa", "pb"]], outcome="y", modelnames=["pa", "pb"], thresholds=pt)
    theirs = theirs.replace({"model": {"all": "treat_all", "none": "treat_none"}})
    merged = ours.merge(theirs, on=["model", "threshold"], suffixes=("", "_dc"))
    assert len(merged) == len(ours) == 4 * pt.size
    np.testing.assert_allclose(merged.net_benefit, merged.net_benefit_dc, atol=1e-12)


def test_decision_curve_hand():
    y = [1, 1, 0, 0]
    out = decision_curve(y, {"m": [0.9, 0.4, 0.6, 0.1]}, thresholds=[0.5])
    nb = out.set_index("model").net_benefit
    assert nb["m"] == pytest.approx(1 / 4 - 1 / 4 * 1.0)    # TP=1 FP=1 at pt=0.5
    assert nb["treat_all"] == pytest.approx(0.5 - 0.5)
    assert nb["treat_none"] == 0


# ------------------------------------------------------------------ cross-validated ROC

def _folds(seed=0):
    rng = np.random.default_rng(seed)
    # negatives per fold 4, 5, 10, 20: their FPR steps all lie on the 0.01 grid
    ys, ss, fs = [], [], []
    for k, (npos, nneg) in enumerate([(3, 4), (6, 5), (7, 10), (9, 20)]):
        y = np.r_[np.ones(npos), np.zeros(nneg)].astype(int)
        s = np.round(rng.normal(size=y.size) + y, 1)   # ties within folds
        ys.append(y), ss.append(s), fs.append(np.full(y.size, f"f{k}"))
    return np.concatenate(ys), np.concatenate(ss), np.concatenate(fs)


def test_cv_roc_fold_aucs_and_vertical_average():
    y, s, f = _folds()
    r = cv_roc(y, s, f)
    per = [auc(y[f == k], s[f == k]) for k in np.unique(f)]
    np.testing.assert_allclose([d["auc"] for d in r["folds"]], per)
    assert r["auc_mean"] == pytest.approx(np.mean(per))
    assert r["auc_sd"] == pytest.approx(np.std(per, ddof=1))
    assert r["vertical"]["tpr_mean"][-1] == pytest.approx(1.0)
    # linear interpolation between ROC points keeps each fold's area (ties = diagonal):
    # on a fine grid the averaged curve's area tends to the mean AUC (error ~ grid step)
    fine = cv_roc(y, s, f, grid_points=200_001)
    assert fine["vertical"]["auc"] == pytest.approx(np.mean(per), abs=2e-5)


def test_cv_roc_threshold_average_naive():
    y, s, f = _folds(1)
    r = cv_roc(y, s, f)
    ta = r["threshold_average"]
    for i, t in enumerate(ta["threshold"]):
        fprs = [np.mean(s[(f == k) & (y == 0)] >= t) for k in np.unique(f)]
        tprs = [np.mean(s[(f == k) & (y == 1)] >= t) for k in np.unique(f)]
        assert ta["fpr_mean"][i] == pytest.approx(np.mean(fprs))
        assert ta["tpr_mean"][i] == pytest.approx(np.mean(tprs))
        assert ta["tpr_sd"][i] == pytest.approx(np.std(tprs, ddof=1))


def test_cv_roc_vertical_hand():
    # fold A perfect; fold B: scores interleaved -> ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1)
    y = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    s = np.array([4, 3, 2, 1, 4, 3, 2, 1])
    f = np.array(["A"] * 4 + ["B"] * 4)
    r = cv_roc(y, s, f, grid_points=5)   # grid 0, .25, .5, .75, 1
    np.testing.assert_allclose(r["vertical"]["tpr_mean"], [(1 + .5) / 2, (1 + .5) / 2, (1 + 1) / 2, 1, 1])


def test_cv_roc_single_class_fold_is_an_error():
    with pytest.raises(InputError, match="fold 'b'"):
        cv_roc([0, 1, 1, 1], [0.1, 0.9, 0.3, 0.4], ["a", "a", "b", "b"])


def test_decision_curve_rejects_reserved_names():
    with pytest.raises(InputError, match="reserved"):
        decision_curve([0, 1], {"treat_all": [0.1, 0.9]})
    assert isinstance(decision_curve([0, 1], {"m": [0.1, 0.9]}), pd.DataFrame)
