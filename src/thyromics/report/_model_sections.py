"""Sections of the modelling stage's tables (``OUT/models/<block>/``).

The model comparison (``comparison.csv``, ``sample_size.csv``, ``optimism.csv``,
``delong.csv``) and the feature importance (``importance_<kind>.csv``), with the
modelling stage's own numbers. The helpers that read a block's tables (the model key,
the model names, the not-run note) serve :mod:`thyromics.report._curve_sections` and
:mod:`thyromics.report._step_sections` too.
"""

from __future__ import annotations

import pandas as pd

from thyromics.layout import MODEL
from thyromics.report import figures as F
from thyromics.report._html import Section, fmt, heading, note, safe_name
from thyromics.report._optimism_section import optimism_table
from thyromics.report._study import Study

__all__ = ["models_section", "importance_section"]

_MODEL_CMD = MODEL.command
#: Axis labels of the modelling stage's importance columns.
_IMPORTANCE_AXIS: dict[str, str] = {
    "auc_drop": "Drop in AUC when the feature is permuted",
    "mean_abs_shap": "Mean |SHAP value| (model output units)",
    "vimp": "Permutation VIMP (drop in out-of-bag accuracy)",
}


def _no_blocks(sec: Section, what: str) -> Section:
    sec.not_run(what, MODEL.folder.format(block="<block>") + "/", _MODEL_CMD)
    return sec


def _blocks(study: Study, sec: Section, what: str):
    """The study's model blocks, each opened by its heading in ``sec`` (none: ``sec``
    says that ``what`` was not run)."""
    blocks = study.blocks()
    if not blocks:
        _no_blocks(sec, what)
    for block in blocks:
        sec.add(heading(f"Block: {block}"))
        yield block


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


def models_section(study: Study) -> Section:
    """The comparison table (AUC with 95% CI and metrics at the threshold) and DeLong tests."""
    sec = Section("models", "Model comparison")
    for block in _blocks(study, sec, "model comparison"):
        comp = _by_model(study.table(MODEL.rel("comparison", block=block)))
        if comp is None:
            sec.not_run(f"comparison of block {block}", MODEL.rel("comparison", block=block), _MODEL_CMD)
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
                          source=MODEL.rel("comparison", block=block),
                          caption=_comparison_caption(comp))
            if "threshold_rule" not in comp:  # e.g. the network block: its run.json says
                rule = (study.json(MODEL.rel("run", block=block)) or {}).get("threshold")
                if isinstance(rule, str):
                    sec.add(note(f"Threshold rule of block {block}: {rule} "
                                 f"({MODEL.rel('run', block=block)})."))
            sizes = study.table(MODEL.rel("sample_size", block=block))
            if sizes is not None and not sizes.empty and "message" in sizes:
                for msg, ok in zip(sizes["message"], sizes["enough"]):
                    sec.add(note(("" if bool(ok) else "Sample size too small. ") + str(msg)))
        optimism_table(sec, study, block)  # models/<block>/optimism.csv, when the stage ran it
        delong = study.table(MODEL.rel("delong", block=block))
        if delong is None:
            sec.not_run(f"DeLong comparisons of block {block}", MODEL.rel("delong", block=block), _MODEL_CMD)
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
                          source=MODEL.rel("delong", block=block),
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


#: The model stage's importance tables (``importance_<kind>.csv``), in report order.
IMPORTANCE_KINDS: tuple[str, ...] = ("permutation", "vimp", "shap")


def importance_section(study: Study) -> Section:
    """Top features per model from the model stage's importance tables.

    Reads ``models/<block>/importance_<kind>.csv`` (``model_id, feature, <value>, rank``)
    for the kinds of :data:`IMPORTANCE_KINDS`; the value column is named by the kind
    (``auc_drop``, ``vimp``, ``mean_abs_shap``).
    """
    sec = Section("importance", "Feature importance")
    for block in _blocks(study, sec, "feature importance"):
        names = _model_names(study.table(MODEL.rel("comparison", block=block)))
        shown = 0
        for kind in IMPORTANCE_KINDS:
            tab = study.table(MODEL.rel("importance", block=block, kind=kind))
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
                        f"({MODEL.rel('importance', block=block, kind=kind)})"
                        f"{_shap_rows_note(study, block) if kind == 'shap' else ''}."))
            shown += 1
        run = study.json(MODEL.rel("run", block=block))
        if not shown and isinstance(run, dict) and run.get("stage") == "deep":
            sec.add(note(f"Block {block} is the network {run.get('network', '')}: its explanation "
                         "is the Grad-CAM gallery, not a feature importance table."))
        elif not shown:
            sec.not_run(f"importance of block {block}", MODEL.rel("importance", block=block, kind="<kind>"),
                        _MODEL_CMD)
    return sec


def _shap_rows_note(study: Study, block: str) -> str:
    """How many training cases SHAP explained (``importance.shap_rows`` of run.json)."""
    run = study.json(MODEL.rel("run", block=block))
    rows = (run.get("importance") or {}).get("shap_rows") if isinstance(run, dict) else None
    return f"; SHAP on a seeded sample of at most {rows} training cases" if rows else ""
