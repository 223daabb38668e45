"""Modelling pipelines: prepare -> filter -> select -> resample -> classify.

Every step is a scikit-learn-contract estimator inside one imbalanced-learn
``Pipeline``, so cross-validation refits imputation, scaling, filtering, selection,
resampling and tuning on the training part of every fold and nothing is learnt from
held-out cases::

    robust       RobustFilter: drop features unstable under perturbation, ICC on the
                 training cases (settings.robust; thyromics.robustness.select)
    harmonize    ComBatHarmonizer on the batch column (settings.harmonize;
                 thyromics.models.harmonize)
    prepare      ColumnTransformer: numeric -> median impute -> z-score;
                 categorical -> most-frequent impute -> one-hot
    nzv          NearZeroVariance (caret rule)
    correlation  CorrelationFilter (|r| > 0.9 by default)
    select       LassoSelector (min / 1-SE) | UnivariateSelector | MRMRSelector | none
    resample     SMOTE | RandomUnderSampler | none   (applied only while fitting)
    classifier   from thyromics.models.registry.CLASSIFIERS
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PipelineSettings", "build_pipeline", "build_model", "fit_model",
           "final_pipeline", "transformed_feature_names", "split_column_types",
           "prepare_frame", "passenger_columns", "shared_step_cache", "saved_threshold",
           "THRESHOLD_KEYS"]

#: Names of the threshold rule in saved settings: ``threshold``, then ``threshold_rule``
#: (``run.json`` and ``model.json`` of versions before the field's rename).
THRESHOLD_KEYS = ("threshold", "threshold_rule")


class PipelineSettings(BaseModel):
    """Frozen settings of a modelling pipeline and of the study around it.

    Attributes
    ----------
    impute : {"median", "mean"}
        Imputation of numeric columns (fitted on training data only).
    scale : bool
        z-score numeric columns: ``(x - mean_train) / sd_train``.
    near_zero_variance : bool
        Drop near-zero-variance columns (caret ``nearZeroVar``).
    correlation_threshold : float or None
        Drop one of each pair with ``|r|`` above this; None disables the filter.
    selector : {"lasso", "univariate", "mrmr", "none"}
    lasso_rule : {"min", "1se"}
        Penalty chosen at the minimum CV deviance or by the one-standard-error rule.
    lasso_cv : int
        Inner folds of the LASSO penalty search.
    k_best : int
        Columns kept by the univariate and mRMR selectors.
    univariate_test : {"f", "mannwhitney"}
    resample : {"none", "smote", "undersample"}
        Class rebalancing of the training data (imbalanced-learn).
    smote_k : int
        SMOTE neighbours (capped at minority size - 1).
    tune : bool
        Tune the classifier by inner grouped CV (nested CV). OOB forests (``rf``,
        ``rfq``) always tune on OOB error instead.
    tuner : {"grid", "optuna"}
        Grid search over the registry grid, or Optuna's seeded TPE sampler over the
        registry's search space (``trials`` candidates).
    trials : int
        Optuna trials per fit.
    inner_cv : int
        Inner folds for tuning and for calibration.
    calibration : {"none", "sigmoid", "isotonic"}
        Calibrate probabilities on inner out-of-fold scores of the training data
        (:class:`~thyromics.models.tuning.CalibratedPipeline`), so the threshold is
        chosen on calibrated scores.
    n_estimators : int
        Trees for forests (boosters use at most 300).
    n_jobs : int
        Parallel jobs inside estimators.
    leakage_auc : float
        A single predictor with univariate AUC (either direction) at or above this
        raises a :class:`~thyromics.models.cv.LeakageWarning`.
    exclude : tuple of str
        Shell-style patterns (``fnmatch``, case-insensitive) of columns never used as
        predictors, e.g. ``("Malignancy*", "Diagnosis*")`` for LIDC.
    threshold : {"youden", "constrained"}
        How the threshold is chosen on the out-of-fold training predictions (then carried
        unchanged): Youden's J, or the clinical constraints of the CRIT/iTED study's code
        (sensitivity >= 0.70, NPV >= 0.50, best 0.5 sens + 0.3 NPV + 0.2 spec; see
        :func:`thyromics.evaluate.thresholds.constrained`). Settings saved by older
        versions (``run.json``, ``model.json``) call it ``threshold_rule``: read as this.
    robust : str or None
        A ``thyromics robustness`` output folder (or its ``perturbations.parquet``): the
        ``robust`` step drops radiomics features whose ICC over the perturbations of the
        training cases is below ``robust_threshold``. None: no such step.
    robust_threshold, robust_icc, robust_criterion
        The threshold, ICC form and criterion (``icc`` or its ``lower`` 95 % bound).
    harmonize : str or None
        Batch (centre / scanner) column: ComBat, fitted on each training part, harmonises
        the feature columns. The column is never a predictor.
    harmonize_covariates : tuple of str
        Biological covariates ComBat keeps (never the outcome).
    harmonize_reference : str or None
        Reference batch (left unchanged; required by ``harmonize_unseen="reference"``).
    harmonize_unseen : {"refuse", "reference"}
        A batch met only at prediction time: refused, or passed through unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    impute: Literal["median", "mean"] = "median"
    scale: bool = True
    near_zero_variance: bool = True
    correlation_threshold: float | None = Field(0.9, gt=0, le=1)
    selector: Literal["lasso", "univariate", "mrmr", "none"] = "lasso"
    lasso_rule: Literal["min", "1se"] = "min"
    lasso_cv: int = Field(5, ge=2)
    k_best: int = Field(20, ge=1)
    univariate_test: Literal["f", "mannwhitney"] = "f"
    resample: Literal["none", "smote", "undersample"] = "none"
    smote_k: int = Field(5, ge=1)
    tune: bool = True
    tuner: Literal["grid", "optuna"] = "grid"
    trials: int = Field(30, ge=1)
    inner_cv: int = Field(3, ge=2)
    calibration: Literal["none", "sigmoid", "isotonic"] = "none"
    n_estimators: int = Field(300, ge=1)
    n_jobs: int = Field(1, ge=1)
    leakage_auc: float = Field(0.95, gt=0.5, le=1)
    exclude: tuple[str, ...] = ()
    threshold: Literal["youden", "constrained"] = Field(
        "youden", validation_alias=AliasChoices(*THRESHOLD_KEYS))
    robust: str | None = None
    robust_threshold: float = Field(0.9, gt=0, le=1)
    robust_icc: Literal["icc1", "icc2", "icc3"] = "icc1"
    robust_criterion: Literal["icc", "lower"] = "icc"
    harmonize: str | None = None
    harmonize_covariates: tuple[str, ...] = ()
    harmonize_reference: str | None = None
    harmonize_unseen: Literal["refuse", "reference"] = "refuse"

    @model_validator(mode="after")
    def _harmonize_options(self) -> "PipelineSettings":
        if self.harmonize_unseen == "reference" and self.harmonize_reference is None:
            raise ValueError("harmonize_unseen='reference' needs a reference batch "
                             "(harmonize_reference / --harmonize-reference)")
        if (self.harmonize_covariates or self.harmonize_reference) and not self.harmonize:
            raise ValueError("harmonize covariates / reference given without a batch column "
                             "(harmonize / --harmonize COLUMN)")
        return self


