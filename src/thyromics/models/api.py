"""The model stage's typed API: :func:`fit_and_compare` and :func:`run_model_stage`.

Design (nothing is fitted on data it is later evaluated on):

1. rows with a missing label are dropped; the ``split`` column names cohorts; the
   training cohort is cross-validated by patient-grouped stratified k-fold, repeated;
2. every (block set, classifier) pipeline is refitted inside every training fold
   (imputation, scaling, filters, selection, resampling, tuning by inner grouped CV);
3. the out-of-fold (OOF) score of a case is its mean over repeats; the final model's
   threshold is Youden's on those OOF training scores and is carried unchanged to every
   other cohort. The ``cv`` row's own metrics are not taken at that threshold (it was
   chosen on the very scores they would describe): each outer fold gets a threshold
   chosen by the same rule on the inner out-of-fold scores of its outer training part
   (``cv_threshold="nested"``, default); ``"pooled"`` gives the older, optimistic rule;
4. the final model is fitted on the whole training cohort and scores every other
   cohort unchanged;
5. every AUC, CI, threshold, metric and DeLong test comes from
   :mod:`thyromics.evaluate` (``evaluate_scores``, ``roc.delong_test``, ``roc.auc``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import MODEL
from thyromics.models import _steps as steps
from thyromics.models._inputs import binary_outcome
from thyromics.models.pipeline import (PipelineSettings, passenger_columns, prepare_frame,
                                       split_column_types)

__all__ = ["FittedModel", "ModelStudyResult", "fit_and_compare", "run_model_stage",
           "read_feature_table", "join_clinical", "IMPORTANCE_KINDS", "CV_THRESHOLDS",
           "threshold_rules"]

IMPORTANCE_KINDS = ("permutation", "vimp", "shap")
#: How the ``cv`` row's threshold is chosen (see :func:`fit_and_compare`).
CV_THRESHOLDS = ("nested", "pooled")
#: The model stage's fit cache, inside its output folder (see _fit_runner).
FIT_CACHE = MODEL.name("fits")
_METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")


@dataclass
class FittedModel:
    """A final model fitted on the whole training cohort, with what predicting needs."""

    model_id: str
    classifier: str
    blocks: str
    pipeline: Any
    threshold: float
    numeric: list[str]
    categorical: list[str]
    label: str
    positive_class: Any
    settings: PipelineSettings
    training: dict[str, Any]
    #: Non-predictor input columns the robust / harmonize steps read (case_id, batch).
    passengers: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Input columns, in pipeline order."""
        return self.numeric + self.categorical + self.passengers


@dataclass
class ModelStudyResult:
    """Everything :func:`fit_and_compare` computed (the files of :func:`run_model_stage`)."""

    comparison: pd.DataFrame
    predictions: pd.DataFrame
    delong: pd.DataFrame
    fold_auc: pd.DataFrame
    leakage: pd.DataFrame
    importance: dict[str, pd.DataFrame]
    models: dict[str, FittedModel]
    thresholds: dict[str, float]
    excluded: list[str]
    evaluation: dict[str, dict] = field(default_factory=dict)
    #: Riley et al.'s minimum sample size per block set (written as ``sample_size.csv``).
    sample_size: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: How each threshold was chosen, in words (``cv`` row and carried), for run.json.
    threshold_rules: dict[str, str] = field(default_factory=dict)
    #: The training cohort and settings every fit saw, and each model's inputs: what a
    #: later step that refits the models needs (e.g. a bootstrap of the whole procedure).
    context: Any = None
    specs: dict[str, Any] = field(default_factory=dict)
    #: ``optimism.csv``: optimism-corrected bootstrap indices (``run_model_stage(optimism=B)``).
    optimism: pd.DataFrame | None = None
    #: Which importance was computed for which models, SHAP's row cap (for run.json).
    importance_options: dict[str, Any] = field(default_factory=dict)


def _threshold_value(value: Any) -> float:
    """A threshold from the evaluation JSON (``None`` stands for +inf there)."""
    return float("inf") if value is None else float(value)


