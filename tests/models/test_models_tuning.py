"""Optuna tuning and calibration: inside the training data only, seeded, and useful."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from thyromics.models.cv import cross_validated_scores, grouped_folds
from thyromics.models.pipeline import PipelineSettings, build_model, final_pipeline, fit_model
from thyromics.models.registry import CLASSIFIERS
from thyromics.models.tuning import CalibratedPipeline, optuna_distributions


def _data(n: int, seed: int, prevalence: float = 0.2, p: int = 8):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    logit = np.log(prevalence / (1 - prevalence)) + 1.5 * X["f0"] - 1.0 * X["f1"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y, np.arange(n) // 2


@pytest.mark.parametrize("name", [k for k, v in CLASSIFIERS.items() if v.grid or v.space])
def test_every_search_space_builds_valid_distributions(name) -> None:
    spec = CLASSIFIERS[name]
    dists = optuna_distributions(dict(spec.space), dict(spec.grid))
    assert set(dists) == set(spec.space or spec.grid)
    assert set(spec.grid) <= set(dists) or not spec.space  # the grid's keys stay searchable
    from sklearn.base import clone

    from thyromics.models.registry import make_classifier
    clf = make_classifier(name)
    for key, d in dists.items():  # every sampled key is a real parameter of the classifier
        value = d.choices[0] if hasattr(d, "choices") else d.low
        clone(clf).set_params(**{key: value})


def test_optuna_search_is_seeded_runs_the_trials_and_stays_in_the_space() -> None:
    X, y, g = _data(160, 0, prevalence=0.4)
    s = PipelineSettings(tuner="optuna", trials=6, selector="none", correlation_threshold=None)
    fits = []
    for _ in range(2):
        m = build_model("lightgbm", s, numeric=list(X.columns), seed=3)
        fit_model(m, X, y, g)
        fits.append(m)
    assert fits[0].best_params_ == fits[1].best_params_
    assert len(fits[0].study_.trials) == 6
    space = CLASSIFIERS["lightgbm"].space
    for key, value in fits[0].best_params_.items():
        kind, low, high = space[key.removeprefix("classifier__")]
        assert low <= value <= high
    # refitted with the best parameters
    assert final_pipeline(fits[0]).named_steps["classifier"].get_params()["num_leaves"] == \
        fits[0].best_params_["classifier__num_leaves"]


def test_optuna_inner_folds_keep_patients_together() -> None:
    X, y, g = _data(120, 1, prevalence=0.4)
    s = PipelineSettings(tuner="optuna", trials=2, selector="none", correlation_threshold=None)
    m = build_model("lr", s, numeric=list(X.columns), seed=0)
    for train, test in m.cv.split(X, y, g):
        assert not set(g[train]) & set(g[test])


def test_calibration_fixes_smote_inflated_probabilities() -> None:
    """SMOTE trains on a 50/50 balance: raw probabilities overshoot a 15% prevalence on
    new data; the calibrator, fitted on inner out-of-fold scores of the original training
    cases, brings them back (calibration-in-the-large and Brier score, on held-out data)."""
    X, y, g = _data(600, 2, prevalence=0.15)
    Xn, yn, _ = _data(3000, 3, prevalence=0.15)
    base = PipelineSettings(resample="smote", tune=False, selector="none",
                            correlation_threshold=None)
    results = {}
    for cal in ("none", "sigmoid"):
        m = build_model("lr", base.model_copy(update={"calibration": cal}),
                        numeric=list(X.columns), seed=0)
        fit_model(m, X, y, g)
        p = final_pipeline(m).predict_proba(Xn)[:, 1]
        results[cal] = (abs(p.mean() - yn.mean()), np.mean((p - yn) ** 2), roc_auc_score(yn, p))
    assert results["none"][0] > 0.08  # the defect is real
    assert results["sigmoid"][0] < 0.03
    assert results["sigmoid"][1] < results["none"][1]
    assert abs(results["sigmoid"][2] - results["none"][2]) < 0.01  # ranking kept


def test_calibrated_pipeline_exposes_the_fitted_steps_and_its_tuning() -> None:
    X, y, g = _data(200, 4, prevalence=0.3)
    s = PipelineSettings(tuner="grid", calibration="isotonic", selector="none",
                         correlation_threshold=None)
    m = build_model("lr", s, numeric=list(X.columns), seed=0)
    assert isinstance(m, CalibratedPipeline)
    fit_model(m, X, y, g)
    assert set(m.best_params_) == {"classifier__C"}
    assert m.named_steps["classifier"].C == m.best_params_["classifier__C"]
    p = m.predict_proba(X)[:, 1]
    assert p.min() >= 0 and p.max() <= 1


def test_noise_stays_at_chance_with_optuna_and_calibration() -> None:
    rng = np.random.default_rng(5)
    n, p = 150, 300
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"f{i}" for i in range(p)])
    y = rng.permutation(np.r_[np.zeros(75), np.ones(75)]).astype(int)
    g = np.arange(n) // 2
    s = PipelineSettings(tuner="optuna", trials=4, calibration="sigmoid",
                         selector="univariate", k_best=10, correlation_threshold=None)
    folds = grouped_folds(y, g, k=5, seed=0)
    oof = cross_validated_scores(lambda: build_model("lr", s, numeric=list(X.columns), seed=0),
                                 fit_model, X, y, g, folds)
    assert 0.35 <= roc_auc_score(y[oof["row"]], oof["score"]) <= 0.65


def test_cli_optuna_and_calibration(tmp_path) -> None:
    from thyromics.cli import app

    X, y, g = _data(120, 6, prevalence=0.35)
    df = X.add_prefix("original_glcm_").assign(case_id=[f"c{i}" for i in range(120)],
                                               patient_id=[f"p{i}" for i in g], label=y)
    df.to_csv(tmp_path / "f.csv", index=False)
    r = CliRunner().invoke(app, ["model", str(tmp_path / "f.csv"), "--models", "lr,xgboost",
                                 "--cv", "3", "--tuner", "optuna", "--trials", "3",
                                 "--calibrate", "sigmoid", "--selector", "none",
                                 "--importance", "", "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    comp = pd.read_csv(tmp_path / "out" / "comparison.csv")
    assert set(comp.model) == {"lr", "xgboost"}
    assert (comp.auc_pooled.fillna(comp.auc) > 0.6).all()  # cv "auc" is the mean of 3 fold AUCs
    r = CliRunner().invoke(app, ["model", str(tmp_path / "f.csv"), "--tuner", "bayes",
                                 "-o", str(tmp_path / "x")])
    assert r.exit_code != 0 and "grid" in r.output
