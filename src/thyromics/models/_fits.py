"""The model stage's independent fits, as tasks any executor can run.

A study is a set of fits that share nothing but their inputs: for every (block set,
classifier) one fit per outer fold (plus, with the nested threshold rule, that fold's
inner refits) and one final fit on the whole training cohort. Each is a pure function of
a picklable task (:class:`FoldTask`, :class:`FinalTask`), seeded by the study seed and
the fold alone, so running them in one process, in ``--jobs N`` local processes or on a
Dask cluster gives the same numbers; the caller orders the results by task key.

BLAS and OpenMP inside a task run on one thread (``threadpoolctl``): parallelism comes
from the tasks, and several multi-threaded fits on the same cores only contend.
Warnings raised inside a task are returned with its result and re-emitted by the caller
in task order (a worker process's warnings would otherwise be lost).
"""

from __future__ import annotations

import pickle
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from thyromics.models.cv import Fold
from thyromics.models.pipeline import PipelineSettings

__all__ = ["ModelSpec", "FitContext", "FoldTask", "FinalTask", "FoldResult", "FinalResult",
           "run_fit", "rule_chooser"]


@dataclass(frozen=True)
class ModelSpec:
    """One classifier on one block set: its id and its input columns."""

    model_id: str
    classifier: str
    blocks: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    passengers: tuple[str, ...] = ()

    @property
    def inputs(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.passengers]


@dataclass(frozen=True)
class FitContext:
    """What every fit of one study shares: the training cohort and the settings."""

    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray
    settings: PipelineSettings
    seed: int
    cv_threshold: str = "nested"
    permutation_repeats: int = 5


@dataclass(frozen=True)
class FoldTask:
    """Fit ``spec`` on the training part of ``fold`` and score its held-out part."""

    context: FitContext
    spec: ModelSpec
    fold: Fold
    permutation: bool = False

    @property
    def key(self) -> tuple:
        return (self.spec.model_id, self.fold.repeat, self.fold.fold)


@dataclass(frozen=True)
class FinalTask:
    """Fit ``spec`` on the whole training cohort (the model that scores other cohorts)."""

    context: FitContext
    spec: ModelSpec
    vimp: bool = False
    shap: bool = False
    shap_rows: int = 200

    @property
    def key(self) -> tuple:
        return (self.spec.model_id, "final")


@dataclass
class FoldResult:
    """Held-out scores of one outer fold, its threshold and permutation importance."""

    scores: pd.DataFrame
    permutation: pd.Series | None
    warnings: list[tuple[str, type]] = field(default_factory=list)


@dataclass
class FinalResult:
    """The final fitted pipeline (pickled) and what was measured on it.

    The pipeline travels as its pickle, so that a fit run here, in a worker or read from
    the cache reaches the caller the same way (an unpickled copy).
    """

    pipeline_pickle: bytes
    best_params: dict | None
    summaries: dict[str, Any]
    seconds: float
    vimp: pd.Series | None = None
    shap: pd.Series | None = None
    warnings: list[tuple[str, type]] = field(default_factory=list)

    def pipeline(self):
        """The fitted pipeline (a fresh copy on every call)."""
        return pickle.loads(self.pipeline_pickle)


