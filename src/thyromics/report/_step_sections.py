"""Sections of the robustness stage and of the model stage's robust / harmonize steps.

``robustness/`` (``thyromics robustness``; ``thyromics run`` with a ``robustness:``
block): the ICC figure, stable features per family (counted from ``icc.csv``) and the
least stable features. ``models/<block>/robust.csv``: what each final model's robust
step removed. ``models/<block>/harmonization/``: the before / after figures and the
AUC with and without ComBat. File names come from their writers (see
:mod:`thyromics.report._study`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from thyromics.layout import MODEL
from thyromics.report._html import Section, fmt, heading, note, png_html, safe_name
from thyromics.report._model_sections import _model_names
from thyromics.report._study import ROBUSTNESS, Study

__all__ = ["robustness_section", "harmonization_section", "robustness_answer",
           "LEAST_STABLE", "REMOVED_SHOWN"]

#: Rows of the least-stable-features table.
LEAST_STABLE: int = 10
#: Removed features named per model (the rest are in ``robust.csv``).
REMOVED_SHOWN: int = 10
_ROBUSTNESS_CMD = "thyromics robustness (or a robustness: block in the study YAML)"


def _kind(icc: pd.DataFrame, summary: dict) -> str:
    """The ICC form that decides ``stable``: the summary's first, else the table's first."""
    kinds = summary.get("icc_kinds") or [k for k in ("icc1", "icc2", "icc3") if k in icc]
    return str(kinds[0])


def _with_ci(value: object, low: object, high: object) -> str:
    """``0.812 (0.700\u20130.900)``; without a CI (e.g. perfect separation) said so."""
    if pd.isna(low) or pd.isna(high):
        return f"{fmt(value)} (CI not estimable)" if pd.notna(value) else fmt(value)
    return f"{fmt(value)} ({fmt(low)}\u2013{fmt(high)})"


def _rule(kind: str, threshold: object, criterion: object) -> str:
    bound = f"lower 95% bound of {kind}" if criterion == "lower" else kind
    return f"{bound} \u2265 {fmt(threshold, 2)}"


def _stable_by_family(icc: pd.DataFrame) -> pd.DataFrame:
    """Per family (and in total): features rated, stable, unstable, share stable (%)."""
    stable = icc["stable"].astype(str).str.lower().eq("true")
    g = stable.groupby(icc["family"].astype(str), sort=True)
    out = pd.DataFrame({"features": g.size(), "stable": g.sum()}).rename_axis("family").reset_index()
    out.loc[len(out)] = ["total", len(icc), int(stable.sum())]
    out["unstable"] = out["features"] - out["stable"]
    out["stable_percent"] = 100.0 * out["stable"] / out["features"].where(out["features"] > 0)
    return out.astype({"features": int, "stable": int, "unstable": int})


def _icc_part(sec: Section, study: Study, icc: pd.DataFrame) -> None:
    summary = study.json(*ROBUSTNESS["summary"]) or {}
    kind = _kind(icc, summary)
    icc_file = "/".join(ROBUSTNESS["icc"])
    if summary:
        sec.add(note(f"Every case perturbed {summary.get('n_perturbations')} times (chain "
                     f"{summary.get('chain_code')}, seed {summary.get('seed')}; Zwanenburg et al., "
                     f"Sci Rep 2019;9:614) and extracted again: {summary.get('n_cases')} cases, "
                     f"{summary.get('n_failed')} failed extraction(s). A feature is stable when "
                     f"{_rule(kind, summary.get('threshold'), summary.get('criterion'))} over the "
                     "perturbations."))
    else:
        sec.add(note(f"{'/'.join(ROBUSTNESS['summary'])} not found: the chain and threshold are "
                     f"not known; 'stable' is as {icc_file} records it."))
    figure = study.path(*ROBUSTNESS["figure"])
    if figure.is_file():
        sec.add(png_html(figure, f"{kind.upper()} of every feature by family (left; dashed: the "
                                 "threshold) and the share of stable features per image filter "
                                 f"and family (right). Source: {'/'.join(ROBUSTNESS['figure'])}."),
                content=True)
    sec.add(heading("Stable features per family", 4))
    stable = _stable_by_family(icc)
    shown = stable.assign(stable_percent=stable["stable_percent"].map(lambda v: fmt(v, 1)))
    sec.add_table("robustness_stable", stable, shown.rename(columns={"stable_percent": "stable (%)"}),
                  derived=icc_file,
                  caption="Features rated, stable and unstable per family.")
    if kind in icc:
        low = icc.sort_values(kind, kind="stable", na_position="first").head(LEAST_STABLE)
        shown = pd.DataFrame({"feature": low["feature"], "family": low["family"],
                              "filter": low["filter"]})
        ci = [low[f"{kind}_{end}"] if f"{kind}_{end}" in low else low[kind] * np.nan
              for end in ("lower", "upper")]
        shown[f"{kind.upper()} (95% CI)"] = [_with_ci(v, lo, hi) for v, lo, hi in zip(low[kind], *ci)]
        shown["stable"] = low["stable"].astype(str)
        if "reason" in low:
            shown["reason"] = low["reason"].fillna("").astype(str)
        sec.add(heading(f"The {LEAST_STABLE} least stable features", 4))
        sec.add_table("robustness_least_stable", low.reset_index(drop=True),
                      shown.reset_index(drop=True), source=icc_file,
                      caption="Lowest ICC first (features without an ICC, with their reason, "
                              "before them).")


def _removed_names(text: object) -> str:
    names = [n for n in str(text if pd.notna(text) else "").split(";") if n]
    more = "; \u2026 (all in the source file)" if len(names) > REMOVED_SHOWN else ""
    return "; ".join(names[:REMOVED_SHOWN]) + more if names else "none"


def _robust_part(sec: Section, block: str, robust: pd.DataFrame, names: dict[str, str]) -> None:
    source = MODEL.rel("robust", block=block)
    sec.add(heading(f"Robust step of the models: block {block}", 4))
    if robust.empty:
        sec.add(note(f"{source} is empty: no final model had a robust step."))
        return
    ids = robust["model_id"].astype(str)
    shown = pd.DataFrame({"model": ids.map(names).fillna(ids),
                          "features judged": robust["n_judged"].map(lambda v: fmt(v, 0)),
                          "removed": robust["n_removed"].map(lambda v: fmt(v, 0)),
                          "training cases": robust["n_cases"].map(lambda v: fmt(v, 0)),
                          "rule": [_rule(k, t, c) for k, t, c in
                                   zip(robust["kind"], robust["threshold"], robust["criterion"])],
                          "removed features": robust["removed"].map(_removed_names)})
    sec.add_table(f"robust_{safe_name(block)}", robust, shown, source=source,
                  caption="Features each final model's robust step removed: their ICC over the "
                          "perturbations is computed on that model's training cases only (so "
                          "the count can differ from the stable count above, over all cases); "
                          "inside the cross-validation the step is refitted on every training "
                          "fold.")


def robustness_section(study: Study) -> Section:
    """ICC figure, stable features per family, least stable features, robust-step removals."""
    sec = Section("robustness", "Feature robustness")
    icc = study.table(*ROBUSTNESS["icc"])
    robust = {b: t for b in study.blocks() if (t := study.table(MODEL.rel("robust", block=b))) is not None}
    if icc is None:
        sec.not_run("feature robustness under perturbation", "/".join(ROBUSTNESS["icc"]),
                    _ROBUSTNESS_CMD)
    else:
        _icc_part(sec, study, icc)
    for block, table in robust.items():
        names = _model_names(study.table(MODEL.rel("comparison", block=block)))
        _robust_part(sec, block, table, names)
    return sec


def _combat_note(study: Study, block: str) -> str:
    s = (study.json(MODEL.rel("run", block=block)) or {}).get("settings") or {}
    if not s.get("harmonize"):
        return "ComBat (Johnson et al. 2007) fitted on each training part only."
    cov = ", ".join(s.get("harmonize_covariates") or []) or "none"
    ref = s.get("harmonize_reference") or "none"
    return (f"ComBat (Johnson et al. 2007; Fortin et al. 2018) across the values of column "
            f"'{s['harmonize']}' (covariates kept: {cov}; reference batch: {ref}; a batch met "
            f"only outside training: {s.get('harmonize_unseen')}), fitted on each training part "
            "only and applied unchanged to its held-out part and to the other cohorts.")


def harmonization_section(study: Study) -> Section:
    """Per block: what ComBat did (figures) and the AUC with and without it."""
    sec = Section("harmonization", "Harmonisation across centres")
    blocks = [b for b in study.blocks() if study.path(MODEL.rel("harmonization", block=b)).is_dir()]
    if not blocks:
        sec.not_run("harmonisation", MODEL.rel("harmonization", block="<block>") + "/",
                    "thyromics model --harmonize COLUMN (or harmonize: in the study YAML)")
    for block in blocks:
        sec.add(heading(f"Block: {block}"))
        sec.add(note(_combat_note(study, block)))
        source = MODEL.rel("harmonization_auc", block=block)
        auc = study.table(MODEL.rel("harmonization_auc", block=block))
        if auc is None:
            sec.add(note(f"No AUC without harmonisation ({source} not written: the comparison "
                         "run is off, harmonize.compare: false)."))
        else:
            names = _model_names(study.table(MODEL.rel("comparison", block=block)))
            ids = auc["model_id"].astype(str)
            shown = pd.DataFrame({"model": ids.map(names).fillna(ids), "cohort": auc["cohort"]})
            for suffix, title in (("harmonized", "AUC with ComBat (95% CI)"),
                                  ("raw", "AUC without ComBat (95% CI)")):
                shown[title] = [_with_ci(a, lo, hi) for a, lo, hi in
                                zip(auc[f"auc_{suffix}"], auc[f"auc_ci_low_{suffix}"],
                                    auc[f"auc_ci_high_{suffix}"])]
            shown["difference"] = auc["auc_difference"].map(fmt)
            sec.add_table(f"harmonization_auc_{safe_name(block)}", auc, shown, source=source,
                          caption="The same models, folds and seed with and without ComBat "
                                  "(difference: with minus without). CIs as in the model "
                                  "comparison table.")
        for key, caption in (
                ("distributions", ("The features with the largest centre effect (batch F on the "
                                   "training cohort), by centre, before and after ComBat.")),
                ("embedding", ("Every case's first two principal components (PCA fitted on the "
                               "training cohort's raw values), by centre, before and after "
                               "ComBat."))):
            rel = MODEL.rel(f"harmonization_{key}", block=block)
            png = study.path(rel)
            if png.is_file():
                sec.add(png_html(png, f"{caption} Source: {rel}."),
                        content=True)
    return sec


def robustness_answer(study: Study) -> str | None:
    """The checklist's feature-robustness answer from ``robustness.json``, or None."""
    s = study.json(*ROBUSTNESS["summary"])
    if not isinstance(s, dict) or "n_stable" not in s:
        return None
    kinds = s.get("icc_kinds") or ["icc1"]
    return (f"{s['n_stable']} of {s.get('n_features')} features stable "
            f"({_rule(str(kinds[0]), s.get('threshold'), s.get('criterion'))}) over "
            f"{s.get('n_perturbations')} perturbations ({s.get('chain_code')}) of "
            f"{s.get('n_cases')} cases (Zwanenburg et al. 2019).")
