"""Random-forest quantile classifier and OOB tuning."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from thyromics.models.rfq import OOBForestClassifier, RFQClassifier, gmean_error, oob_error


def _imbalanced(n: int, seed: int, prevalence: float = 0.1):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(int)
    X = rng.normal(size=(n, 6))
    X[:, 0] += 1.2 * y  # modest signal: class overlap is large
    X[:, 1] += 0.8 * y
    return X, y


def test_threshold_is_training_prevalence() -> None:
    X, y = _imbalanced(200, 0)
    y[:] = 0
    y[:37] = 1  # 37 / 200
    m = RFQClassifier(n_estimators=20, random_state=0).fit(X, y)
    assert m.threshold_ == pytest.approx(37 / 200)
    p = m.predict_proba(X)[:, 1]
    assert np.array_equal(m.predict(X), (p >= 37 / 200).astype(int))


def test_plain_forest_threshold_is_half() -> None:
    X, y = _imbalanced(200, 0)
    assert OOBForestClassifier(n_estimators=10).fit(X, y).threshold_ == 0.5


def test_rfq_is_more_sensitive_than_rf_on_imbalanced_data() -> None:
    X, y = _imbalanced(600, 1)
    Xt, yt = _imbalanced(2000, 2)
    rf = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    rfq = RFQClassifier(n_estimators=100, random_state=0, tune=False).fit(X, y)
    sens_rf = rf.predict(Xt)[yt == 1].mean()
    sens_rfq = rfq.predict(Xt)[yt == 1].mean()
    assert sens_rfq > sens_rf + 0.3, (sens_rf, sens_rfq)
    # and RFQ's G-mean is the better one (O'Brien & Ishwaran 2019)
    assert gmean_error(yt, rfq.predict(Xt)) < gmean_error(yt, rf.predict(Xt))


def test_gmean_error_hand_example() -> None:
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    called = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 1])  # sens 3/4, spec 4/6
    assert gmean_error(y, called) == pytest.approx(1 - np.sqrt(0.75 * 4 / 6))


def test_oob_tuning_keeps_the_lowest_oob_error() -> None:
    X, y = _imbalanced(300, 3, prevalence=0.3)
    m = RFQClassifier(n_estimators=60, max_features_grid=(1, 3, 6),
                      min_samples_leaf_grid=(1, 10), random_state=0).fit(X, y)
    assert len(m.oob_errors_) == 6
    errs = [e for *_, e in m.oob_errors_]
    best = m.oob_errors_[int(np.argmin(errs))]
    assert (m.best_params_["max_features"], m.best_params_["min_samples_leaf"]) == best[:2]
    # independent recomputation of the chosen forest's OOB G-mean error
    ref = RandomForestClassifier(n_estimators=60, max_features=best[0], min_samples_leaf=best[1],
                                 oob_score=True, random_state=0).fit(X, y)
    oob_p = ref.oob_decision_function_[:, 1]
    ok = np.isfinite(oob_p)
    called = oob_p[ok] >= y.mean()
    sens, spec = called[y[ok] == 1].mean(), (~called)[y[ok] == 0].mean()
    assert min(errs) == pytest.approx(1 - np.sqrt(sens * spec))
    assert oob_error(m.forest_, y, m.threshold_, "gmean") == pytest.approx(min(errs))