def saved_threshold(settings: Mapping[str, Any]) -> str | None:
    """The threshold rule of saved settings (a ``run.json`` or ``model.json``), new or old key."""
    return next((settings[k] for k in THRESHOLD_KEYS if k in settings), None)


def passenger_columns(settings: PipelineSettings, predictors: Sequence[str] = ()) -> list[str]:
    """Input columns the ``robust`` / ``harmonize`` steps read that are not predictors:
    ``case_id`` (robust), the batch column and covariates not already among
    ``predictors`` (harmonize). They travel in the input frame; ``prepare`` drops them."""
    out: list[str] = []
    if settings.robust:
        out.append("case_id")
    if settings.harmonize:
        out += [settings.harmonize, *settings.harmonize_covariates]
    have = set(predictors)
    return [c for c in dict.fromkeys(out) if c not in have]


def _feature_columns(numeric: Sequence[str], skip: Sequence[str] = ()) -> list[str]:
    """Numeric predictors that are image features (a known family), not clinical."""
    from thyromics.models.blocks import feature_family

    return [c for c in numeric if c not in set(skip) and feature_family(c) not in (None, "clinical")]


def build_pipeline(classifier: str, settings: PipelineSettings, *,
                   numeric: Sequence[str], categorical: Sequence[str] = (),
                   seed: int = 0):
    """An unfitted imbalanced-learn ``Pipeline`` for registry entry ``classifier``.

    ``numeric`` and ``categorical`` are the input DataFrame's column names; the
    pipeline expects a DataFrame with at least those columns.
    """
    from imblearn.over_sampling import SMOTE
    from imblearn.pipeline import Pipeline
    from imblearn.under_sampling import RandomUnderSampler
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline as SkPipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from thyromics.models.registry import make_classifier
    from thyromics.models.selection import (CorrelationFilter, LassoSelector,
                                            MRMRSelector, NearZeroVariance,
                                            UnivariateSelector)

    front: list[tuple[str, Any]] = []
    num_columns: Any = list(numeric)
    if settings.robust:
        from thyromics.robustness.select import RobustFilter, present

        front.append(("robust", RobustFilter(
            perturbed=str(settings.robust), features=_feature_columns(numeric),
            threshold=settings.robust_threshold, kind=settings.robust_icc,
            criterion=settings.robust_criterion)))
        num_columns = present(numeric)  # the columns the robust step kept
    if settings.harmonize:
        from thyromics.models.harmonize import ComBatHarmonizer

        if settings.harmonize in numeric or settings.harmonize in categorical:
            raise ValueError(f"the batch column {settings.harmonize!r} cannot also be a predictor")
        front.append(("harmonize", ComBatHarmonizer(
            batch=settings.harmonize,
            features=_feature_columns(numeric, settings.harmonize_covariates),
            covariates=settings.harmonize_covariates,
            reference_batch=settings.harmonize_reference, unseen=settings.harmonize_unseen)))
    parts = []
    if numeric:
        num = [("impute", SimpleImputer(strategy=settings.impute, keep_empty_features=True))]
        if settings.scale:
            num.append(("scale", StandardScaler()))
        parts.append(("num", SkPipeline(num), num_columns))
    if categorical:
        cat = SkPipeline([
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))])
        parts.append(("cat", cat, list(categorical)))
    if not parts:
        raise ValueError("a pipeline needs at least one predictor column")
    steps: list[tuple[str, Any]] = [*front,
        ("prepare", ColumnTransformer(parts, remainder="drop",
                                      verbose_feature_names_out=False))]
    if settings.near_zero_variance:
        steps.append(("nzv", NearZeroVariance()))
    if settings.correlation_threshold is not None:
        steps.append(("correlation", CorrelationFilter(threshold=settings.correlation_threshold)))
    if settings.selector == "lasso":
        steps.append(("select", LassoSelector(rule=settings.lasso_rule, cv=settings.lasso_cv,
                                              random_state=seed)))
    elif settings.selector == "univariate":
        steps.append(("select", UnivariateSelector(k=settings.k_best,
                                                   test=settings.univariate_test)))
    elif settings.selector == "mrmr":
        steps.append(("select", MRMRSelector(k=settings.k_best)))
    if settings.resample == "smote":
        steps.append(("resample", SMOTE(k_neighbors=settings.smote_k, random_state=seed)))
    elif settings.resample == "undersample":
        steps.append(("resample", RandomUnderSampler(random_state=seed)))
    steps.append(("classifier", make_classifier(classifier, seed=seed, n_jobs=settings.n_jobs,
                                                n_estimators=settings.n_estimators)))
    return Pipeline(steps)


