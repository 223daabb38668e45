"""The subgroup section: every model's AUC per subgroup at the carried threshold.

Reads the subgroup table (:data:`thyromics.report._study.SUBGROUPS`, written by
:func:`thyromics.study.subgroups.run_subgroups`) and shows its numbers per block: a
table, and a forest plot of the AUCs with their DeLong CIs.
"""

from __future__ import annotations

import pandas as pd

from thyromics.report import figures as F
from thyromics.report._html import Section, fmt, heading, note, safe_name
from thyromics.report._study import SUBGROUPS, Study

__all__ = ["subgroups_section"]


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
