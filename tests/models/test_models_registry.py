"""The classifier registry and the pipeline's selection steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.models.pipeline import (PipelineSettings, build_model, build_pipeline,
                                       final_pipeline, fit_model, transformed_feature_names)
from thyromics.models.registry import CLASSIFIERS, get_classifier, make_classifier
from thyromics.models.selection import (CorrelationFilter, LassoSelector, MRMRSelector,
                                        NearZeroVariance, UnivariateSelector)

EXPECTED = {"lr", "svm", "knn", "mlp", "rf", "extratrees", "xgboost", "lightgbm", "rfq",
            "balanced_rf"}


def test_registry_holds_the_ten_classifiers() -> None:
    assert set(CLASSIFIERS) == EXPECTED


def test_unknown_name_lists_valid_names_and_closest() -> None:
    with pytest.raises(InputError) as e:
        get_classifier("rqf")
    msg = str(e.value)
    assert "Did you mean" in msg and "'rfq'" in msg.split("Did you mean")[1]
    assert all(name in msg for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_grid_key_is_a_parameter(name: str) -> None:
    clf = make_classifier(name, n_estimators=5)
    params = clf.get_params()
    for key, values in CLASSIFIERS[name].grid.items():
        assert key in params, (name, key)
        assert len(values) >= 2


def _data(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"original_glcm_f{i}" for i in range(8)])
    X["sex"] = rng.choice(["m", "f"], n)
    X.loc[::7, "original_glcm_f3"] = np.nan
    y = (X["original_glcm_f0"] + 0.5 * rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_classifier_fits_in_a_pipeline(name: str) -> None:
    X, y = _data()
    s = PipelineSettings(n_estimators=20, selector="univariate", k_best=5, resample="smote")
    model = build_model(name, s, numeric=list(X.columns[:-1]), categorical=["sex"])
    fit_model(model, X, y, groups=np.arange(len(y)) // 2)
    p = model.predict_proba(X)[:, 1]
    assert p.shape == (len(y),) and np.all((p >= 0) & (p <= 1))
    # the informative feature survives selection and the model uses it
    assert "original_glcm_f0" in transformed_feature_names(final_pipeline(model))
    assert np.corrcoef(p, X["original_glcm_f0"])[0, 1] > 0.3


def test_categorical_columns_are_one_hot_encoded_inside() -> None:
    X, y = _data()
    s = PipelineSettings(selector="none", correlation_threshold=None)
    pipe = build_pipeline("lr", s, numeric=["original_glcm_f0"], categorical=["sex"]).fit(X, y)
    names = transformed_feature_names(pipe)
    assert names == ["original_glcm_f0", "sex_f", "sex_m"]
    # an unseen category at prediction time is ignored, not an error
    Z = X.head(3).copy()
    Z["sex"] = "unknown"
    assert pipe.predict_proba(Z).shape == (3, 2)


def test_scaler_is_fitted_on_training_rows_only() -> None:
    X, y = _data()
    s = PipelineSettings(selector="none", correlation_threshold=None)
    pipe = build_pipeline("lr", s, numeric=["original_glcm_f1"]).fit(X.iloc[:60], y[:60])
    scaler = pipe.named_steps["prepare"].named_transformers_["num"].named_steps["scale"]
    assert scaler.mean_[0] == pytest.approx(X["original_glcm_f1"].iloc[:60].mean())


def test_near_zero_variance_hand_example() -> None:
    X = np.c_[np.ones(40),                      # constant
              np.r_[np.zeros(39), 1.0],         # 39:1 ratio, 5 % unique -> dropped
              np.r_[np.zeros(30), np.ones(10)],  # 3:1 ratio -> kept
              np.arange(40.0)]                  # all distinct -> kept
    assert NearZeroVariance().fit(X).get_support().tolist() == [False, False, True, True]


def test_correlation_filter_drops_one_of_a_duplicate_pair() -> None:
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(3, 100))
    X = np.c_[a, a + 0.01 * rng.normal(size=100), b, c]
    keep = CorrelationFilter(threshold=0.9).fit(X).get_support()
    assert keep[:2].sum() == 1 and keep[2] and keep[3]


def test_lasso_selects_the_signal_and_1se_is_sparser() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 30))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=200) > 0).astype(int)
    lo = LassoSelector(rule="min").fit(X, y)
    se = LassoSelector(rule="1se").fit(X, y)
    assert lo.get_support()[:2].all() and se.get_support()[:2].all()
    assert se.get_support().sum() <= lo.get_support().sum()
    assert se.C_ <= lo.C_
    # 1-SE rule by hand from the stored path
    i_min = int(np.argmin(lo.cv_deviance_))
    ok = lo.cv_deviance_ <= lo.cv_deviance_[i_min] + lo.cv_deviance_se_[i_min]
    assert se.C_ == pytest.approx(np.logspace(-3, 2, lo.n_Cs)[np.flatnonzero(ok)[0]])


def test_univariate_and_mrmr() -> None:
    rng = np.random.default_rng(3)
    n = 300
    x0, x1 = rng.normal(size=(2, n))
    y = (x0 + x1 + 0.3 * rng.normal(size=n) > 0).astype(int)
    X = np.c_[x0, x0 + 0.05 * rng.normal(size=n), x1, rng.normal(size=(n, 5))]
    uni = UnivariateSelector(k=2).fit(X, y).get_support()
    assert uni.tolist()[:3] == [True, True, False]  # the redundant pair wins univariately
    mr = MRMRSelector(k=2).fit(X, y).get_support()
    assert mr[2] and mr[:2].sum() == 1  # mRMR swaps the duplicate for the new information