def build_model(classifier: str, settings: PipelineSettings, *, numeric: Sequence[str],
                categorical: Sequence[str] = (), seed: int = 0):
    """The pipeline, wrapped in an inner grouped search when tuning applies, and in a
    :class:`~thyromics.models.tuning.CalibratedPipeline` when calibration is asked.

    Tuning applies when ``settings.tune`` and the registry has a grid or space. The
    inner split is ``StratifiedGroupKFold(settings.inner_cv)`` (pass ``groups`` to
    :func:`fit_model`), scored by ROC AUC, so the outer fold never sees the search.
    """
    from thyromics.models.tuning import CalibratedPipeline, make_search

    pipe = build_pipeline(classifier, settings, numeric=numeric, categorical=categorical,
                          seed=seed)
    model = pipe
    if _SHARED:  # a study's fits: every pipeline's steps go through the shared cache
        pipe.set_params(memory=_SHARED[-1][1])
    if settings.tune:
        model = make_search(pipe, classifier, tuner=settings.tuner, inner_cv=settings.inner_cv,
                            trials=settings.trials, seed=seed)
        if model is not pipe and not _SHARED:
            # The steps before the classifier do not depend on the candidate: cache their
            # fits so every candidate of an inner fold reuses one selection.
            pipe.set_params(memory=_cache())
    if settings.calibration != "none":
        model = CalibratedPipeline(model, method=settings.calibration, cv=settings.inner_cv,
                                   random_state=seed)
    return model


_CACHE: list = []
#: The step caches of :func:`shared_step_cache` in force (innermost last).
_SHARED: list[tuple[str, Any]] = []


