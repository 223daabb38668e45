"""Validation design: grouped stratified folds, cohorts, and the target-leakage guard.

- Patients, not images, are the unit of splitting: folds come from
  ``StratifiedGroupKFold`` on ``patient_id`` and are repeated with seeds
  ``seed, seed + 1, ...``.
- The ``split`` column names cohorts: the training cohort (``train``, ``training``,
  ``development``, ``derivation``, ``discovery``) is cross-validated and used to fit the
  final model; every other value (``internal``, ``test``, ``external`` ...) is a cohort
  that the final model scores unchanged.
- The leakage guard warns about any single predictor that separates the label almost
  perfectly on its own (univariate AUC in either direction >= 0.95 by default).
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import MODEL

__all__ = ["LeakageWarning", "Fold", "TRAIN_NAMES", "LIDC_LABEL_PATTERNS", "LABEL_NAME_PATTERNS",
           "univariate_auc",
           "leakage_guard", "exclude_columns", "grouped_folds", "check_folds", "cohorts",
           "cross_validated_scores", "inner_threshold"]

TRAIN_NAMES = frozenset({"train", "training", "development", "derivation", "discovery"})
LIDC_LABEL_PATTERNS: tuple[str, ...] = ("Malignancy*", "Diagnosis*")
#: Column names that suggest the outcome itself (checked by :func:`leakage_guard`).
LABEL_NAME_PATTERNS: tuple[str, ...] = ("*malignan*", "*diagnos*", "*patholog*", "*histolog*",
                                        "*biopsy*", "*outcome*", "*target*")


class LeakageWarning(ThyromicsWarning):
    """A predictor separates the label (almost) perfectly on its own: likely the label."""


@dataclass(frozen=True)
class Fold:
    """One train/test split: positions into the training cohort's rows."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def univariate_auc(X: pd.DataFrame, y: np.ndarray) -> pd.Series:
    """ROC AUC of every numeric column used alone as a score for ``y == 1``.

    Computed as the Mann-Whitney statistic ``U / (n1 n0)`` with mid-ranks for ties
    (Hanley & McNeil, Radiology 1982;143:29-36), on the rows where the column is
    finite. A column with one class missing gets NaN.
    """
    y = np.asarray(y).astype(bool)
    out = {}
    for col in X.columns:
        v = pd.to_numeric(X[col], errors="coerce").to_numpy(float)
        ok = np.isfinite(v)
        yy = y[ok]
        n1, n0 = int(yy.sum()), int((~yy).sum())
        if n1 == 0 or n0 == 0:
            out[col] = np.nan
            continue
        r = rankdata(v[ok])
        out[col] = (r[yy].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
    return pd.Series(out, dtype=float, name="auc")


def leakage_guard(X: pd.DataFrame, y: np.ndarray, *, threshold: float = 0.95,
                  name_patterns: Sequence[str] = LABEL_NAME_PATTERNS, label: str | None = None,
                  warn: bool = True) -> pd.DataFrame:
    """Flag predictors that look like the label: by separation or by name.

    Two independent rules:

    - separation: ``max(AUC, 1 - AUC) >= threshold`` (univariate AUC, either
      direction): the column alone nearly separates the classes; in real imaging data
      that is almost always the label, or a rating it was derived from, left in;
    - name: the column name matches a label-like pattern (``name_patterns``,
      case-insensitive ``fnmatch``; plus ``*<label>*`` when ``label`` is given), e.g.
      LIDC's ``Malignancy_value``, a single reader's rating of which the label is the
      vote: it may separate imperfectly (AUC 0.89) yet is the outcome itself.

    Emits one :class:`LeakageWarning` naming every flagged column with its AUC and
    reason, and returns them (columns ``column, auc, separation, reason``).
    """
    numeric = X.select_dtypes(include=["number", "bool"])
    auc = univariate_auc(numeric, y)
    sep = np.maximum(auc, 1 - auc)
    pats = list(name_patterns) + ([f"*{label}*"] if label else [])
    _, by_name = exclude_columns(list(X.columns), pats)
    rows = []
    for col in X.columns:
        reasons = []
        if col in sep.index and sep[col] >= threshold:
            reasons.append(f"separation >= {threshold}")
        if col in by_name:
            reasons.append("label-like name")
        if reasons:
            rows.append({"column": col, "auc": auc.get(col, np.nan),
                         "separation": sep.get(col, np.nan), "reason": " and ".join(reasons)})
    table = pd.DataFrame(rows, columns=["column", "auc", "separation", "reason"])
    table = table.sort_values("separation", ascending=False, kind="stable").reset_index(drop=True)
    if warn and len(table):
        shown = 10  # the full list is returned (and written to leakage.csv)
        names = "; ".join(f"{c!r} (AUC {a:.3f}, {r})" for c, a, r in
                          zip(table.column[:shown], table.auc[:shown], table.reason[:shown]))
        if len(table) > shown:
            names += f"; and {len(table) - shown} more (see {MODEL.name('leakage')})"
        warnings.warn(
            f"possible target leakage: {len(table)} predictor(s) look like the label: "
            f"{names}. If a column is derived from the outcome, exclude it "
            f"(--exclude PATTERN, e.g. 'Malignancy*'); separation threshold "
            f"leakage_auc={threshold}.", LeakageWarning, stacklevel=2)
    return table


def exclude_columns(columns: Iterable[str], patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``columns`` into (kept, excluded) by case-insensitive ``fnmatch`` patterns."""
    kept, dropped = [], []
    pats = [p.lower() for p in patterns]
    for c in columns:
        (dropped if any(fnmatch.fnmatchcase(str(c).lower(), p) for p in pats) else kept).append(c)
    return kept, dropped


def grouped_folds(y: np.ndarray, groups: np.ndarray | None, *, k: int = 5, repeats: int = 1,
                  seed: int = 0) -> list[Fold]:
    """Stratified k-fold split grouped by patient, repeated with seeds ``seed + r``.

    Parameters
    ----------
    y : array of {0, 1}
    groups : array or None
        Patient of every row; None makes every row its own group.
    k, repeats, seed : int

    Raises
    ------
    InputError
        Fewer groups of a class than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y)
    g = np.arange(len(y)) if groups is None else np.asarray(groups)
    for cls in np.unique(y):
        n_groups = len(np.unique(g[y == cls]))
        if n_groups < k:
            raise InputError(f"cannot make {k} grouped folds: class {cls} has only "
                             f"{n_groups} patient group(s). Use fewer folds (--cv).")
    folds = []
    for r in range(repeats):
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + r)
        for f, (tr, te) in enumerate(splitter.split(np.zeros(len(y)), y, g)):
            folds.append(Fold(r, f, tr, te))
    check_folds(folds, g)
    return folds


