"""The classifier registry: ``CLASSIFIERS = {"lr": ..., "rfq": ...}``.

Every entry builds an unfitted scikit-learn-contract classifier from a seed and a job
count, and carries a small default tuning grid (keys are parameters of the classifier
itself; :mod:`thyromics.models.pipeline` prefixes them with the pipeline step name).
Forests grown by :class:`~thyromics.models.rfq.OOBForestClassifier` (``rf``, ``rfq``)
tune ``max_features`` and ``min_samples_leaf`` on their out-of-bag error inside
``fit`` and need no grid search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from thyromics.errors import InputError, did_you_mean

__all__ = ["ClassifierSpec", "CLASSIFIERS", "get_classifier", "make_classifier"]


@dataclass(frozen=True)
class ClassifierSpec:
    """One registry entry.

    Parameters
    ----------
    name : str
        Registry key.
    description : str
        One line for listings.
    factory : callable
        ``factory(seed: int, n_jobs: int, n_estimators: int) -> estimator``.
    grid : mapping
        Default tuning grid over the classifier's own parameters (may be empty).
    tree_based : bool
        True for tree ensembles (SHAP TreeExplainer applies).
    oob_forest : bool
        True when the estimator is an OOB-tuned forest (VIMP applies).
    space : mapping
        Search space for ``tuner="optuna"``: ``("int", low, high)``,
        ``("float", low, high)``, ``("logfloat", low, high)`` or
        ``("choice", (values...))`` per parameter. Empty: the grid's values are used as
        categorical choices.
    """

    name: str
    description: str
    factory: Callable[[int, int, int], Any]
    grid: Mapping[str, tuple] = field(default_factory=dict)
    tree_based: bool = False
    oob_forest: bool = False
    space: Mapping[str, tuple] = field(default_factory=dict)


def _lr(seed: int, n_jobs: int, n_trees: int):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(C=1.0, max_iter=2000, random_state=seed)


def _svm(seed: int, n_jobs: int, n_trees: int):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC
    # Platt scaling fitted by internal 3-fold CV on the training data only.
    return CalibratedClassifierCV(SVC(C=1.0, kernel="rbf", random_state=seed),
                                  method="sigmoid", cv=3, ensemble=False)


def _knn(seed: int, n_jobs: int, n_trees: int):
    from sklearn.neighbors import KNeighborsClassifier
    return KNeighborsClassifier(n_neighbors=15, n_jobs=n_jobs)


def _mlp(seed: int, n_jobs: int, n_trees: int):
    from sklearn.neural_network import MLPClassifier
    # L-BFGS: fast and stable on the small tables of radiomics studies.
    return MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-1, solver="lbfgs", max_iter=500,
                         random_state=seed)


def _rf(seed: int, n_jobs: int, n_trees: int):
    from thyromics.models.rfq import OOBForestClassifier
    return OOBForestClassifier(n_estimators=n_trees, max_features_grid=("sqrt", 0.1, 0.3),
                               min_samples_leaf_grid=(1, 5), random_state=seed, n_jobs=n_jobs)


def _rfq(seed: int, n_jobs: int, n_trees: int):
    from thyromics.models.rfq import RFQClassifier
    return RFQClassifier(n_estimators=n_trees, max_features_grid=("sqrt", 0.1, 0.3),
                         min_samples_leaf_grid=(1, 5), random_state=seed, n_jobs=n_jobs)


def _extratrees(seed: int, n_jobs: int, n_trees: int):
    from sklearn.ensemble import ExtraTreesClassifier
    return ExtraTreesClassifier(n_estimators=n_trees, random_state=seed, n_jobs=n_jobs)


def _balanced_rf(seed: int, n_jobs: int, n_trees: int):
    from imblearn.ensemble import BalancedRandomForestClassifier
    return BalancedRandomForestClassifier(n_estimators=n_trees, sampling_strategy="all",
                                          replacement=True, bootstrap=False,
                                          random_state=seed, n_jobs=n_jobs)


def _xgboost(seed: int, n_jobs: int, n_trees: int):
    from xgboost import XGBClassifier
    return XGBClassifier(n_estimators=min(n_trees, 300), max_depth=3, learning_rate=0.05,
                         subsample=0.8, colsample_bytree=0.8, random_state=seed,
                         n_jobs=n_jobs, tree_method="hist", verbosity=0)


def _lightgbm(seed: int, n_jobs: int, n_trees: int):
    from lightgbm import LGBMClassifier
    return LGBMClassifier(n_estimators=min(n_trees, 300), num_leaves=7, learning_rate=0.05,
                          min_child_samples=10, subsample=0.8, subsample_freq=1,
                          colsample_bytree=0.8, random_state=seed, n_jobs=n_jobs,
                          verbose=-1)


CLASSIFIERS: Mapping[str, ClassifierSpec] = MappingProxyType({
    "lr": ClassifierSpec("lr", "L2 logistic regression", _lr, {"C": (0.01, 0.1, 1.0)},
                         space={"C": ("logfloat", 1e-3, 1e2)}),
    "svm": ClassifierSpec("svm", "RBF support-vector machine (Platt probabilities)", _svm,
                          {"estimator__C": (0.1, 1.0, 10.0)},
                          space={"estimator__C": ("logfloat", 1e-2, 1e2)}),
    "knn": ClassifierSpec("knn", "k-nearest neighbours", _knn, {"n_neighbors": (5, 15, 31)},
                          space={"n_neighbors": ("int", 3, 51)}),
    "mlp": ClassifierSpec("mlp", "one-hidden-layer perceptron", _mlp,
                          {"alpha": (1e-3, 1e-1, 1.0)},
                          space={"alpha": ("logfloat", 1e-4, 10.0)}),
    "rf": ClassifierSpec("rf", "random forest, OOB-tuned max_features/min_samples_leaf",
                         _rf, {}, tree_based=True, oob_forest=True),
    "extratrees": ClassifierSpec("extratrees", "extremely randomised trees", _extratrees,
                                 {"min_samples_leaf": (1, 5)}, tree_based=True,
                                 space={"min_samples_leaf": ("int", 1, 10),
                                        "max_features": ("choice", ("sqrt", 0.1, 0.3))}),
    "xgboost": ClassifierSpec("xgboost", "gradient boosting (XGBoost, hist)", _xgboost,
                              {"max_depth": (2, 4)}, tree_based=True,
                              space={"max_depth": ("int", 2, 6),
                                     "learning_rate": ("logfloat", 0.01, 0.3),
                                     "subsample": ("float", 0.5, 1.0),
                                     "colsample_bytree": ("float", 0.3, 1.0),
                                     "min_child_weight": ("logfloat", 1.0, 10.0)}),
    "lightgbm": ClassifierSpec("lightgbm", "gradient boosting (LightGBM)", _lightgbm,
                               {"num_leaves": (4, 15)}, tree_based=True,
                               space={"num_leaves": ("int", 4, 63),
                                      "learning_rate": ("logfloat", 0.01, 0.3),
                                      "min_child_samples": ("int", 5, 50),
                                      "colsample_bytree": ("float", 0.3, 1.0),
                                      "reg_lambda": ("logfloat", 1e-3, 10.0)}),
    "rfq": ClassifierSpec("rfq", "random-forest quantile classifier (O'Brien & Ishwaran "
                          "2019), OOB-tuned", _rfq, {}, tree_based=True, oob_forest=True),
    "balanced_rf": ClassifierSpec("balanced_rf", "balanced random forest (imbalanced-learn)",
                                  _balanced_rf, {"min_samples_leaf": (1, 5)},
                                  tree_based=True,
                                  space={"min_samples_leaf": ("int", 1, 10)}),
})


def get_classifier(name: str) -> ClassifierSpec:
    """The registry entry called ``name``.

    Raises
    ------
    InputError
        Unknown name; the message lists the valid names and the closest matches.
    """
    key = str(name).strip().lower()
    if key in CLASSIFIERS:
        return CLASSIFIERS[key]
    hint = did_you_mean(key, list(CLASSIFIERS), n=3, cutoff=0.5)
    raise InputError(f"unknown classifier {name!r}; valid names: "
                     f"{', '.join(CLASSIFIERS)}.{hint}")


def make_classifier(name: str, *, seed: int = 0, n_jobs: int = 1, n_estimators: int = 500):
    """A fresh, unfitted classifier of registry entry ``name``."""
    return get_classifier(name).factory(seed, n_jobs, n_estimators)