def run_fit(task: FoldTask | FinalTask) -> FoldResult | FinalResult:
    """Run one task (module-level, picklable: the function every executor calls)."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always")
        result = _run_fold(task) if isinstance(task, FoldTask) else _run_final(task)
    result.warnings = _unique_warnings(caught)
    return result


def _make(spec: ModelSpec, settings: PipelineSettings, seed: int):
    from thyromics.models.pipeline import build_model

    return build_model(spec.classifier, settings, numeric=list(spec.numeric),
                       categorical=list(spec.categorical), seed=seed)


def _run_fold(task: FoldTask) -> FoldResult:
    from thyromics.models import cv as cvmod
    from thyromics.models.pipeline import fit_model

    ctx, spec, fold = task.context, task.spec, task.fold
    X = ctx.X[spec.inputs]
    y, g = ctx.y, ctx.groups
    # one frame (one index) for the outer fit and the inner refits, so that the step
    # cache recognises the same rows
    X_train = X.iloc[fold.train].reset_index(drop=True)
    model = _make(spec, ctx.settings, ctx.seed)
    fit_model(model, X_train, y[fold.train], g[fold.train])
    scores = pd.DataFrame({"row": fold.test, "repeat": fold.repeat, "fold": fold.fold,
                           "score": model.predict_proba(X.iloc[fold.test])[:, 1]})
    if ctx.cv_threshold == "nested":
        chooser = cvmod.inner_threshold(_inner_maker(spec, ctx, model), fit_model,
                                        rule_chooser(ctx.settings.threshold),
                                        k=ctx.settings.inner_cv, seed=ctx.seed)
        scores["threshold"] = float(chooser(X_train, y[fold.train], g[fold.train], fold))
    perm = _fold_permutation(task, model) if task.permutation else None
    return FoldResult(scores=scores, permutation=perm)


def _inner_maker(spec: ModelSpec, ctx: FitContext, outer_model):
    """Fresh models for the inner refits that choose a fold's threshold.

    A tuned outer model chose its hyperparameters on this outer training part only (an
    inner grouped search, or a forest's out-of-bag grid); the inner refits take those
    values instead of searching again, which would cost (grid size) x (inner folds) more
    fits per outer fold. Neither can see the held-out fold.
    """
    from thyromics.models.tuning import CalibratedPipeline

    chosen = _chosen_params(outer_model)
    if not chosen:
        return lambda: _make(spec, ctx.settings, ctx.seed)
    untuned = ctx.settings.model_copy(update={"tune": False})

    def make():
        model = _make(spec, untuned, ctx.seed)
        prefix = "estimator__" if isinstance(model, CalibratedPipeline) else ""
        return model.set_params(**{prefix + k: v for k, v in chosen.items()})
    return make


def _chosen_params(outer_model) -> dict[str, Any]:
    """The outer fit's tuned values as pipeline parameters (empty when nothing was tuned)."""
    from thyromics.models.pipeline import final_pipeline
    from thyromics.models.rfq import OOBForestClassifier

    best = dict(getattr(outer_model, "best_params_", None) or {})  # an inner search
    clf = final_pipeline(outer_model).steps[-1][1]
    if isinstance(clf, OOBForestClassifier) and clf.tune and clf.oob_errors_:
        best["classifier__max_features_grid"] = (clf.best_params_["max_features"],)
        best["classifier__min_samples_leaf_grid"] = (clf.best_params_["min_samples_leaf"],)
    return best


def _fold_permutation(task: FoldTask, model) -> pd.Series:
    from thyromics.models._inputs import used_inputs
    from thyromics.models.importance import permutation_importance_auc
    from thyromics.models.pipeline import final_pipeline

    ctx, spec, fold = task.context, task.spec, task.fold
    numeric, categorical = list(spec.numeric), list(spec.categorical)
    use = used_inputs(final_pipeline(model), numeric, categorical)
    out = pd.Series(0.0, index=numeric + categorical)
    y_te = ctx.y[fold.test]
    if use and len(np.unique(y_te)) == 2:
        out[use] = permutation_importance_auc(model, ctx.X.iloc[fold.test][spec.inputs], y_te,
                                              columns=use, n_repeats=ctx.permutation_repeats,
                                              seed=ctx.seed + fold.fold)
    return out


def _run_final(task: FinalTask) -> FinalResult:
    from thyromics.models import _steps as steps
    from thyromics.models.importance import pipeline_vimp, shap_importance
    from thyromics.models.pipeline import final_pipeline, fit_model

    ctx, spec = task.context, task.spec
    t0 = time.perf_counter()
    X = ctx.X[spec.inputs]
    model = _make(spec, ctx.settings, ctx.seed)
    fit_model(model, X, ctx.y, ctx.groups)
    pipe = final_pipeline(model)
    return FinalResult(
        pipeline_pickle=pickle.dumps(pipe, protocol=pickle.HIGHEST_PROTOCOL),
        best_params=getattr(model, "best_params_", None),
        summaries=steps.step_summaries(pipe), seconds=round(time.perf_counter() - t0, 2),
        vimp=pipeline_vimp(pipe, X, ctx.y, seed=ctx.seed) if task.vimp else None,
        shap=shap_importance(pipe, X, max_cases=task.shap_rows, seed=ctx.seed)
        if task.shap else None)


def rule_chooser(rule: str):
    """``choose(y, scores) -> threshold`` by ``rule``; tie warnings of inner folds are muted."""
    from thyromics.evaluate.thresholds import TiedCutpointWarning, choose_threshold

    def choose(y: np.ndarray, s: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TiedCutpointWarning)
            return float(choose_threshold(y, s, rule))
    return choose


def _unique_warnings(caught) -> list[tuple[str, type]]:
    """The task's warnings as (message, category), first occurrence order, no repeats."""
    seen: dict[tuple[str, type], None] = {}
    for w in caught:
        seen.setdefault((str(w.message), w.category), None)
    return list(seen)
