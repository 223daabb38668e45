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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.models import _steps as steps
from thyromics.models._inputs import binary_outcome, used_inputs
from thyromics.models.pipeline import (PipelineSettings, passenger_columns, prepare_frame,
                                       split_column_types)

__all__ = ["FittedModel", "ModelStudyResult", "fit_and_compare", "run_model_stage",
           "read_feature_table", "join_clinical", "IMPORTANCE_KINDS", "CV_THRESHOLDS",
           "threshold_rules"]

IMPORTANCE_KINDS = ("permutation", "vimp", "shap")
#: How the ``cv`` row's threshold is chosen (see :func:`fit_and_compare`).
CV_THRESHOLDS = ("nested", "pooled")
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
                    cv_threshold: str = "nested") -> ModelStudyResult:
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
    positive : optional
        The positive class of ``label`` (e.g. ``"Malignant"``); see
        :func:`thyromics.models._inputs.binary_outcome`.
    cv_threshold : {"nested", "pooled"}
        Threshold of the ``cv`` row's metrics. ``"nested"``: per outer fold, chosen by
        ``settings.threshold_rule`` on the inner out-of-fold scores of the outer training
        part (``settings.inner_cv`` folds; costs ``inner_cv`` extra fits per outer fold)
        and applied to that fold. ``"pooled"``: chosen on the pooled out-of-fold scores
        the metrics are computed on (optimistic: on pure noise it gives Youden's J near
        0.1). Either way the carried threshold of the final model is the pooled one, and
        the evaluation JSON holds the pooled metrics under ``pooled_oof``.

    Returns
    -------
    ModelStudyResult
    """
    from thyromics.evaluate import roc
    from thyromics.evaluate.api import evaluate_scores
    from thyromics.evaluate.thresholds import choose_threshold
    from thyromics.models import cv as cvmod
    from thyromics.models.blocks import block_columns, resolve_block_sets
    from thyromics.models.importance import (permutation_importance_auc, pipeline_vimp,
                                             shap_importance)
    from thyromics.models.pipeline import build_model, final_pipeline, fit_model
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
    pred_rows, fold_rows, cv_scores, finals, oofs = [], [], {}, {}, {}
    perm_parts, vimp_parts, shap_parts = {}, {}, {}
    for bset, cols in block_sets.items():
        numeric = [c for c in numeric_all if c in cols]
        categorical = [c for c in categorical_all if c in cols]
        for name in models:
            mid = name if len(block_sets) == 1 else f"{name}@{bset}"
            passengers = passenger_columns(settings, numeric + categorical)
            inputs = numeric + categorical + passengers
            t0 = time.perf_counter()

            def make(name=name, numeric=numeric, categorical=categorical):
                return build_model(name, settings, numeric=numeric, categorical=categorical,
                                   seed=seed)

            perm_folds: list[pd.Series] = []

            def on_fold(model, fold, numeric=numeric, categorical=categorical):
                if "permutation" not in importance:
                    return
                pipe = final_pipeline(model)
                use = used_inputs(pipe, numeric, categorical)
                Xte = X_tr.iloc[fold.test][inputs]
                s = pd.Series(0.0, index=numeric + categorical)
                if use and len(np.unique(y_tr[fold.test])) == 2:
                    s[use] = permutation_importance_auc(model, Xte, y_tr[fold.test], columns=use,
                                                        n_repeats=permutation_repeats,
                                                        seed=seed + fold.fold)
                perm_folds.append(s)

            chooser = (cvmod.inner_threshold(make, fit_model, _rule_chooser(settings.threshold_rule),
                                             k=settings.inner_cv, seed=seed)
                       if cv_threshold == "nested" else None)
            oof = cvmod.cross_validated_scores(make, fit_model, X_tr[inputs],
                                               y_tr, g_tr, folds, on_fold=on_fold,
                                               threshold=chooser)
            oofs[mid] = oof
            for (r, f), part in oof.groupby(["repeat", "fold"]):
                yy = y_tr[part["row"]]
                fold_rows.append({"model_id": mid, "model": name, "blocks": bset, "repeat": r,
                                  "fold": f, "n": len(part),
                                  "auc": roc.auc(yy, part["score"]) if len(set(yy)) == 2
                                  else np.nan})
            pred_rows.append(pd.DataFrame({
                "case_id": ids[tr][oof["row"]], "patient_id": g_tr[oof["row"]], "model": name,
                "blocks": bset, "model_id": mid, "cohort": "cv", "fold": oof["fold"].to_numpy(),
                "repeat": oof["repeat"].to_numpy(), "y_true": y_tr[oof["row"]],
                "score": oof["score"].to_numpy(),
                "threshold": (oof["threshold"].to_numpy() if "threshold" in oof
                              else np.full(len(oof), np.nan))}))
            cv_scores[mid] = oof.groupby("row")["score"].mean().reindex(range(len(tr))).to_numpy()
            if perm_folds:
                perm_parts[mid] = pd.concat(perm_folds, axis=1).mean(axis=1)
            model = make()
            fit_model(model, X_tr[inputs], y_tr, g_tr)
            pipe = final_pipeline(model)
            finals[mid] = FittedModel(
                model_id=mid, classifier=name, blocks=bset, pipeline=pipe, threshold=np.nan,
                numeric=numeric, categorical=categorical, label=label,
                positive_class=positive,
                settings=settings,
                training={"n_cases": int(len(tr)), "n_patients": int(len(set(g_tr))),
                          "n_positive": int(y_tr.sum()), "cv": cv, "repeats": repeats,
                          "seed": seed, "fit_seconds": round(time.perf_counter() - t0, 2),
                          "best_params": getattr(model, "best_params_", None),
                          **steps.step_summaries(pipe)},
                passengers=passengers)
            if "vimp" in importance and specs[name].oob_forest:
                vimp_parts[mid] = pipeline_vimp(pipe, X_tr[inputs], y_tr, seed=seed)
            if "shap" in importance and specs[name].tree_based:
                shap_parts[mid] = shap_importance(pipe, X_tr[inputs], seed=seed)

    # --- evaluation: every number from thyromics.evaluate --------------------------
    mids = list(finals)
    # The final model's threshold: the rule on the pooled out-of-fold training scores. A
    # model whose out-of-fold scores are all equal (e.g. the selection kept no feature)
    # gets an infinite Youden threshold: every case called negative (JSON null).
    thresholds = {m: float(choose_threshold(y_tr, cv_scores[m], settings.threshold_rule))
                  for m in mids}
    rules = threshold_rules(settings.threshold_rule, cv_threshold, settings.inner_cv)
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
        sample_size=sample_size, threshold_rules=rules)








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


def _rule_chooser(rule: str):
    """``choose(y, scores) -> threshold`` by ``rule``; tie warnings of inner folds are muted."""
    from thyromics.evaluate.thresholds import TiedCutpointWarning, choose_threshold

    def choose(y: np.ndarray, s: np.ndarray) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TiedCutpointWarning)
            return float(choose_threshold(y, s, rule))
    return choose


def _cv_evaluation(y_tr: np.ndarray, oofs: dict, cv_scores: dict, thresholds: dict,
                   rules: dict, settings: PipelineSettings, seed: int) -> dict:
    """The ``cv`` entry of the evaluation JSON (the shape of ``evaluate_scores``' output)."""
    from thyromics.evaluate.cv import cv_threshold_block
    from thyromics.evaluate.summary import comparisons, jsonable

    blocks = {m: cv_threshold_block(y_tr, oof, threshold_rule=rules["cv"], seed=seed,
                                    pooled_threshold=thresholds[m],
                                    pooled_rule=settings.threshold_rule)
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
    """Read a feature table (``.parquet`` or ``.csv``), with a clear error otherwise."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"feature table {path} not found; make it with `thyromics extract`")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path)
    raise InputError(f"feature table {path}: expected a .parquet or .csv file, found {suffix!r}")


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
                    harmonize_compare: bool = True, cv_threshold: str = "nested") -> ModelStudyResult:
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
    With ``settings.robust``, ``robust.csv`` lists what each final model's robust step
    removed; with ``settings.harmonize``, ``harmonization/`` holds the before / after
    figures and (``harmonize_compare``: the same study again without ComBat) the AUC with
    and without it (:mod:`thyromics.models.harmonize_report`).
    """
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
    with output_lock(out / "run.json"):
        res = fit_and_compare(table, label=label, group=group, split=split, blocks=blocks,
                              models=models, cv=cv, repeats=repeats, seed=seed,
                              settings=settings, importance=importance, positive=positive,
                              cv_threshold=cv_threshold)
        write_stage(res, table, out, features_path, settings, label=label, group=group,
                     split=split, blocks=blocks, models=models, cv=cv, repeats=repeats,
                     seed=seed, importance=importance, families=families, manifest=manifest,
                     positive=positive, t0=t0)
        steps.write_step_outputs(res, table, out, settings, label=label, group=group, split=split,
                            blocks=blocks, models=models, cv=cv, repeats=repeats, seed=seed,
                            positive=positive, compare=harmonize_compare)
    return res