@contextmanager
def shared_step_cache(location: str | Path | None) -> Iterator[None]:
    """Models built inside share one cache of fitted steps at ``location``.

    A pipeline's steps before the classifier (imputation, filters, selection, resampling)
    depend only on their own settings and the rows they are fitted on, not on the
    classifier. Inside this context every pipeline :func:`build_model` makes caches
    those fits (joblib ``Memory``, keyed by the step's parameters and its input values):
    the LASSO selection of one training part is then fitted once for every classifier,
    tuning candidate and threshold refit on that part, instead of once for each. The
    cache is a speed-up only: a hit returns what the fit would have returned. ``None``
    does nothing. Fitted models leave :func:`fit_model` without the cache attached.
    """
    if location is None:
        yield
        return
    from joblib import Memory

    _SHARED.append((str(location), Memory(location=str(location), verbose=0)))
    try:
        yield
    finally:
        _SHARED.pop()


def _cache():
    """A joblib ``Memory`` in a temporary folder removed when Python exits."""
    if not _CACHE:
        import tempfile

        from joblib import Memory

        tmp = tempfile.TemporaryDirectory(prefix="thyromics-pipeline-cache-")
        _CACHE.extend([tmp, Memory(location=tmp.name, verbose=0)])
    return _CACHE[1]


def fit_model(model, X, y: np.ndarray, groups: np.ndarray | None = None):
    """Fit ``model`` (pipeline, search or calibrated); ``groups`` feed the inner grouped CV.

    SMOTE's neighbour count is capped at the training minority size minus one. BLAS
    runs single-threaded: the matrices are small and threads only contend with the
    estimators' own ``n_jobs`` (20x slowdowns of the MLP were seen on 2 cores).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        fitted = _fit_model(model, X, y, groups)
    _serial_prediction(fitted)
    return fitted


def _serial_prediction(obj, depth: int = 0) -> None:
    """Set ``n_jobs = 1`` on every fitted estimator inside ``obj``.

    A forest's ``predict_proba`` with ``n_jobs > 1`` adds the trees' votes in the order the
    threads finish, so scores differ in the last bits from run to run; fitting in parallel
    is deterministic (one seed per tree). Scores and saved models are then the same
    whatever ``n_jobs`` the fit used.
    """
    from sklearn.base import BaseEstimator

    if depth > 6:
        return
    if isinstance(obj, BaseEstimator):
        if "n_jobs" in obj.get_params(deep=False):
            obj.n_jobs = 1
        children = list(vars(obj).values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    elif isinstance(obj, dict):
        children = list(obj.values())
    else:
        return
    for child in children:
        if isinstance(child, (BaseEstimator, list, tuple, dict)):
            _serial_prediction(child, depth + 1)


def _fit_model(model, X, y, groups):
    from thyromics.models.tuning import CalibratedPipeline, cap_smote_neighbours, is_search

    if isinstance(model, CalibratedPipeline):
        inner = model.estimator
        if is_search(inner):
            cap_smote_neighbours(inner.estimator, y, inner.cv.n_splits)
        return model.fit(X, y, groups=groups)
    if is_search(model):
        cap_smote_neighbours(model.estimator, y, model.cv.n_splits)
        model.fit(X, y, groups=groups)
        model.best_estimator_.set_params(memory=None)
        return model
    cap_smote_neighbours(model, y)
    model.fit(X, y)
    return model.set_params(memory=None)


def final_pipeline(model):
    """The fitted model to keep: a search's best pipeline, or the model itself (a
    pipeline, or a calibrated pipeline exposing its fitted pipeline's steps)."""
    return getattr(model, "best_estimator_", model)


def transformed_feature_names(pipeline) -> list[str]:
    """Names of the columns reaching the classifier of a fitted pipeline."""
    names = np.asarray(pipeline.named_steps["prepare"].get_feature_names_out(), object)
    for key in ("nzv", "correlation", "select"):
        if key in pipeline.named_steps:
            names = names[pipeline.named_steps[key].get_support()]
    return [str(n) for n in names]


def split_column_types(table: pd.DataFrame, cols: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(numeric, categorical)``: numeric when the dtype is numeric/bool or every
    non-missing value parses as a number; anything else is categorical (one-hot)."""
    import pandas as pd

    numeric, categorical = [], []
    for c in cols:
        s = table[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(c)
        elif pd.to_numeric(s.dropna(), errors="coerce").notna().all():
            numeric.append(c)
        else:
            categorical.append(c)
    return numeric, categorical


def prepare_frame(table: pd.DataFrame, numeric: Sequence[str],
                  categorical: Sequence[str]) -> pd.DataFrame:
    """Predictor frame: numeric columns as float (unparseable -> NaN), categorical
    columns as ``str`` objects with NaN kept (imputed inside the pipeline)."""
    import numpy as np
    import pandas as pd

    parts = {c: pd.to_numeric(table[c], errors="coerce").astype(float) for c in numeric}
    parts.update({c: table[c].map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)
                  for c in categorical})
    return pd.DataFrame(parts, index=table.index, columns=[*numeric, *categorical])
