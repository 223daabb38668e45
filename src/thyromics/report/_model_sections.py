"""Sections drawn from the modelling stage's outputs (``OUT/models/<block>/``).

Numbers in the tables are the modelling stage's own (``comparison.csv``,
``delong.csv``); curves are computed from ``predictions.parquet`` through
:mod:`thyromics.report._stats`. Out-of-fold training predictions have cohort ``cv``;
where one prediction per case is needed (calibration, decision curves, 2x2 tables), the
first CV repeat is used.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from thyromics.errors import ThyromicsError
from thyromics.report import _stats as S
from thyromics.report import figures as F
from thyromics.report._html import Section, fmt, heading, note, safe_name
from thyromics.report._optimism_section import optimism_table
from thyromics.report._study import SUBGROUPS, Study

__all__ = ["models_section", "roc_section", "calibration_section", "decision_section",
           "confusion_section", "subgroups_section", "importance_section"]

_MODEL_CMD = "thyromics model"
#: Axis labels of the modelling stage's importance columns.
_IMPORTANCE_AXIS: dict[str, str] = {
    "auc_drop": "Drop in AUC when the feature is permuted",
    "mean_abs_shap": "Mean |SHAP value| (model output units)",
    "vimp": "Permutation VIMP (drop in out-of-bag accuracy)",
}


def _seed(study: Study) -> int:
    meta = study.json("study.json") or {}
    seed = meta.get("seed", 0)
    return int(seed) if isinstance(seed, (int, float, str)) and str(seed).isdigit() else 0


def _no_blocks(sec: Section, what: str) -> Section:
    sec.not_run(what, "models/<block>/", _MODEL_CMD)
    return sec


def _predictions(study: Study, sec: Section) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame | None]]:
    """(block, predictions, comparison) for every block; notes where predictions miss."""
    blocks = study.blocks()
    if not blocks:
        _no_blocks(sec, "model comparison")
    for block in blocks:
        preds = study.table("models", block, "predictions.parquet")
        if len(blocks) > 1:
            sec.add(heading(f"Block: {block}"))
        if preds is None:
            sec.not_run(f"predictions of block {block}", f"models/{block}/predictions.parquet", _MODEL_CMD)
            continue
        yield block, _by_model(preds), _by_model(study.table("models", block, "comparison.csv"))


def _by_model(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """Make ``model`` the unique model key.

    The modelling stage writes ``model`` (the classifier) and ``model_id`` (classifier
    and feature blocks); when one folder holds several block sets, ``model_id`` is the
    one that tells the models apart.
    """
    if frame is None or "model_id" not in frame or "model" not in frame:
        return frame
    if frame["model_id"].nunique() > frame["model"].nunique():
        return frame.assign(model=frame["model_id"])
    return frame


def _model_names(comp: pd.DataFrame | None) -> dict[str, str]:
    """``model_id -> model`` where the comparison table gives both."""
    if comp is None or "model_id" not in comp:
        return {}
    return dict(zip(comp["model_id"].astype(str), comp["model"].astype(str)))


def _pooled(part: pd.DataFrame) -> pd.DataFrame:
    """One prediction per case: the first CV repeat (other cohorts have one anyway)."""
    if "repeat" in part and part["repeat"].notna().any():
        part = part[part["repeat"] == part["repeat"].min()]
    return part


def _is_probability(preds: pd.DataFrame) -> bool:
    return bool(preds["score"].between(0, 1).all())


def models_section(study: Study) -> Section:
    """The comparison table (AUC with 95% CI and metrics at the threshold) and DeLong tests."""
    sec = Section("models", "Model comparison")
    blocks = study.blocks()
    if not blocks:
        return _no_blocks(sec, "model comparison")
    for block in blocks:
        sec.add(heading(f"Block: {block}"))
        comp = _by_model(study.table("models", block, "comparison.csv"))
        if comp is None:
            sec.not_run(f"comparison of block {block}", f"models/{block}/comparison.csv", _MODEL_CMD)
        else:
            shown = pd.DataFrame({"model": comp["model"], "cohort": comp["cohort"],
                                  "n": comp["n"].map(lambda v: fmt(v, 0))})
            shown["AUC (95% CI)"] = [f"{fmt(a)} ({fmt(lo)}\u2013{fmt(hi)})" for a, lo, hi in
                                     zip(comp["auc"], comp["auc_ci_low"], comp["auc_ci_high"])]
            for col, title in (("accuracy", "Accuracy"), ("sensitivity", "Sensitivity"),
                               ("specificity", "Specificity"), ("ppv", "PPV"), ("npv", "NPV"),
                               ("f1", "F1"), ("threshold", "Threshold")):
                if col in comp:
                    shown[title] = comp[col].map(fmt)
            if "threshold_rule" in comp:  # which rule produced each threshold
                shown["Threshold"] = [("per fold" if pd.isna(t) else fmt(t)) for t in comp["threshold"]]
                shown["Threshold rule"] = comp["threshold_rule"].astype(str)
            sec.add_table(f"comparison_{safe_name(block)}", comp, shown,
                          source=f"models/{block}/comparison.csv",
                          caption=_comparison_caption(comp))
            if "threshold_rule" not in comp:  # e.g. the network block: its run.json says
                rule = (study.json("models", block, "run.json") or {}).get("threshold")
                if isinstance(rule, str):
                    sec.add(note(f"Threshold rule of block {block}: {rule} "
                                 f"(models/{block}/run.json)."))
            sizes = study.table("models", block, "sample_size.csv")
            if sizes is not None and not sizes.empty and "message" in sizes:
                for msg, ok in zip(sizes["message"], sizes["enough"]):
                    sec.add(note(("" if bool(ok) else "Sample size too small. ") + str(msg)))
        optimism_table(sec, study, block)  # models/<block>/optimism.csv, when the stage ran it
        delong = study.table("models", block, "delong.csv")
        if delong is None:
            sec.not_run(f"DeLong comparisons of block {block}", f"models/{block}/delong.csv", _MODEL_CMD)
        elif delong.empty:
            sec.add(note(f"Block {block}: no DeLong comparison (fewer than two models)."))
        else:
            names = _model_names(comp)
            a, b = ("a", "b") if "a" in delong else ("model_a", "model_b")
            shown = pd.DataFrame({"model A": delong[a].astype(str).map(lambda m: names.get(m, m)),
                                  "model B": delong[b].astype(str).map(lambda m: names.get(m, m))})
            if "cohort" in delong:
                shown.insert(0, "cohort", delong["cohort"])
            shown["AUC difference (95% CI)"] = [
                f"{fmt(d)} ({fmt(lo)}\u2013{fmt(hi)})"
                for d, lo, hi in zip(delong["auc_diff"], delong["ci_low"], delong["ci_high"])]
            shown["z"] = delong["z"].map(lambda v: fmt(v, 2))
            shown["p"] = delong["p"].map(lambda p: "<0.001" if p < 0.001 else fmt(p, 3))
            if "p_holm" in delong:
                shown["p (Holm)"] = delong["p_holm"].map(
                    lambda p: "-" if pd.isna(p) else "<0.001" if p < 0.001 else fmt(p, 3))
            sec.add(heading("DeLong tests", 4))
            sec.add_table(f"delong_{safe_name(block)}", delong, shown,
                          source=f"models/{block}/delong.csv",
                          caption="Paired DeLong test of the difference in AUC (A minus B)."
                                  + (" Model A is the best model on the cv AUCs, chosen on the "
                                     "same data: the cv p-values are post-selection (optimistic); "
                                     "Holm-adjusted p-values over the comparisons beside the raw "
                                     "ones." if "p_holm" in delong else ""))
    return sec


def _comparison_caption(comp: pd.DataFrame) -> str:
    """The comparison table's caption: how the AUC CI and each threshold were obtained."""
    if "threshold_rule" not in comp:
        return ("AUC with its 95% confidence interval (DeLong) and metrics at the threshold "
                "chosen on the out-of-fold training predictions and carried unchanged to every "
                "cohort (cohort 'cv': out-of-fold training predictions).")
    return ("AUC with its 95% confidence interval: cohort 'cv' the cross-validated AUC (mean of "
            "the fold AUCs) with the influence-curve CI of LeDell et al. (2015), other cohorts "
            "DeLong. Metrics at the threshold named in 'Threshold rule': for 'cv', a threshold "
            "chosen inside each outer training part and applied to its held-out fold ('per "
            "fold'; see predictions.parquet), unless the rule says 'optimistic'; for the other "
            "cohorts, the final model's threshold chosen on the out-of-fold training "
            "predictions and carried unchanged.")


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
            sec.not_run(f"thresholds of block {block}", f"models/{block}/comparison.csv", _MODEL_CMD)
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


