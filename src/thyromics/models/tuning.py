"""Hyper-parameter search and probability calibration, both inside training data only.

* :func:`make_search` wraps a pipeline in an inner patient-grouped search: scikit-learn's
  ``GridSearchCV`` over the registry grid, or Optuna's TPE sampler
  (``optuna_integration.OptunaSearchCV``, seeded) over the registry's search space, as
  the CRIT/iTED study's code (github.com/Spr1te123/THCA-ITH, ``3.1_Lightgbm_training.py``)
  tuned its LightGBM. Both score by ROC AUC on the inner folds.
* :class:`CalibratedPipeline` fits a (possibly tuned) pipeline and a probability
  calibrator (Platt sigmoid or isotonic; scikit-learn's ``CalibratedClassifierCV`` with
  ``ensemble=False``) on out-of-fold predictions of inner patient-grouped folds. Used
  inside the outer cross-validation, the out-of-fold training scores are calibrated
  before the threshold is chosen on them — the order the CRIT/iTED study's design needs
  (its code calibrated after choosing its threshold, on uncalibrated probabilities, and
  then applied that threshold to calibrated ones). Resampling (SMOTE) runs only in
  the inner training parts, so the calibrator learns the true class balance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

__all__ = ["optuna_distributions", "make_search", "is_search", "CalibratedPipeline",
           "cap_smote_neighbours"]


def optuna_distributions(space: dict[str, tuple], grid: dict[str, tuple]) -> dict[str, Any]:
    """Optuna distributions from a registry space (or, if empty, the grid's values)."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    if not space:
        return {k: CategoricalDistribution(list(v)) for k, v in grid.items()}
    out: dict[str, Any] = {}
    for k, spec in space.items():
        kind = spec[0]
        if kind == "int":
            out[k] = IntDistribution(int(spec[1]), int(spec[2]))
        elif kind in ("float", "logfloat"):
            out[k] = FloatDistribution(float(spec[1]), float(spec[2]), log=kind == "logfloat")
        elif kind == "choice":
            out[k] = CategoricalDistribution(list(spec[1]))
        else:
            raise ValueError(f"unknown search-space kind {kind!r} for {k!r}")
    return out


def make_search(pipe, classifier: str, *, tuner: str, inner_cv: int, trials: int, seed: int):
    """``pipe`` inside an inner grouped search, or ``pipe`` itself when nothing to tune."""
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    from thyromics.models.registry import get_classifier

    spec = get_classifier(classifier)
    if not spec.grid and not spec.space:
        return pipe
    inner = StratifiedGroupKFold(n_splits=inner_cv, shuffle=True, random_state=seed)
    if tuner == "grid":
        if not spec.grid:
            return pipe
        return GridSearchCV(pipe, {f"classifier__{k}": list(v) for k, v in spec.grid.items()},
                            cv=inner, scoring="roc_auc", n_jobs=1, refit=True,
                            error_score="raise")
    import warnings

    import optuna

    with warnings.catch_warnings():  # deprecated/experimental notices of optuna itself
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        import optuna.terminator  # noqa: F401  (imported by fit; imported here, silently)
        from optuna_integration import OptunaSearchCV

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = optuna_distributions(dict(spec.space), dict(spec.grid))
        return OptunaSearchCV(pipe, {f"classifier__{k}": d for k, d in dists.items()},
                              cv=inner, scoring="roc_auc", n_trials=trials, random_state=seed,
                              refit=True, error_score="raise", n_jobs=1)


def is_search(model) -> bool:
    """True for an (unfitted or fitted) inner search object."""
    return hasattr(model, "cv") and hasattr(model, "estimator") and hasattr(model, "scoring")


def cap_smote_neighbours(pipe, y: np.ndarray, inner_folds: int | None = None) -> None:
    """SMOTE's neighbour count capped at the (inner-training) minority size minus one."""
    steps = getattr(pipe, "named_steps", {})
    if "resample" not in steps or not hasattr(steps["resample"], "k_neighbors"):
        return
    minority = int(np.bincount(np.asarray(y, int)).min())
    if inner_folds:
        minority = int(minority * (inner_folds - 1) / inner_folds)
    k = max(1, min(steps["resample"].k_neighbors, minority - 1))
    steps["resample"].set_params(k_neighbors=k)


class CalibratedPipeline(ClassifierMixin, BaseEstimator):
    """A pipeline (or a search over one) with a calibrator fitted on inner out-of-fold scores.

    Parameters
    ----------
    estimator : Pipeline or search
        Tuned first (on all the training data it is given) when it is a search; the
        tuned pipeline is then refitted on each inner training part.
    method : {"sigmoid", "isotonic"}
        Platt scaling or isotonic regression.
    cv : int
        Inner patient-grouped stratified folds for the out-of-fold scores.
    random_state : int
    """

    def __init__(self, estimator=None, method: str = "sigmoid", cv: int = 3,
                 random_state: int = 0) -> None:
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import StratifiedGroupKFold

        y = np.asarray(y, int)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        est = self.estimator
        self.best_params_ = None
        if is_search(est):
            est.fit(X, y, groups=groups)
            self.best_params_ = est.best_params_
            base = clone(est.best_estimator_).set_params(memory=None)
        else:
            base = clone(est)
        cap_smote_neighbours(base, y, self.cv)
        splits = list(StratifiedGroupKFold(n_splits=self.cv, shuffle=True,
                                           random_state=self.random_state).split(X, y, groups))
        self.calibrated_ = CalibratedClassifierCV(base, method=self.method, cv=splits,
                                                  ensemble=False).fit(X, y)
        self.pipeline_ = self.calibrated_.calibrated_classifiers_[0].estimator
        if hasattr(self.pipeline_, "memory"):  # a shared step cache stays out of the model
            self.pipeline_.set_params(memory=None)
        self.classes_ = self.calibrated_.classes_
        return self

    def predict_proba(self, X):
        return self.calibrated_.predict_proba(X)

    def predict(self, X):
        return self.calibrated_.predict(X)

    # The fitted pipeline's steps, so importance and persistence see the usual shape.
    @property
    def steps(self):
        return self.pipeline_.steps

    @property
    def named_steps(self):
        return self.pipeline_.named_steps

    def __getitem__(self, item):
        return self.pipeline_[item]