def _importance_frame(parts: dict[str, pd.Series], kind: str) -> pd.DataFrame:
    rows = [pd.DataFrame({"model_id": mid, "feature": s.index, kind: s.to_numpy()})
            for mid, s in parts.items() if s is not None]
    if not rows:
        return pd.DataFrame(columns=["model_id", "feature", kind, "rank"])
    df = pd.concat(rows, ignore_index=True)
    df["rank"] = df.groupby("model_id")[kind].rank(ascending=False, method="min", na_option="bottom").astype(int)
    return df.sort_values(["model_id", "rank"], kind="stable").reset_index(drop=True)


def _single_threaded_blas(func):
    """Run ``func`` with BLAS limited to one thread (small matrices, shared cores)."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)
    return wrapper


@_single_threaded_blas
def fit_and_compare(table: pd.DataFrame, *, label: str, group: str | None = None,
                    split: str | None = None, blocks: Sequence[str] = ("radiomics",),
                    models: Sequence[str] = ("lr", "rf", "rfq"), cv: int = 5,
                    repeats: int = 1, seed: int = 0, settings: PipelineSettings | None = None,
                    id_column: str = "case_id", clinical: Sequence[str] | None = None,
                    importance: Sequence[str] = IMPORTANCE_KINDS,
                    permutation_repeats: int = 5, positive: Any = None,
                    cv_threshold: str = "nested", jobs: int = 1, scheduler: str | None = None,
                    cache_dir: Path | None = None, progress: Callable | None = None,
                    importance_models: Sequence[str] | None = None,
                    shap_rows: int = 200) -> ModelStudyResult:
    """Cross-validate, fit and compare classifiers on feature blocks.

    Parameters
    ----------
    table : DataFrame
        One row per case: ``id_column``, ``label``, optionally ``group``/``split``,
        and feature / clinical columns (see :mod:`thyromics.models.blocks`).
    label : str
        Binary outcome: 0/1 or booleans (1 / True positive), or two other values with
        ``positive`` naming the positive one (text labels are refused without it).
    group : str or None
        Patient column; None makes every row its own patient.
    split : str or None
        Cohort column (``train`` ... / ``internal`` / ``external`` ...); None: all train.
    blocks : sequence of str
        Block sets to compare, e.g. ``["radiomics", "clinical", "radiomics+clinical"]``.
    models : sequence of str
        Registry names (:data:`~thyromics.models.registry.CLASSIFIERS`).
    cv, repeats, seed : int
        Outer folds, repeats (seeds ``seed .. seed + repeats - 1``) and base seed.
    settings : PipelineSettings, optional
    clinical : sequence of str, optional
        Explicit clinical columns (default: every non-feature, non-id column).
    importance : sequence of {"permutation", "vimp", "shap"}
        Importance tables to compute (``()`` for none).
    permutation_repeats : int
        Permutations per column for the held-out permutation importance.
    importance_models : sequence of str, optional
        Compute importance only for these classifiers or model ids (``fnmatch``
        patterns, e.g. ``["rf", "lr@radiomics"]``); default every model.
    shap_rows : int
        SHAP explains at most this many training cases (a seeded sample).
    positive : optional
        The positive class of ``label`` (e.g. ``"Malignant"``); see
        :func:`thyromics.models._inputs.binary_outcome`.
    cv_threshold : {"nested", "pooled"}
        Threshold of the ``cv`` row's metrics. ``"nested"``: per outer fold, chosen by
        ``settings.threshold`` on the inner out-of-fold scores of the outer training
        part (``settings.inner_cv`` folds; costs ``inner_cv`` extra fits per outer fold)
        and applied to that fold. ``"pooled"``: chosen on the pooled out-of-fold scores
        the metrics are computed on (optimistic: on pure noise it gives Youden's J near
        0.1). Either way the carried threshold of the final model is the pooled one, and
        the evaluation JSON holds the pooled metrics under ``pooled_oof``.
    jobs, scheduler : int, str or None
        The fits (every outer fold and final fit of every model) run in ``jobs`` local
        processes, or on the Dask cluster at ``scheduler``; the numbers are the same
        either way (every fit is seeded by ``seed`` and its fold alone).
    cache_dir : Path, optional
        Fits are looked up and stored here by content (see
        :mod:`thyromics.models._fit_runner`): an unchanged fit is not refitted.
    progress : callable, optional
        A context manager factory ``progress(total, what)`` yielding ``tick(key, ok)``,
        called after each fit (e.g. :func:`thyromics.progress.case_progress`).

    Returns
    -------
    ModelStudyResult

    Examples
    --------
    Two classifiers on one informative feature, 3-fold patient-grouped CV:

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 30)
    >>> table = pd.DataFrame({"case_id": [f"c{i}" for i in range(60)], "label": y,
    ...                       "original_firstorder_Mean": y + rng.normal(0, 0.7, 60)})
    >>> result = fit_and_compare(table, label="label", models=["lr", "rf"], cv=3,
    ...                          settings=PipelineSettings(tune=False, n_estimators=50))
    >>> sorted(result.models)
    ['lr', 'rf']
    >>> bool((result.comparison["auc"] > 0.75).all())
    True
    """
    from thyromics.evaluate import roc
    from thyromics.evaluate.api import evaluate_scores
    from thyromics.evaluate.thresholds import choose_threshold
    from thyromics.models import cv as cvmod
    from thyromics.models._fit_runner import run_fits
    from thyromics.models._fits import FinalTask, FitContext, FoldTask
    from thyromics.models.blocks import block_columns, resolve_block_sets
    from thyromics.models.registry import get_classifier

    settings = settings or PipelineSettings()
    if cv_threshold not in CV_THRESHOLDS:
        raise InputError(f"cv_threshold must be one of {', '.join(CV_THRESHOLDS)}, found "
                         f"{cv_threshold!r}")
    for kind in importance:
        if kind not in IMPORTANCE_KINDS:
            raise InputError(f"unknown importance {kind!r}; valid: {', '.join(IMPORTANCE_KINDS)}")
    specs = {m: get_classifier(m) for m in models}
    needed = [c for c in (label, group, split, id_column) if c is not None]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise InputError(f"column(s) {missing} not in the feature table; found "
                         f"{list(table.columns[:12])}{' ...' if table.shape[1] > 12 else ''}")
    n_unlabelled = int(table[label].isna().sum())
    if n_unlabelled:
        warnings.warn(f"{n_unlabelled} row(s) without {label!r} are left out of modelling",
                      ThyromicsWarning, stacklevel=2)
    data = table[table[label].notna()].reset_index(drop=True)
    y_all, positive = binary_outcome(data[label], label, positive)
    groups_all = (data[group].astype(str).to_numpy() if group
                  else data[id_column].astype(str).to_numpy())
    cohort_rows = cvmod.cohorts(data[split] if split else None, len(data))
    tr = cohort_rows["train"]
    shared = set(groups_all[tr]) & set(groups_all[np.setdiff1d(np.arange(len(data)), tr)])
    if shared:
        raise InputError(f"patient(s) {sorted(shared)[:5]} appear in the training cohort and in "
                         f"another cohort ({len(shared)} in all); a patient must stay in one cohort")
    reserved = (needed + [settings.harmonize]) if settings.harmonize else needed
    all_blocks = block_columns(data, reserved=reserved, clinical=clinical)
    excluded: list[str] = []
    for name, cols in all_blocks.items():
        kept, dropped = cvmod.exclude_columns(cols, settings.exclude)
        all_blocks[name] = kept
        excluded += dropped
    block_sets = resolve_block_sets(blocks, all_blocks)
    predictors = list(dict.fromkeys(c for cols in block_sets.values() for c in cols))
    numeric_all, categorical_all = split_column_types(data, predictors)
    X_all = prepare_frame(data, numeric_all, categorical_all)
    X_all = steps.with_passengers(X_all, data, passenger_columns(settings), settings, label)
    X_tr, y_tr, g_tr = X_all.iloc[tr].reset_index(drop=True), y_all[tr], groups_all[tr]
    leakage = cvmod.leakage_guard(X_tr, y_tr, threshold=settings.leakage_auc, label=label)
    leakage = steps.harmonization_leakage(leakage, data.iloc[tr], y_tr, numeric_all, settings)
    folds = cvmod.grouped_folds(y_tr, g_tr, k=cv, repeats=repeats, seed=seed)
    sample_size = _sample_size(X_tr, y_tr, block_sets, numeric_all, categorical_all)

    ids = data[id_column].astype(str).to_numpy()
    specs_by_id = _model_specs(block_sets, models, numeric_all, categorical_all, settings)
    context = FitContext(X=X_tr, y=y_tr, groups=g_tr, settings=settings, seed=seed,
                         cv_threshold=cv_threshold, permutation_repeats=permutation_repeats)
    tasks: list = []
    for mid, spec in specs_by_id.items():
        wanted = set(importance) if _asked(spec, importance_models) else set()
        tasks += [FoldTask(context, spec, fold, permutation="permutation" in wanted)
                  for fold in folds]
        reg = specs[spec.classifier]
        tasks.append(FinalTask(context, spec, vimp="vimp" in wanted and reg.oob_forest,
                               shap="shap" in wanted and reg.tree_based, shap_rows=shap_rows))
    with (progress(len(tasks), "model fits") if progress else nullcontext()) as tick:
        fits = run_fits(tasks, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                        on_done=(lambda key, cached: tick(str(key), True)) if tick else None)
    pred_rows, fold_rows, cv_scores, finals, oofs = [], [], {}, {}, {}
    perm_parts, vimp_parts, shap_parts = {}, {}, {}
    for mid, spec in specs_by_id.items():
        parts = [fits[(mid, f.repeat, f.fold)] for f in folds]
        oof = pd.concat([p.scores for p in parts], ignore_index=True)
        oofs[mid] = oof
        fold_rows += _fold_auc_rows(spec, oof, y_tr, roc)
        pred_rows.append(pd.DataFrame({
            "case_id": ids[tr][oof["row"]], "patient_id": g_tr[oof["row"]],
            "model": spec.classifier, "blocks": spec.blocks, "model_id": mid, "cohort": "cv",
            "fold": oof["fold"].to_numpy(), "repeat": oof["repeat"].to_numpy(),
            "y_true": y_tr[oof["row"]], "score": oof["score"].to_numpy(),
            "threshold": (oof["threshold"].to_numpy() if "threshold" in oof
                          else np.full(len(oof), np.nan))}))
        cv_scores[mid] = oof.groupby("row")["score"].mean().reindex(range(len(tr))).to_numpy()
        if parts[0].permutation is not None:
            perm_parts[mid] = pd.concat([p.permutation for p in parts], axis=1).mean(axis=1)
        final = fits[(mid, "final")]
        finals[mid] = FittedModel(
            model_id=mid, classifier=spec.classifier, blocks=spec.blocks,
            pipeline=final.pipeline(), threshold=np.nan, numeric=list(spec.numeric),
            categorical=list(spec.categorical), label=label, positive_class=positive,
            settings=settings,
            training={"n_cases": int(len(tr)), "n_patients": int(len(set(g_tr))),
                      "n_positive": int(y_tr.sum()), "cv": cv, "repeats": repeats,
                      "seed": seed, "fit_seconds": final.seconds,
                      "best_params": final.best_params, **final.summaries},
            passengers=list(spec.passengers))
        if final.vimp is not None:
            vimp_parts[mid] = final.vimp
        if final.shap is not None:
            shap_parts[mid] = final.shap

    # --- evaluation: every number from thyromics.evaluate --------------------------
    mids = list(finals)
    # The final model's threshold: the rule on the pooled out-of-fold training scores. A
    # model whose out-of-fold scores are all equal (e.g. the selection kept no feature)
    # gets an infinite Youden threshold: every case called negative (JSON null).
    thresholds = {m: float(choose_threshold(y_tr, cv_scores[m], settings.threshold))
                  for m in mids}
    rules = threshold_rules(settings.threshold, cv_threshold, settings.inner_cv)
    evaluation = {"cv": _cv_evaluation(y_tr, oofs, cv_scores, thresholds, rules, settings, seed)}
    for frame in pred_rows:  # the pooled rule: the cv rows carry the pooled threshold
        if cv_threshold == "pooled":
            frame["threshold"] = thresholds[frame["model_id"].iloc[0]]
    cohort_scores = {"cv": (y_tr, cv_scores)}
    for cohort, rows in cohort_rows.items():
        if cohort == "train":
            continue
        scores = {m: finals[m].pipeline.predict_proba(X_all.iloc[rows][finals[m].columns])[:, 1]
                  for m in mids}
        cohort_scores[cohort] = (y_all[rows], scores)
        for m in mids:
            pred_rows.append(pd.DataFrame({
                "case_id": ids[rows], "patient_id": groups_all[rows],
                "model": finals[m].classifier, "blocks": finals[m].blocks, "model_id": m,
                "cohort": cohort, "fold": -1, "repeat": -1, "y_true": y_all[rows],
                "score": scores[m], "threshold": thresholds[m]}))
        if len(np.unique(y_all[rows])) == 2:
            evaluation[cohort] = evaluate_scores(pd.DataFrame({"y": y_all[rows], **scores}),
                                                 truth="y", scores=mids, threshold=thresholds,
                                                 seed=seed, calibration_sample="validation")
            for m in mids:
                evaluation[cohort]["scores"][m]["threshold_rule"] = rules["carried"]
        else:
            warnings.warn(f"cohort {cohort!r} has one class only: no AUC or metrics",
                          ThyromicsWarning, stacklevel=2)
    for m in mids:
        finals[m].threshold = thresholds[m]
    fold_auc = pd.DataFrame(fold_rows)
    comparison = _comparison_table(evaluation, finals, thresholds, fold_auc, rules, cv_threshold)
    delong = _delong_table(comparison, cohort_scores, roc)
    return ModelStudyResult(
        comparison=comparison, predictions=pd.concat(pred_rows, ignore_index=True),
        delong=delong, fold_auc=fold_auc, leakage=leakage,
        importance={"permutation": _importance_frame(perm_parts, "auc_drop"),
                    "vimp": _importance_frame(vimp_parts, "vimp"),
                    "shap": _importance_frame(shap_parts, "mean_abs_shap")},
        models=finals, thresholds=thresholds, excluded=excluded, evaluation=evaluation,
        sample_size=sample_size, threshold_rules=rules, context=context, specs=specs_by_id,
        importance_options={"kinds": list(importance), "models": (
            None if importance_models is None else list(importance_models)),
            "permutation_repeats": permutation_repeats,
            "shap_rows": min(shap_rows, len(tr))})


def _model_specs(block_sets: dict, models: Sequence[str], numeric_all: list[str],
                 categorical_all: list[str], settings: PipelineSettings) -> dict:
    """One :class:`~thyromics.models._fits.ModelSpec` per (block set, classifier)."""
    from thyromics.models._fits import ModelSpec

    out = {}
    for bset, cols in block_sets.items():
        numeric = tuple(c for c in numeric_all if c in cols)
        categorical = tuple(c for c in categorical_all if c in cols)
        passengers = tuple(passenger_columns(settings, [*numeric, *categorical]))
        for name in models:
            mid = name if len(block_sets) == 1 else f"{name}@{bset}"
            out[mid] = ModelSpec(mid, name, bset, numeric, categorical, passengers)
    return out


def _asked(spec, patterns: Sequence[str] | None) -> bool:
    """Whether importance is asked for this model (``None``: every model)."""
    import fnmatch

    if patterns is None:
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in patterns
               for name in (spec.classifier, spec.model_id))


def _fold_auc_rows(spec, oof: pd.DataFrame, y_tr: np.ndarray, roc) -> list[dict]:
    rows = []
    for (r, f), part in oof.groupby(["repeat", "fold"]):
        yy = y_tr[part["row"]]
        rows.append({"model_id": spec.model_id, "model": spec.classifier, "blocks": spec.blocks,
                     "repeat": r, "fold": f, "n": len(part),
                     "auc": roc.auc(yy, part["score"]) if len(set(yy)) == 2 else np.nan})
    return rows


def _sample_size(X_tr: pd.DataFrame, y_tr: np.ndarray, block_sets: dict, numeric: list[str],
                 categorical: list[str]) -> pd.DataFrame:
    """Riley et al.'s minimum sample size per block set, before anything is fitted.

    Candidate parameters: every numeric column of the block set, plus levels - 1 of every
    categorical one (selection inside the pipeline chooses among all of them).
    """
    from thyromics.stats.sample_size import check_sample_size

    rows = []
    n, events = len(y_tr), int(np.sum(y_tr))
    for bset, cols in block_sets.items():
        p = sum(1 for c in cols if c in numeric) + sum(
            max(1, int(X_tr[c].nunique()) - 1) for c in cols if c in categorical)
        if p < 1 or not 0 < events < n:
            continue
        r = check_sample_size(n, events, p, what=f"block set {bset!r}")
        rows.append({"blocks": bset, **r.to_dict()})
    return pd.DataFrame(rows)


def threshold_rules(rule: str, cv_threshold: str, inner_cv: int) -> dict[str, str]:
    """The words of the ``threshold_rule`` column: for the ``cv`` row and carried ones."""
    cv = (f"{rule}, per outer fold, on the inner {inner_cv}-fold out-of-fold scores of the "
          "outer training part; applied to the held-out fold"
          if cv_threshold == "nested" else
          f"{rule} on the pooled out-of-fold scores these metrics are computed on (optimistic)")
    return {"cv": cv, "carried": f"{rule} on the pooled out-of-fold training scores, carried "
                                 "unchanged"}


def _cv_evaluation(y_tr: np.ndarray, oofs: dict, cv_scores: dict, thresholds: dict,
                   rules: dict, settings: PipelineSettings, seed: int) -> dict:
    """The ``cv`` entry of the evaluation JSON (the shape of ``evaluate_scores``' output)."""
    from thyromics.evaluate.cv_roc import cv_threshold_block
    from thyromics.evaluate.summary import comparisons, jsonable

    blocks = {m: cv_threshold_block(y_tr, oof, threshold_rule=rules["cv"], seed=seed,
                                    pooled_threshold=thresholds[m],
                                    pooled_rule=settings.threshold)
              for m, oof in oofs.items()}
    return jsonable({"truth": "y", "alpha": 0.05, "seed": seed, "bootstrap": None,
                     "positive_when": "score >= threshold", "scores": blocks,
                     "comparisons": comparisons(y_tr, cv_scores, alpha=0.05), "subgroups": {}})


def _comparison_table(evaluation: dict, finals: dict, thresholds: dict,
                      fold_auc: pd.DataFrame, rules: dict, cv_threshold: str) -> pd.DataFrame:
    rows = []
    for cohort, ev in evaluation.items():
        for m, s in ev["scores"].items():
            row = {"model": finals[m].classifier, "cohort": cohort, "n": s["n"],
                   "auc": s["auc"], "auc_ci_low": s["auc_ci"][0], "auc_ci_high": s["auc_ci"][1]}
            for k in _METRICS:
                row[k] = s[k]["value"]
            row["threshold"] = (np.nan if cohort == "cv" and cv_threshold == "nested"
                                else thresholds[m])
            row["blocks"] = finals[m].blocks
            row["model_id"] = m
            fa = fold_auc[fold_auc.model_id == m]["auc"]
            row["fold_auc_mean"] = fa.mean() if cohort == "cv" else np.nan
            row["fold_auc_sd"] = fa.std(ddof=1) if cohort == "cv" and len(fa) > 1 else np.nan
            for k in _METRICS:
                row[f"{k}_ci_low"], row[f"{k}_ci_high"] = s[k]["ci"]
            row["threshold_rule"] = rules["cv"] if cohort == "cv" else rules["carried"]
            row["auc_ci_method"] = s.get("auc_ci_method")
            row["auc_pooled"] = s.get("auc_pooled", np.nan) if cohort == "cv" else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _delong_table(comparison: pd.DataFrame, cohort_scores: dict, roc) -> pd.DataFrame:
    cvrows = comparison[comparison.cohort == "cv"]
    from thyromics.evaluate.summary import holm

    cols = ["cohort", "model_a", "model_b", "n", "auc_a", "auc_b", "auc_diff",
            "ci_low", "ci_high", "z", "p", "method", "p_holm", "selection"]
    if len(cvrows) < 2:
        return pd.DataFrame(columns=cols)
    best = cvrows.sort_values(["auc", "fold_auc_sd"], ascending=[False, True]).iloc[0].model_id
    rows = []
    for cohort, (y, scores) in cohort_scores.items():
        if len(np.unique(y)) < 2:
            continue
        part = []
        for m, s in scores.items():
            if m == best:
                continue
            r = roc.delong_test(y, scores[best], s)
            part.append({"cohort": cohort, "model_a": best, "model_b": m, "n": len(y),
                         "auc_a": r.auc_a, "auc_b": r.auc_b, "auc_diff": r.auc_diff,
                         "ci_low": r.ci_low, "ci_high": r.ci_high, "z": r.z, "p": r.p,
                         "method": "delong_paired",
                         "selection": ("model A chosen as the best on these cv AUCs "
                                       "(post-selection: raw p optimistic)" if cohort == "cv"
                                       else "model A chosen as the best on the cv AUCs")
                                      + f"; p_holm: Holm over the {len(scores) - 1} comparisons"})
        for row, ph in zip(part, holm([row["p"] for row in part])):
            row["p_holm"] = np.nan if ph is None else ph
        rows += part
    return pd.DataFrame(rows, columns=cols)


def read_feature_table(path: Path) -> pd.DataFrame:
    """Read a feature table (:func:`thyromics.io.tables.read_table`: ``.parquet``, ``.csv``, ...)."""
    from thyromics.io.tables import read_table

    return read_table(path, what="the feature table", hint="Make it with `thyromics extract`.")


def join_clinical(table: pd.DataFrame, manifest: Path) -> pd.DataFrame:
    """Left-join the manifest's clinical columns missing from ``table`` on ``case_id``."""
    from thyromics.io.manifest import read_manifest

    if "case_id" not in table.columns:
        raise InputError("the feature table has no 'case_id' column to join the manifest on")
    clin = read_manifest(manifest, check_files=False).clinical_frame()
    new = [c for c in clin.columns if c not in table.columns]
    unmatched = set(table["case_id"].astype(str)) - set(clin.index.astype(str))
    if unmatched:
        raise InputError(f"{len(unmatched)} case(s) of the feature table are not in {manifest}, "
                         f"e.g. {sorted(unmatched)[:3]}; use the manifest the table came from")
    clin.index = clin.index.astype(str)
    keyed = table.assign(_thyromics_key=table["case_id"].astype(str))
    return keyed.merge(clin[new], left_on="_thyromics_key", right_index=True,
                       how="left").drop(columns="_thyromics_key")


def join_tables(table: pd.DataFrame, paths: Sequence[Path]) -> pd.DataFrame:
    """Add the columns of other feature tables, matched on ``case_id``.

    Cases missing from a joined table get empty values (imputed inside each training
    fold). A deep-feature table made by a network trained on the same training cases is
    in-sample for them: its cross-validated AUC on the training cohort is optimistic,
    while the other cohorts stay honest; a warning says so.
    """
    out = table
    for path in paths:
        other = read_feature_table(path)
        if "case_id" not in other.columns:
            raise InputError(f"{path}: no case_id column to join on")
        new = [c for c in other.columns if c != "case_id" and c not in out.columns]
        if not new:
            raise InputError(f"{path}: no column that the feature table does not already have")
        matched = out["case_id"].isin(other["case_id"]).sum()
        if matched == 0:
            raise InputError(f"{path}: none of its case_id values is in the feature table")
        if any(c.startswith("deep_") for c in new):
            warnings.warn(f"{path}: deep features of training cases come from a network trained "
                          "on those cases; their cross-validated AUC is optimistic, the other "
                          "cohorts are honest", ThyromicsWarning, stacklevel=2)
        out = out.merge(other[["case_id", *new]], on="case_id", how="left")
    return out


def run_model_stage(features_path: Path, *, label: str = "label", group: str | None = "patient_id",
                    split: str | None = None, blocks: Sequence[str] = ("radiomics",),
                    models: Sequence[str] = ("lr", "rf", "rfq"), cv: int = 5, repeats: int = 1,
                    seed: int = 0, settings: PipelineSettings | None = None,
                    out_dir: Path, importance: Sequence[str] = IMPORTANCE_KINDS,
                    families: bool = False, manifest: Path | None = None,
                    join: Sequence[Path] = (), positive: Any = None,
                    harmonize_compare: bool = True, cv_threshold: str = "nested",
                    jobs: int = 1, scheduler: str | None = None, cache: bool = True,
                    progress: Callable | None = None, optimism: int = 0,
                    importance_models: Sequence[str] | None = None,
                    shap_rows: int = 200) -> ModelStudyResult:
    """Run :func:`fit_and_compare` on a feature table file and write the stage outputs.

    Writes into ``out_dir``: ``comparison.csv``, ``predictions.parquet``, ``delong.csv``,
    ``fold_auc.csv``, ``leakage.csv``, ``importance_{permutation,vimp,shap}.csv``,
    ``evaluation.json`` (the evaluate API's full output per cohort),
    ``families.csv`` (with ``families=True``), ``models/<model_id>/`` (see
    :func:`thyromics.models.persist.save_model`) and ``run.json`` (provenance).

    ``manifest`` (a ``cases.csv``): its clinical columns that the feature table lacks
    are joined on ``case_id`` (they then form the ``clinical`` block). ``join``: more
    feature tables joined on ``case_id`` (e.g. ``deep/deep_features.parquet``, whose
    ``deep_pca_*`` columns form the ``deep`` block); see :func:`join_tables`.
    ``positive``: the positive class of a text label (see :func:`fit_and_compare`).
    ``cv_threshold``: how the ``cv`` row's threshold is chosen (see :func:`fit_and_compare`);
    ``sample_size.csv`` holds Riley et al.'s minimum sample size per block set.
    ``jobs`` / ``scheduler``: where the fits run (see :func:`fit_and_compare`); with
    ``cache``, fits are kept by content in ``out_dir/.fits`` so a rerun refits only what
    changed; ``progress``: a progress bar factory; ``importance_models``, ``shap_rows``:
    which models get importance tables, SHAP's row cap (see :func:`fit_and_compare`).
    With ``settings.robust``, ``robust.csv`` lists what each final model's robust step
    removed; with ``settings.harmonize``, ``harmonization/`` holds the before / after
    figures and (``harmonize_compare``: the same study again without ComBat) the AUC with
    and without it (:mod:`thyromics.models.harmonize_report`).
    ``optimism``: B > 0 repeats every final model's whole procedure on B bootstrap samples
    of the training cohort (patients resampled) and writes ``optimism.csv`` and the
    ``optimism`` block of ``run.json`` (:mod:`thyromics.models._optimism`).
    """
    from thyromics.models._optimism import run_optimism
    from thyromics.models._write import write_stage
    from thyromics.provenance import check_writable, output_lock

    settings = settings or PipelineSettings()
    table = read_feature_table(features_path)
    if manifest is not None:
        table = join_clinical(table, Path(manifest))
    if join:
        table = join_tables(table, [Path(p) for p in join])
    if group and group not in table.columns:
        if group == "patient_id":
            warnings.warn("no 'patient_id' column: every row is treated as its own patient",
                          ThyromicsWarning, stacklevel=2)
            group = None
    t0 = time.perf_counter()
    out = check_writable(Path(out_dir), "the model output folder")  # before the work
    with output_lock(MODEL.at(out, "run")):
        res = fit_and_compare(table, label=label, group=group, split=split, blocks=blocks,
                              models=models, cv=cv, repeats=repeats, seed=seed,
                              settings=settings, importance=importance, positive=positive,
                              cv_threshold=cv_threshold, jobs=jobs, scheduler=scheduler,
                              cache_dir=out / FIT_CACHE if cache else None,
                              progress=progress, importance_models=importance_models,
                              shap_rows=shap_rows)
        write_stage(res, table, out, features_path, settings, label=label, group=group,
                     split=split, blocks=blocks, models=models, cv=cv, repeats=repeats,
                     seed=seed, importance=importance, families=families, manifest=manifest,
                     positive=positive, t0=t0)
        steps.write_step_outputs(res, table, out, settings, label=label, group=group, split=split,
                            blocks=blocks, models=models, cv=cv, repeats=repeats, seed=seed,
                            positive=positive, compare=harmonize_compare, jobs=jobs,
                            scheduler=scheduler)
        res.optimism = run_optimism(res, optimism, out, jobs=jobs, scheduler=scheduler,
                                    cache_dir=out / FIT_CACHE if cache else None,
                                    progress=progress)
    return res

