"""Sections drawn from the modelling stage's predictions (``models/<block>/predictions.parquet``).

ROC curves, calibration, decision curves and confusion matrices, computed through
:mod:`thyromics.report._stats`; legends and thresholds come from ``comparison.csv``.
Out-of-fold training predictions have cohort ``cv``; where one prediction per case is
needed (calibration, decision curves, 2x2 tables), the first CV repeat is used.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from thyromics.errors import ThyromicsError
from thyromics.layout import MODEL, STUDY
from thyromics.report import _stats as S
from thyromics.report import figures as F
from thyromics.report._html import Section, fmt, heading, note, safe_name
from thyromics.report._model_sections import _MODEL_CMD, _by_model, _no_blocks
from thyromics.report._study import Study

__all__ = ["roc_section", "calibration_section", "decision_section", "confusion_section"]


def _seed(study: Study) -> int:
    meta = study.json(STUDY.rel("study")) or {}
    seed = meta.get("seed", 0)
    return int(seed) if isinstance(seed, (int, float, str)) and str(seed).isdigit() else 0


def _predictions(study: Study, sec: Section) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame | None]]:
    """(block, predictions, comparison) for every block; notes where predictions miss."""
    blocks = study.blocks()
    if not blocks:
        _no_blocks(sec, "model comparison")
    for block in blocks:
        preds = study.table(MODEL.rel("predictions", block=block))
        if len(blocks) > 1:
            sec.add(heading(f"Block: {block}"))
        if preds is None:
            sec.not_run(f"predictions of block {block}", MODEL.rel("predictions", block=block), _MODEL_CMD)
            continue
        yield block, _by_model(preds), _by_model(study.table(MODEL.rel("comparison", block=block)))


def _pooled(part: pd.DataFrame) -> pd.DataFrame:
    """One prediction per case: the first CV repeat (other cohorts have one anyway)."""
    if "repeat" in part and part["repeat"].notna().any():
        part = part[part["repeat"] == part["repeat"].min()]
    return part


def _is_probability(preds: pd.DataFrame) -> bool:
    return bool(preds["score"].between(0, 1).all())


def roc_section(study: Study) -> Section:
    """ROC curves with confidence bands, per block and cohort."""
    sec = Section("roc", "ROC curves")
    seed = _seed(study)
    for block, preds, comp in _predictions(study, sec):
        legend: dict[tuple[str, str], str] = {}
        if comp is not None:
            for r in comp.itertuples(index=False):
                legend[(r.model, r.cohort)] = (f"{r.model}: AUC {fmt(r.auc)} "
                                               f"({fmt(r.auc_ci_low)}\u2013{fmt(r.auc_ci_high)})")
        rows, skipped = [], []
        for (model, cohort), part in preds.groupby(["model", "cohort"], sort=False):
            try:
                if cohort == "cv" and "fold" in part:
                    tpr, low, high, auc_mean, auc_sd = S.cv_roc(part)
                    legend[(model, cohort)] = (legend.get((model, cohort), model)
                                               + f"; fold mean {fmt(auc_mean)} \u00b1 {fmt(auc_sd)}")
                else:
                    tpr, low, high = S.roc_band(part["y_true"].to_numpy(), part["score"].to_numpy(),
                                                seed=seed)
            except ThyromicsError as e:  # e.g. one class only: say so, draw the others
                skipped.append(f"{model}/{cohort} ({e})")
                continue
            rows.append(pd.DataFrame({"model": model, "cohort": cohort, "fpr": S.FPR_GRID,
                                      "tpr": tpr, "tpr_low": low, "tpr_high": high}))
        if skipped:
            sec.add(note("No ROC curve for: " + "; ".join(skipped)))
        if rows:
            sec.add_figure(F.roc_figure(
                pd.concat(rows, ignore_index=True), legend, name=f"roc_{safe_name(block)}",
                caption=f"ROC curves of block {block}. Cohort 'cv': mean of the out-of-fold curves "
                        "over folds and repeats, band \u00b11 SD across folds; other cohorts: band "
                        "= pointwise 95% stratified bootstrap interval (200 resamples). Legend: "
                        "AUC (95% DeLong CI) from the comparison table."))
    return sec


def calibration_section(study: Study) -> Section:
    """Reliability curves (quantile bins), per block and cohort."""
    sec = Section("calibration", "Calibration")
    for block, preds, _ in _predictions(study, sec):
        if not _is_probability(preds):
            sec.add(note(f"Block {block}: scores are not probabilities (outside 0-1); "
                         "calibration is not defined."))
            continue
        rows, legend = [], {}
        for (model, cohort), part in preds.groupby(["model", "cohort"], sort=False):
            part = _pooled(part)
            n_bins = int(min(10, max(2, len(part) // 10)))
            bins, summ = S.calibration_summary(part["y_true"].to_numpy(), part["score"].to_numpy(),
                                               n_bins=n_bins)
            legend[(model, cohort)] = (f"{model}: slope {fmt(summ['slope'], 2)}, intercept "
                                       f"{fmt(summ['intercept'], 2)}, Brier {fmt(summ['brier'])}")
            rows.append(bins.assign(model=model, cohort=cohort, n_bins=n_bins, **summ))
        if rows:
            data = pd.concat(rows, ignore_index=True)
            front = ["model", "cohort", "n_bins", "n", "mean_predicted", "observed"]
            data = data[front + [c for c in data.columns if c not in front]]
            sec.add_figure(F.calibration_figure(
                data, legend, name=f"calibration_{safe_name(block)}",
                caption=f"Calibration of block {block}: observed fraction of positives (Wilson 95% "
                        "CI) against the mean predicted probability in quantile bins (up to 10 "
                        "bins, at least 10 cases per bin). Legend: calibration slope, "
                        "calibration-in-the-large intercept and Brier score."))
    return sec


def _wide(part: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Outcome and each model's probability on the cases all models scored."""
    wide = part.pivot_table(index="case_id", columns="model", values="score", aggfunc="first")
    truth = part.groupby("case_id")["y_true"].first()
    wide = wide.dropna()
    return truth.loc[wide.index].to_numpy(), {m: wide[m].to_numpy() for m in wide.columns}


