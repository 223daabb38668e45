"""The modelling stage cannot leak: noise stays at chance, patients stay on one side,
thresholds travel unchanged. A deliberately leaky variant shows the test can fail."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve

from thyromics.models.api import fit_and_compare
from thyromics.models.cv import cross_validated_scores, grouped_folds
from thyromics.models.pipeline import PipelineSettings, build_model, fit_model


def _noise(seed: int, n: int = 150, p: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, p)),
                      columns=[f"original_firstorder_f{i}" for i in range(p)])
    df.insert(0, "case_id", [f"c{i}" for i in range(n)])
    df.insert(1, "patient_id", [f"p{i // 2}" for i in range(n)])  # two lesions per patient
    df.insert(2, "label", rng.permutation(np.r_[np.zeros(n // 2), np.ones(n - n // 2)]).astype(int))
    return df


def _cv_auc(df: pd.DataFrame, name: str, settings: PipelineSettings, seed: int) -> float:
    cols = [c for c in df.columns if c.startswith("original_")]
    X, y, g = df[cols], df["label"].to_numpy(), df["patient_id"].to_numpy()
    folds = grouped_folds(y, g, k=5, seed=seed)
    oof = cross_validated_scores(
        lambda: build_model(name, settings, numeric=cols, seed=seed), fit_model, X, y, g, folds)
    return roc_auc_score(y[oof["row"]], oof["score"])


@pytest.mark.slow
@pytest.mark.parametrize("name,selector", [("lr", "lasso"),
                                           ("rfq", "univariate"), ("lightgbm", "univariate")])
def test_noise_features_stay_at_chance(name: str, selector: str) -> None:
    settings = PipelineSettings(selector=selector, lasso_cv=3, k_best=20, n_estimators=40,
                                tune=False, correlation_threshold=None)
    aucs = [_cv_auc(_noise(seed), name, settings, seed) for seed in (0, 1)]
    assert 0.40 <= np.mean(aucs) <= 0.60, aucs


def test_selecting_before_cv_leaks_and_is_detected() -> None:
    """The classic leak: features chosen on all cases, then cross-validated."""
    aucs = []
    for seed in (0, 1):
        df = _noise(seed)
        cols = [c for c in df.columns if c.startswith("original_")]
        y, g = df["label"].to_numpy(), df["patient_id"].to_numpy()
        X = SelectKBest(f_classif, k=20).fit_transform(df[cols], y)  # sees every test case
        scores = np.zeros(len(y))
        for fold in grouped_folds(y, g, k=5, seed=seed):
            m = LogisticRegression(max_iter=1000).fit(X[fold.train], y[fold.train])
            scores[fold.test] = m.predict_proba(X[fold.test])[:, 1]
        aucs.append(roc_auc_score(y, scores))
    assert np.mean(aucs) > 0.70, aucs  # far outside the 0.40-0.60 band of the honest pipeline


def test_honest_pipeline_same_data_stays_at_chance() -> None:
    """Same data and selector as the leaky variant, but selection inside the folds."""
    settings = PipelineSettings(selector="univariate", k_best=20, tune=False,
                                near_zero_variance=False, correlation_threshold=None)
    aucs = [_cv_auc(_noise(seed), "lr", settings, seed) for seed in (0, 1)]
    assert 0.40 <= np.mean(aucs) <= 0.60, aucs


def _cohort_table(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 160
    df = pd.DataFrame(rng.normal(size=(n, 12)), columns=[f"original_glcm_f{i}" for i in range(12)])
    df["case_id"] = [f"c{i}" for i in range(n)]
    df["patient_id"] = [f"p{i // 3}" for i in range(n)]
    df["label"] = (df["original_glcm_f0"] + rng.normal(size=n) > 0).astype(int)
    pid = df["patient_id"].str[1:].astype(int)
    df["split"] = np.where(pid % 4 == 0, "external", "train")
    return df


@pytest.fixture(scope="module")
def cohort_result():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _cohort_table(), fit_and_compare(
            _cohort_table(), label="label", group="patient_id", split="split",
            models=["lr", "rfq"], cv=4, repeats=2, seed=0, importance=(),
            settings=PipelineSettings(n_estimators=30, tune=False, selector="none"))


@pytest.mark.slow
def test_no_patient_on_both_sides(cohort_result) -> None:
    _, res = cohort_result
    cv = res.predictions[res.predictions.cohort == "cv"]
    # every patient is predicted in exactly one fold per repeat and model
    per = cv.groupby(["model_id", "repeat", "patient_id"])["fold"].nunique()
    assert (per == 1).all()
    # every case is held out exactly once per repeat
    assert (cv.groupby(["model_id", "repeat", "case_id"]).size() == 1).all()
    # external patients never appear in the cross-validation
    ext = set(res.predictions[res.predictions.cohort == "external"].patient_id)
    assert ext and not ext & set(cv.patient_id)


def test_grouped_folds_never_split_a_patient() -> None:
    rng = np.random.default_rng(0)
    g = rng.integers(0, 40, 200).astype(str)
    y = rng.integers(0, 2, 200)
    for f in grouped_folds(y, g, k=5, repeats=3, seed=1):
        assert not set(g[f.train]) & set(g[f.test])


def test_threshold_is_youden_on_training_oof_and_carried_unchanged(cohort_result) -> None:
    df, res = cohort_result
    comp = res.comparison
    for mid in ("lr", "rfq"):
        rows = comp[comp.model_id == mid].set_index("cohort")
        assert rows.loc["external", "threshold"] == res.thresholds[mid]
        assert np.isnan(rows.loc["cv", "threshold"])  # the cv row: per-fold thresholds
        cv = res.predictions[(res.predictions.model_id == mid) & (res.predictions.cohort == "cv")]
        oof = cv.groupby("case_id").agg(y=("y_true", "first"), s=("score", "mean"))
        # independent: Youden's J at the chosen threshold is sklearn's maximal J
        fpr, tpr, _ = roc_curve(oof.y, oof.s)
        t = res.thresholds[mid]
        pos = oof.s >= t
        j = pos[oof.y == 1].mean() - pos[oof.y == 0].mean()
        assert j == pytest.approx((tpr - fpr).max(), abs=1e-9)
        # external metrics are those of the carried threshold, by hand
        ext = res.predictions[(res.predictions.model_id == mid)
                              & (res.predictions.cohort == "external")]
        called = ext.score >= t
        assert rows.loc["external", "sensitivity"] == pytest.approx(called[ext.y_true == 1].mean())
        assert rows.loc["external", "specificity"] == pytest.approx((~called)[ext.y_true == 0].mean())
        assert rows.loc["external", "auc"] == pytest.approx(roc_auc_score(ext.y_true, ext.score))
        assert rows.loc["cv", "auc_pooled"] == pytest.approx(roc_auc_score(oof.y, oof.s))