def check_folds(folds: Sequence[Fold], groups: np.ndarray) -> None:
    """Raise if any group (patient) is on both sides of a split."""
    groups = np.asarray(groups)
    for fold in folds:
        both = np.intersect1d(groups[fold.train], groups[fold.test])
        if len(both):
            raise AssertionError(f"repeat {fold.repeat} fold {fold.fold}: patient(s) "
                                 f"{list(both[:5])} on both sides of the split")


def cohorts(split: pd.Series | None, n: int) -> dict[str, np.ndarray]:
    """Row positions of every cohort; the training cohort is returned as ``"train"``.

    ``split`` None, or a split column empty on every row (a manifest without one), puts
    every row in ``"train"``.

    Raises
    ------
    InputError
        No row belongs to a training cohort.
    """
    if split is None:
        return {"train": np.arange(n)}
    values = split.astype("string").str.strip().str.lower().fillna("")
    if (values == "").all():
        return {"train": np.arange(n)}
    is_train = values.isin(TRAIN_NAMES).to_numpy()
    if not is_train.any():
        raise InputError(f"the split column {split.name!r} has no training rows: expected one "
                         f"of {sorted(TRAIN_NAMES)}, found {sorted(set(values))}")
    out = {"train": np.flatnonzero(is_train)}
    for name in sorted(set(values[~is_train])):
        if name == "":
            raise InputError(f"the split column {split.name!r} is empty for "
                             f"{int((values == '').sum())} row(s); give every row a cohort")
        out[name] = np.flatnonzero((values == name).to_numpy())
    return out