def decision_section(study: Study) -> Section:
    """Decision curves: net benefit of every model, treat-all and treat-none."""
    sec = Section("decision-curves", "Decision curves")
    for block, preds, _ in _predictions(study, sec):
        if not _is_probability(preds):
            sec.add(note(f"Block {block}: scores are not probabilities; decision curves need them."))
            continue
        rows = []
        for cohort, part in preds.groupby("cohort", sort=False):
            y, probs = _wide(_pooled(part))
            if len(y) and np.unique(y).size == 2:
                rows.append(S.decision_curve(y, probs).assign(cohort=cohort))
        if rows:
            data = pd.concat(rows, ignore_index=True)[["model", "cohort", "threshold", "net_benefit"]]
            sec.add_figure(F.decision_figure(
                data, name=f"decision_{safe_name(block)}",
                caption=f"Decision curves of block {block}: net benefit (Vickers & Elkin 2006) "
                        "against the threshold probability, with treat-all and treat-none."))
    return sec


def confusion_section(study: Study) -> Section:
    """2x2 tables of every model and cohort at its threshold.

    Held-out cohorts: the threshold carried from training (``comparison.csv``). Cohort
    ``cv`` with a per-fold rule (threshold NaN in ``comparison.csv``): every out-of-fold
    prediction at the threshold of its fold (``threshold`` of ``predictions.parquet``),
    counts averaged over CV repeats (:func:`~thyromics.report._stats.confusion_per_fold`).
    """
    sec = Section("confusion", "Confusion matrices at the chosen thresholds")
    for block, preds, comp in _predictions(study, sec):
        if comp is None or "threshold" not in comp:
            sec.not_run(f"thresholds of block {block}", MODEL.rel("comparison", block=block), _MODEL_CMD)
            continue
        thresholds = {(r.model, r.cohort): r.threshold for r in comp.itertuples(index=False)}
        rules = (dict(zip(zip(comp["model"], comp["cohort"]), comp["threshold_rule"].astype(str)))
                 if "threshold_rule" in comp else {})
        rows, per_fold = [], False
        for (model, cohort), part in preds.groupby(["model", "cohort"], sort=False):
            t = thresholds.get((model, cohort))
            if t is None:
                continue
            if pd.isna(t):  # per-fold thresholds: one per outer fold, in the predictions
                if cohort != "cv" or "threshold" not in part or part["threshold"].isna().any():
                    continue
                cm, per_fold = S.confusion_per_fold(part), True
            else:
                part = _pooled(part)
                cm = S.confusion_at(part["y_true"].to_numpy(), part["score"].to_numpy(), float(t))
            rows.append({"model": model, "cohort": cohort, "threshold": float(t), **cm,
                         "threshold_rule": rules.get((model, cohort), "")})
        if rows:
            sec.add_figure(F.confusion_figure(
                pd.DataFrame(rows), name=f"confusion_{safe_name(block)}",
                caption=f"Confusion matrices of block {block} (numbers of cases); a case is "
                        "called positive when its score is at or above the threshold chosen on "
                        "the training data"
                        + (" (cohort 'cv': each out-of-fold prediction at the threshold chosen "
                           "inside its outer training part, column 'threshold' of "
                           "predictions.parquet; counts averaged over CV repeats)" if per_fold
                           else "")
                        + ". Threshold rules: the model comparison table and the data file."))
    return sec