#: Most rows of one subgroup forest plot; beyond, only the block's best model is drawn.
FOREST_MAX_ROWS: int = 30


def _forest_rows(part: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of a block's forest plot and what they show.

    The held-out cohorts' subgroups that have an AUC with a CI; where none has (small
    held-out cohorts), every cohort's. Beyond :data:`FOREST_MAX_ROWS` rows, only the
    model with the highest cross-validated AUC.
    """
    has_ci = part.dropna(subset=["auc", "auc_ci_low", "auc_ci_high"])
    held, cohorts = has_ci[has_ci["cohort"] != "cv"], "held-out cohorts"
    if held.empty:
        held, cohorts = has_ci, "all cohorts (no held-out subgroup has an AUC CI)"
    what = "every model"
    if len(held) > FOREST_MAX_ROWS:
        cv = part[part["cohort"] == "cv"].groupby("model")["auc"].max()
        best = str(cv.idxmax()) if cv.notna().any() else str(held["model"].iloc[0])
        held, what = held[held["model"] == best], f"model {best} (highest cross-validated AUC)"
    rows = pd.DataFrame({
        "label": held["cohort"].astype(str) + " / " + held["model"].astype(str) + " / "
                 + held["variable"].astype(str) + " " + held["subgroup"].astype(str),
        "n": held["n"], "estimate": held["auc"], "ci_low": held["auc_ci_low"],
        "ci_high": held["auc_ci_high"]})
    return rows, f"{cohorts}, {what}"


def subgroups_section(study: Study) -> Section:
    """Subgroup AUCs at the carried thresholds: a table and a forest plot per block."""
    sec = Section("subgroups", "Subgroups")
    source = "/".join(SUBGROUPS)
    table = study.table(*SUBGROUPS)
    if table is None:
        sec.not_run("subgroup analysis", source, "thyromics run (evaluate.subgroups in the study YAML)")
        return sec
    if table.empty:
        sec.add(note(f"{source} holds no subgroup: no cohort had both outcome classes."))
        return sec
    sec.add(note("Every model at the threshold chosen on its out-of-fold training predictions, "
                 "carried unchanged into each subgroup (never re-chosen there). AUC 95% CI: "
                 "DeLong. A subgroup with one outcome class has no AUC (shown as \u2013)."))
    for block, part in table.groupby("block", sort=False):
        part = part.reset_index(drop=True)
        sec.add(heading(f"Block: {block}"))
        shown = pd.DataFrame({
            "cohort": part["cohort"], "model": part["model"], "variable": part["variable"],
            "subgroup": part["subgroup"], "n": part["n"].map(lambda v: fmt(v, 0)),
            "positives": part["n_pos"].map(lambda v: fmt(v, 0)),
            "AUC (95% CI)": [f"{fmt(a)} ({fmt(lo)}\u2013{fmt(hi)})" if pd.notna(a) else "\u2013"
                             for a, lo, hi in zip(part["auc"], part["auc_ci_low"], part["auc_ci_high"])],
            "Sensitivity": part["sensitivity"].map(fmt), "Specificity": part["specificity"].map(fmt),
            "Threshold": part["threshold"].map(fmt)})
        sec.add_table(f"subgroups_{safe_name(block)}", part, shown, source=source,
                      caption=f"Subgroups of block {block} (cohort 'cv': out-of-fold training "
                              "predictions).")
        rows, what = _forest_rows(part)
        if not rows.empty:
            sec.add_figure(F.forest_figure(
                rows, name=f"subgroups_{safe_name(block)}_forest",
                caption=f"Block {block}, {what}: AUC with 95% DeLong CI per "
                        "subgroup; dashed line: AUC 0.5."))
    return sec


#: The model stage's importance tables (``importance_<kind>.csv``), in report order.
IMPORTANCE_KINDS: tuple[str, ...] = ("permutation", "vimp", "shap")


def importance_section(study: Study) -> Section:
    """Top features per model from the model stage's importance tables.

    Reads ``models/<block>/importance_<kind>.csv`` (``model_id, feature, <value>, rank``)
    for the kinds of :data:`IMPORTANCE_KINDS`; the value column is named by the kind
    (``auc_drop``, ``vimp``, ``mean_abs_shap``).
    """
    sec = Section("importance", "Feature importance")
    blocks = study.blocks()
    if not blocks:
        return _no_blocks(sec, "feature importance")
    for block in blocks:
        sec.add(heading(f"Block: {block}"))
        names = _model_names(study.table("models", block, "comparison.csv"))
        shown = 0
        for kind in IMPORTANCE_KINDS:
            tab = study.table("models", block, f"importance_{kind}.csv")
            if tab is None or tab.empty or "feature" not in tab:
                continue
            key = "model_id" if "model_id" in tab else "model"
            value = next((c for c in tab.columns if c not in (key, "feature", "rank", "sd")
                          and pd.api.types.is_numeric_dtype(tab[c])), None)
            if value is None:
                continue
            ids = tab[key].astype(str)
            mapped = ids.map(lambda m: names.get(m, m))
            model = mapped if mapped.nunique() == ids.nunique() else ids
            data = pd.DataFrame({"model": model, "feature": tab["feature"], "importance": tab[value]})
            sec.add_figure(F.importance_figure(
                data, name=f"importance_{safe_name(block)}_{kind}",
                xlabel=_IMPORTANCE_AXIS.get(value, value),
                caption=f"Top 10 features per model of block {block}: {kind} importance "
                        f"(models/{block}/importance_{kind}.csv)"
                        f"{_shap_rows_note(study, block) if kind == 'shap' else ''}."))
            shown += 1
        run = study.json("models", block, "run.json")
        if not shown and isinstance(run, dict) and run.get("stage") == "deep":
            sec.add(note(f"Block {block} is the network {run.get('network', '')}: its explanation "
                         "is the Grad-CAM gallery, not a feature importance table."))
        elif not shown:
            sec.not_run(f"importance of block {block}", f"models/{block}/importance_<kind>.csv",
                        _MODEL_CMD)
    return sec


def _shap_rows_note(study: Study, block: str) -> str:
    """How many training cases SHAP explained (``importance.shap_rows`` of run.json)."""
    run = study.json("models", block, "run.json")
    rows = (run.get("importance") or {}).get("shap_rows") if isinstance(run, dict) else None
    return f"; SHAP on a seeded sample of at most {rows} training cases" if rows else ""
