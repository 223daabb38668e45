"""The model comparison's optimism-corrected bootstrap table (``models/<block>/optimism.csv``).

The numbers are the model stage's own (:mod:`thyromics.models._optimism`: Harrell, Lee &
Mark 1996; ``rms::validate``); B, the seed rule and what was resampled come from the
block's ``run.json`` (key ``optimism``).
"""

from __future__ import annotations

import pandas as pd

from thyromics.layout import MODEL
from thyromics.report._html import Section, fmt, heading, note, safe_name
from thyromics.report._study import Study

__all__ = ["optimism_table", "optimism_answer", "METRIC_NAMES"]

#: How the table names each metric of ``optimism.csv``.
METRIC_NAMES: dict[str, str] = {
    "auc": "AUC (C index)", "dxy": "Somers' Dxy", "intercept": "Calibration intercept",
    "slope": "Calibration slope", "brier": "Brier score"}


def optimism_table(sec: Section, study: Study, block: str) -> None:
    """Add the block's optimism table to ``sec``; nothing when the stage ran without it."""
    tab = study.table(MODEL.rel("optimism", block=block))
    if tab is None or tab.empty:
        return
    run = (study.json(MODEL.rel("run", block=block)) or {}).get("optimism") or {}
    many = tab["model_id"].nunique() > tab["model"].nunique()
    shown = pd.DataFrame({
        "model": (tab["model_id"] if many else tab["model"]).astype(str),
        "metric": tab["metric"].map(lambda m: METRIC_NAMES.get(m, m)),
        "Apparent": tab["apparent"].map(fmt), "Optimism": tab["optimism"].map(fmt),
        "Corrected": tab["corrected"].map(fmt),
        "Bootstrap samples used": [f"{int(u)} of {int(b)}" for u, b in
                                   zip(tab["n_boot"], tab["B"])]})
    resampled = str(tab["resampled"].iloc[0])
    rule = run.get("seed_rule", "")
    sec.add(heading("Optimism-corrected bootstrap validation", 4))
    sec.add_table(f"optimism_{safe_name(block)}", tab, shown,
                  source=MODEL.rel("optimism", block=block),
                  caption="Apparent performance of each final model on the training cohort, the "
                          "mean optimism over bootstrap refits of the whole modelling procedure "
                          f"({resampled} resampled with replacement; every step refitted on each "
                          "sample, scored on the sample minus on the original cohort) and the "
                          "optimism-corrected value = apparent - optimism (Harrell, Lee & Mark "
                          "1996; rms::validate). Calibration intercept and slope: logistic "
                          "recalibration of the logit of the predicted probability. Seed "
                          f"{fmt(tab['seed'].iloc[0], 0)}" + (f": {rule}." if rule else "."))
    failed = tab.drop_duplicates("model_id")
    failed = failed[failed["n_failed"] > 0]
    if not failed.empty:
        sec.add(note("Bootstrap samples skipped (one outcome class, or the refit failed; "
                     f"{MODEL.rel('run', block=block)} names the failed refits): "
                     + "; ".join(f"{m} {int(k)}" for m, k in zip(failed["model_id"],
                                                                 failed["n_failed"])) + "."))


def optimism_answer(runs: dict[str, dict]) -> str:
    """The checklist's words on the optimism bootstrap ("" when no block ran it)."""
    done = {b: r["optimism"] for b, r in runs.items() if isinstance(r.get("optimism"), dict)}
    if not done:
        return ""
    parts = [f"{b}: B = {o.get('B')}, {o.get('resampled')} resampled, seed {o.get('seed')}"
             for b, o in done.items()]
    return (" Internal validation by the optimism-corrected bootstrap (Harrell, Lee & Mark "
            "1996; rms::validate), the whole modelling procedure refitted on every sample, "
            "for AUC, calibration intercept and slope and Brier score (" + "; ".join(parts)
            + f"; {MODEL.rel('optimism', block='<block>')}).")