def cross_validated_scores(make_model: Callable[[], object], fit: Callable, X: pd.DataFrame,
                           y: np.ndarray, groups: np.ndarray | None,
                           folds: Sequence[Fold], *,
                           on_fold: Callable[[object, Fold], None] | None = None,
                           threshold: Callable[[pd.DataFrame, np.ndarray, np.ndarray | None, Fold],
                                               float] | None = None) -> pd.DataFrame:
    """Out-of-fold scores ``P(y=1|x)``: one row per (repeat, held-out row).

    ``make_model()`` returns a fresh unfitted model and ``fit(model, X, y, groups)``
    fits it, so every step is refitted on each training part. ``on_fold(model, fold)``
    is called after each fold (e.g. for held-out permutation importance).
    ``threshold(X_train, y_train, groups_train, fold)``, when given, chooses a threshold
    on the outer training part only (see :func:`inner_threshold`); it is stored with the
    fold's rows. Columns: ``row`` (position), ``repeat``, ``fold``, ``score`` and, with
    ``threshold``, ``threshold``.
    """
    rows = []
    for fold in folds:
        model = make_model()
        g_tr = None if groups is None else np.asarray(groups)[fold.train]
        fit(model, X.iloc[fold.train], y[fold.train], g_tr)
        score = model.predict_proba(X.iloc[fold.test])[:, 1]
        part = pd.DataFrame({"row": fold.test, "repeat": fold.repeat,
                             "fold": fold.fold, "score": score})
        if threshold is not None:
            part["threshold"] = float(threshold(X.iloc[fold.train].reset_index(drop=True),
                                                y[fold.train], g_tr, fold))
        rows.append(part)
        if on_fold is not None:
            on_fold(model, fold)
    return pd.concat(rows, ignore_index=True)


def inner_threshold(make_model: Callable[[], object], fit: Callable,
                    choose: Callable[[np.ndarray, np.ndarray], float], *, k: int,
                    seed: int) -> Callable[[pd.DataFrame, np.ndarray, np.ndarray | None, Fold], float]:
    """A per-fold threshold chooser for :func:`cross_validated_scores`.

    For an outer fold, the outer training part is split again into ``k`` patient-grouped
    stratified inner folds (:func:`grouped_folds` with ``seed``: the same split as an inner
    tuning search with that seed makes, so the refits of a tuned model repeat the search's
    own fits of its chosen candidate and find their fitted steps in the step cache of
    :func:`~thyromics.models.pipeline.shared_step_cache`); the model is
    refitted on every inner training part and scores its inner held-out part, and
    ``choose(y_inner, inner_oof_scores)`` (e.g. Youden's J) gives the threshold. The
    outer held-out fold plays no part in it; the threshold is then applied to that fold
    unchanged. This is the nested analogue of choosing the final model's threshold on
    the out-of-fold training scores.

    When an outer training part has fewer patients of a class than ``k``, the inner
    folds are reduced to that number (at least 2), with a warning.

    Raises
    ------
    InputError
        When an outer training part has fewer than 2 patients of a class.
    """
    def chooser(X_tr: pd.DataFrame, y_tr: np.ndarray, g_tr: np.ndarray | None, fold: Fold) -> float:
        g = np.arange(len(y_tr)) if g_tr is None else np.asarray(g_tr)
        fewest = min(len(np.unique(g[y_tr == c])) for c in np.unique(y_tr))
        k_use = k if fewest >= k else max(2, fewest)
        if k_use < k:
            warnings.warn(f"repeat {fold.repeat} fold {fold.fold}: the training part has only "
                          f"{fewest} patient(s) of a class, so its threshold is chosen on "
                          f"{k_use} inner folds instead of {k}", ThyromicsWarning, stacklevel=2)
        try:
            inner = grouped_folds(y_tr, g_tr, k=k_use, repeats=1, seed=seed)
        except InputError as e:
            raise InputError(f"repeat {fold.repeat} fold {fold.fold}: cannot choose the threshold "
                             f"inside the training part ({e}). Use fewer inner folds "
                             "(inner_cv) or cv_threshold='pooled' (optimistic).") from e
        oof = cross_validated_scores(make_model, fit, X_tr, y_tr, g_tr, inner)
        return float(choose(y_tr[oof["row"].to_numpy()], oof["score"].to_numpy()))
    return chooser
