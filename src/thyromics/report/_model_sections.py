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
from thyromics.report._html import Section, fmt, heading, note, png_html, safe_name
from thyromics.report._study import Study

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
            sec.add_table(f"comparison_{safe_name(block)}", comp, shown,
                          caption="AUC with its 95% confidence interval (DeLong) and metrics at "
                                  "the threshold chosen on the out-of-fold training predictions "
                                  "and carried unchanged to every cohort (cohort 'cv': "
                                  "out-of-fold training predictions).")
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
            sec.add(heading("DeLong tests", 4))
            sec.add_table(f"delong_{safe_name(block)}", delong, shown,
                          caption="Paired DeLong test of the difference in AUC (A minus B).")
    return sec


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
    """2x2 tables of every model and cohort at the threshold carried from training."""
    sec = Section("confusion", "Confusion matrices at the carried threshold")
    for block, preds, comp in _predictions(study, sec):
        if comp is None or "threshold" not in comp:
            sec.not_run(f"thresholds of block {block}", f"models/{block}/comparison.csv", _MODEL_CMD)
            continue
        thresholds = {(r.model, r.cohort): r.threshold for r in comp.itertuples(index=False)}
        rows = []
        for (model, cohort), part in preds.groupby(["model", "cohort"], sort=False):
            t = thresholds.get((model, cohort))
            if t is None or pd.isna(t):
                continue
            part = _pooled(part)
            cm = S.confusion_at(part["y_true"].to_numpy(), part["score"].to_numpy(), float(t))
            rows.append({"model": model, "cohort": cohort, "threshold": float(t), **cm})
        if rows:
            sec.add_figure(F.confusion_figure(
                pd.DataFrame(rows), name=f"confusion_{safe_name(block)}",
                caption=f"Confusion matrices of block {block} (numbers of cases); a case is "
                        "called positive when its score is at or above the threshold chosen on "
                        "the training data."))
    return sec


def _subgroup_rows(node: object, path: tuple[str, ...] = ()) -> list[dict]:
    """Flatten subgroups.json: every dict holding an ``auc`` becomes one row."""
    rows: list[dict] = []
    if isinstance(node, list):
        for item in node:
            rows += _subgroup_rows(item, path)
    elif isinstance(node, dict):
        if "auc" in node and not isinstance(node["auc"], dict):
            ci = node.get("auc_ci") or [node.get("auc_ci_low"), node.get("auc_ci_high")]
            names = [str(node[k]) for k in ("model", "score", "cohort", "subgroup", "variable",
                                            "level", "group") if k in node]
            rows.append({"label": " / ".join([*path, *names]) or "all", "n": node.get("n"),
                         "estimate": node["auc"], "ci_low": ci[0], "ci_high": ci[1]})
        else:
            for k, v in node.items():
                if isinstance(v, (dict, list)):
                    rows += _subgroup_rows(v, (*path, str(k)) if k not in ("scores", "subgroups") else path)
    return rows


def subgroups_section(study: Study) -> Section:
    """Subgroup AUCs as a forest plot."""
    sec = Section("subgroups", "Subgroups")
    data = study.json("evaluate", "subgroups.json")
    if data is None:
        sec.not_run("subgroup analysis", "evaluate/subgroups.json", "thyromics evaluate --subgroup COL")
        return sec
    rows = pd.DataFrame(_subgroup_rows(data), columns=["label", "n", "estimate", "ci_low", "ci_high"])
    rows = rows.dropna(subset=["estimate", "ci_low", "ci_high"])
    if rows.empty:
        sec.add(note("subgroups.json holds no AUC with a confidence interval."))
        return sec
    sec.add_figure(F.forest_figure(rows, name="subgroups",
                                   caption="AUC with 95% CI per subgroup; dashed line: AUC 0.5."))
    return sec


def importance_section(study: Study) -> Section:
    """Top features per model and SHAP summaries."""
    sec = Section("importance", "Feature importance")
    blocks = study.blocks()
    if not blocks:
        return _no_blocks(sec, "feature importance")
    for block in blocks:
        sec.add(heading(f"Block: {block}"))
        names = _model_names(study.table("models", block, "comparison.csv"))
        per_model, per_kind = [], {}
        for path in sorted(study.path("models", block).glob("importance_*.csv")):
            tab = study.table("models", block, path.name)
            stem = path.stem.removeprefix("importance_")
            if tab is None or tab.empty or "feature" not in tab:
                continue
            if "importance" in tab and "model_id" not in tab:  # importance_<model>.csv
                per_model.append(tab.assign(model=stem))
            else:  # importance_<kind>.csv: model_id, feature, <value column>, rank
                key = "model_id" if "model_id" in tab else "model"
                value = next((c for c in tab.columns if c not in (key, "feature", "rank", "sd")
                              and pd.api.types.is_numeric_dtype(tab[c])), None)
                if value is not None:
                    ids = tab[key].astype(str)
                    mapped = ids.map(lambda m: names.get(m, m))
                    model = mapped if mapped.nunique() == ids.nunique() else ids
                    per_kind[(stem, value)] = pd.DataFrame({"model": model, "feature": tab["feature"],
                                                            "importance": tab[value]})
        figures = []
        if per_model:
            figures.append((f"importance_{safe_name(block)}", pd.concat(per_model, ignore_index=True),
                            "importance", "Importance (model's own units)"))
        for (kind, value), tab in per_kind.items():
            figures.append((f"importance_{safe_name(block)}_{safe_name(kind)}", tab,
                            f"{kind} importance", _IMPORTANCE_AXIS.get(value, value)))
        for fig_name, tab, what, xlabel in figures:
            sec.add_figure(F.importance_figure(
                tab, name=fig_name, xlabel=xlabel,
                caption=f"Top 10 features per model of block {block}: {what} (error bars: SD "
                        "over repeats where given)."))
        if not figures:
            sec.not_run(f"importance of block {block}", f"models/{block}/importance_<model>.csv",
                        _MODEL_CMD)
        for shap in sorted(study.path("models", block).glob("shap_*.png")):
            sec.add(png_html(shap, f"SHAP summary, {shap.stem.removeprefix('shap_')} ({block})"),
                    content=True)
    return sec
