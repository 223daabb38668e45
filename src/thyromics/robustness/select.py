"""The model stage's ``robust`` step: drop features unstable under perturbation.

:class:`RobustFilter` is fitted on the training part of every fold: it reads the long
perturbed table (``thyromics robustness``, ``OUT/perturbations.parquet``), keeps the
rows of the training cases only (the case ids come from the input frame's ``case_id``
column), computes each feature's ICC over the perturbations on them, and drops the
features below the threshold. The perturbations are label-free, but which features pass
depends on the cases the ICC is computed on, so held-out cases never take part.
Columns absent from the perturbed table (clinical variables, deep features) are not
judged and pass unchanged.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["RobustFilter", "CASE_COLUMN", "present", "removed_summary"]

#: The input column holding each row's case id (a passenger: never a predictor).
CASE_COLUMN = "case_id"


@functools.lru_cache(maxsize=4)
def _perturbed(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    from thyromics.robustness.run import read_perturbed

    return read_perturbed(path)


def _load(path: str | Path) -> pd.DataFrame:
    from thyromics.robustness.run import perturbed_path

    p = perturbed_path(path)
    st = p.stat()
    return _perturbed(str(p.resolve()), st.st_mtime_ns, st.st_size)


class RobustFilter(TransformerMixin, BaseEstimator):
    """Keep features whose ICC over perturbations, on the training cases, is high enough.

    Parameters
    ----------
    perturbed : str
        A robustness output folder or its ``perturbations.parquet``.
    features : sequence of str
        The columns judged (those also in the perturbed table); others pass.
    threshold : float
        Kept when the ICC (or its lower 95 % bound) is at least this.
    kind : {"icc1", "icc2", "icc3"}
    criterion : {"icc", "lower"}

    Attributes
    ----------
    icc_ : DataFrame
        The training cases' ICC table (:func:`thyromics.robustness.icc.feature_icc`).
    removed_ : list of str
        Columns dropped.
    n_judged_, n_cases_ : int
        Columns rated and training cases the ICC used.
    """

    def __init__(self, *, perturbed: str, features: Sequence[str] = (), threshold: float = 0.9,
                 kind: str = "icc1", criterion: Literal["icc", "lower"] = "icc") -> None:
        self.perturbed = perturbed
        self.features = features
        self.threshold = threshold
        self.kind = kind
        self.criterion = criterion

    def fit(self, X, y=None):
        from thyromics.robustness.icc import feature_icc, stable_features

        if not isinstance(X, pd.DataFrame) or CASE_COLUMN not in X.columns:
            raise InputError(f"the robust step needs the {CASE_COLUMN!r} column of the training "
                             "cases to find their perturbed versions")
        long = _load(self.perturbed)
        judged = [c for c in self.features if c in long.columns and c in X.columns]
        cases = X[CASE_COLUMN].astype(str).unique().tolist()
        known = set(long["case_id"].astype(str))
        missing = [c for c in cases if c not in known]
        if len(missing) == len(cases):
            raise InputError(f"none of the {len(cases)} training cases is in the perturbed table "
                             f"{self.perturbed}; run `thyromics robustness` on the same manifest")
        if missing:
            warnings.warn(f"{len(missing)} of {len(cases)} training case(s) have no perturbed "
                          f"versions (e.g. {missing[:3]}): the ICC uses the other "
                          f"{len(cases) - len(missing)}", ThyromicsWarning, stacklevel=2)
        if judged:
            self.icc_ = feature_icc(long, judged, kinds=(self.kind,), cases=cases)
            keep = stable_features(self.icc_, threshold=self.threshold, kind=self.kind,
                                   criterion=self.criterion)
            self.removed_ = [c for c, k in zip(judged, keep) if not k]
            self.n_cases_ = int(self.icc_["n_cases"].max()) if len(self.icc_) else 0
        else:
            self.icc_ = pd.DataFrame(columns=["feature", self.kind])
            self.removed_ = []
            self.n_cases_ = 0
        self.n_judged_ = len(judged)
        gone = set(self.removed_)
        self.columns_ = [c for c in X.columns if c not in gone]
        return self

    def transform(self, X):
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise InputError(f"column(s) {missing[:5]} the robust step was fitted with are missing")
        return X[self.columns_]

    def get_support_names(self) -> list[str]:
        """Columns kept (input order)."""
        return list(self.columns_)


def present(columns: Sequence[str]) -> "_Present":
    """A picklable ColumnTransformer selector: the given columns still in the frame."""
    return _Present(tuple(columns))


class _Present:
    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns

    def __call__(self, X: pd.DataFrame) -> list[str]:
        have = set(X.columns)
        return [c for c in self.columns if c in have]

    def __repr__(self) -> str:
        return f"present({len(self.columns)} columns)"


def removed_summary(pipeline) -> dict | None:
    """``{"n_judged", "n_removed", "n_cases", "removed"}`` of a fitted pipeline's robust step."""
    step = getattr(pipeline, "named_steps", {}).get("robust")
    if step is None or not hasattr(step, "removed_"):
        return None
    return {"n_judged": int(step.n_judged_), "n_removed": len(step.removed_),
            "n_cases": int(step.n_cases_), "threshold": float(step.threshold),
            "kind": step.kind, "criterion": step.criterion, "removed": list(step.removed_)}

