"""The reporting checklist: what CLEAR, METRICS and TRIPOD+AI ask, answered from the study.

Reporting standards covered (topics, not the full wording of each item):

* CLEAR, CheckList for EvaluAtion of Radiomics research: Kocak B. et al., Insights into
  Imaging 14:75 (2023), 58 items;
* METRICS, METhodological RadiomICs Score: Kocak B. et al., Insights into Imaging 15:8
  (2024);
* TRIPOD+AI: Collins G.S. et al., BMJ 385:e078378 (2024).

Each topic that the pipeline can answer from its own files is answered with the value
read from the stage that wrote it and the report section that shows it. A topic the
study did not run says so (status ``not run``) with what would answer it. Topics only
the authors can answer (ethics, eligibility, the reference standard ...) are listed with
status ``to complete``. Item numbers are not given: they differ between checklist
versions and the topic names the item to look up; the ``checklists`` column says which
of the three standards ask about it.

The same rows are written beside the report as ``reporting_checklist.csv`` and
``reporting_checklist.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from thyromics.report._optimism_section import optimism_answer
from thyromics.report._step_sections import robustness_answer as _robustness
from thyromics.report._study import FEATURES, SUBGROUPS, Study

__all__ = ["checklist_rows", "checklist_markdown", "CHECKLIST_CSV", "CHECKLIST_MD", "COLUMNS",
           "STATUSES", "REFERENCES"]

#: File names of the checklist written beside the report.
CHECKLIST_CSV: str = "reporting_checklist.csv"
CHECKLIST_MD: str = "reporting_checklist.md"
#: Columns of the checklist table.
COLUMNS: tuple[str, ...] = ("topic", "checklists", "status", "answer", "section")
#: ``from the study``: answered from a stage's files; ``not run``: the pipeline can answer
#: it but the study did not run that step; ``to complete``: only the authors can answer.
STATUSES: tuple[str, ...] = ("from the study", "not run", "to complete")
REFERENCES: tuple[str, ...] = (
    "CLEAR: Kocak B, et al. CheckList for EvaluAtion of Radiomics research (CLEAR). "
    "Insights Imaging 2023;14:75.",
    "METRICS: Kocak B, et al. METhodological RadiomICs Score (METRICS). Insights Imaging 2024;15:8.",
    "TRIPOD+AI: Collins GS, et al. TRIPOD+AI statement. BMJ 2024;385:e078378.",
)

_ALL = "CLEAR; METRICS; TRIPOD+AI"
_RAD = "CLEAR; METRICS"
_CT = "CLEAR; TRIPOD+AI"

#: Topics only the authors can answer: (topic, checklists, what to give).
AUTHOR_TOPICS: tuple[tuple[str, str, str], ...] = (
    ("Title and abstract", _CT, "Name radiomics / machine learning, the modality and the validation in the title; a structured abstract with the numbers of this report."),
    ("Background and objectives", _CT, "The clinical question, the intended use and users of the model."),
    ("Adherence to reporting guidelines", _ALL, "Say which checklists were followed and submit them (this table is a start, not the submission)."),
    ("Ethics, consent and data protection", _CT, "Approval number, consent or its waiver, de-identification."),
    ("Study nature and registration", _CT, "Retrospective or prospective, case-control or cohort; registration if any."),
    ("Eligibility criteria and case selection", _ALL, "Inclusion and exclusion criteria, consecutive or random selection, dates and centres."),
    ("Data source", _ALL, "Private, public or mixed; which source feeds which cohort."),
    ("Imaging protocol", _ALL, "Scanner vendors and models, acquisition and reconstruction parameters, contrast phase, per centre."),
    ("Reference standard and outcome definition", _ALL, "How the label was established (pathology, follow-up), by whom, blinded to the imaging or not."),
    ("Segmentation method and readers", _RAD, "Manual, semi-automated or automated; software; the readers' number and experience; blinding. (`thyromics agreement` gives the inter-reader Dice and feature ICCs when two readers' masks exist.)"),
    ("Sample size justification", _CT, "Why this many patients (power, events per variable, availability); the counts themselves are in the Cohort flow section."),
    ("Clinical utility and limitations", _CT, "Interpretation of the results, their limits, the next step towards clinical use."),
    ("Fairness and patient and public involvement", "TRIPOD+AI", "How fairness across groups was considered and whether patients or the public were involved."),
    ("Funding and conflicts of interest", _CT, "Funders and their role; authors' competing interests."),
    ("Data availability", _ALL, "Where the images, masks and clinical data can be obtained, and on which terms."),
)


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


class _Facts:
    """What the stages wrote, read once (every reader tolerates a missing file)."""

    def __init__(self, study: Study) -> None:
        from thyromics.report.sections import extraction_provenance

        self.study = study
        self.meta = study.json("study.json") or {}
        self.extraction, self.extraction_source = extraction_provenance(study)
        self.blocks = study.blocks()
        self.runs = {b: study.json("models", b, "run.json") or {} for b in self.blocks}
        self.comparisons = {b: study.table("models", b, "comparison.csv") for b in self.blocks}
        self.deep_settings = study.json("deep", "model", "settings.json")
        self.subgroups = study.table(*SUBGROUPS)
        self.features = study.table(*FEATURES)

    @property
    def settings(self) -> dict:
        return (self.extraction or {}).get("settings") or {}

    def model_run(self) -> dict:
        """The run.json of the first radiomics block (else any block)."""
        for b in self.blocks:
            if "radiomics" in b and self.runs[b]:
                return self.runs[b]
        return next((r for r in self.runs.values() if r), {})


def _row(topic: str, checklists: str, answer: str | None, section: str, *,
         missing: str = "") -> dict:
    if answer is None:
        return {"topic": topic, "checklists": checklists, "status": "not run",
                "answer": missing, "section": section}
    return {"topic": topic, "checklists": checklists, "status": "from the study",
            "answer": answer, "section": section}


def _software(f: _Facts) -> str | None:
    v = f.meta.get("versions") or (f.extraction or {}).get("versions")
    if not v:
        return None
    keys = ("thyromics", "python", "pyradiomics-bhklab", "SimpleITK", "numpy", "scikit-learn",
            "statsmodels", "torch", "monai")
    parts = [f"{k} {v[k]}" for k in keys if k in v and v[k] != "not installed"]
    return "; ".join(parts) + " (every tracked package in the Provenance section)."


def _preprocessing(f: _Facts) -> str | None:
    s = f.settings
    if not s:
        return None
    spacing = s.get("resampled_pixel_spacing")
    res = (f"resampled to {' x '.join(f'{x:g}' for x in spacing)} mm ({s.get('interpolator')})"
           if spacing else "no resampling (native voxel spacing)")
    norm = (f"intensities normalised (z-score x {s.get('normalize_scale'):g})" if s.get("normalize")
            else "no intensity normalisation")
    reseg = (f"re-segmentation range {s.get('resegment_range')}" if s.get("resegment_range")
             else "no re-segmentation")
    return f"{s.get('dimensionality', '?').upper()} extraction; {res}; {norm}; {reseg}."


def _discretisation(f: _Facts) -> str | None:
    s = f.settings
    if not s:
        return None
    if s.get("bin_width") is not None:
        return f"Fixed bin width {s['bin_width']:g} (intensity units)."
    if s.get("bin_count") is not None:
        return f"Fixed bin count {s['bin_count']}."
    return None


def _filters(f: _Facts) -> str | None:
    s = f.settings
    if not s:
        return None
    out = ["original"] if s.get("original") else []
    if s.get("log_sigmas"):
        out.append("Laplacian of Gaussian, sigma " + ", ".join(f"{x:g}" for x in s["log_sigmas"]) + " mm")
    if s.get("wavelet"):
        out.append(f"wavelet ({s.get('wavelet_name')}, {s.get('wavelet_levels')} level)")
    out += [str(t) for t in s.get("image_types") or []]
    return "; ".join(out) + "." if out else None


def _feature_count(f: _Facts) -> str | None:
    ex = f.extraction or {}
    cols = _get(ex, "columns", "features")
    if not cols:
        return None
    classes = ", ".join(f.settings.get("feature_classes") or [])
    return (f"{len(cols)} features per lesion ({classes}); {ex.get('n_ok', '?')} lesions extracted, "
            f"{ex.get('n_failed', '?')} failed (reasons in the Cohort flow section).")


def _redundancy(f: _Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    if not s:
        return None
    sel = s.get("selector")
    how = {"lasso": f"LASSO ({s.get('lasso_cv')}-fold inner CV, rule '{s.get('lasso_rule')}')",
           "univariate": f"univariate {s.get('univariate_test')} test, best {s.get('k_best')}",
           "mrmr": f"mRMR, best {s.get('k_best')}", "none": "no selection"}.get(sel, str(sel))
    parts = []
    if s.get("near_zero_variance"):
        parts.append("near-zero-variance filter")
    if s.get("correlation_threshold") is not None:
        parts.append(f"one of each pair with |r| > {s['correlation_threshold']:g} dropped")
    parts.append(how)
    return "Inside every training fold: " + "; ".join(parts) + "."


def _partitioning(f: _Facts) -> str | None:
    if f.features is None:
        return None
    t = f.features
    cohorts = t["split"].fillna("train").astype(str).value_counts() if "split" in t else None
    counts = (", ".join(f"{k} {v}" for k, v in cohorts.items()) if cohorts is not None
              else f"all {len(t)} lesions in training")
    patients = t["patient_id"].nunique() if "patient_id" in t else len(t)
    return (f"Lesions per cohort: {counts} ({patients} patients); the split is the manifest's "
            "'split' column; patients never cross cohorts (checked by the model stage).")


def _validation(f: _Facts) -> str | None:
    args = f.model_run().get("args") or {}
    if not args:
        return None
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    held = sorted(set(comp["cohort"]) - {"cv"}) if comp is not None else []
    return (f"{args.get('cv')}-fold patient-grouped stratified cross-validation x {args.get('repeats')} "
            f"on the training cohort; final model fitted on it and applied unchanged to "
            f"{', '.join(held) if held else 'no other cohort'}." + optimism_answer(f.runs))


def _tuning(f: _Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    if not s:
        return None
    if not s.get("tune"):
        return "No hyper-parameter tuning: registry defaults (study setting model.tune: false)."
    tuner = "Optuna TPE, %s trials" % s.get("trials") if s.get("tuner") == "optuna" else "grid search"
    return f"{tuner} in a {s.get('inner_cv')}-fold inner patient-grouped CV of each training fold."


def _imbalance(f: _Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    if not s:
        return None
    rs = s.get("resample")
    how = "no resampling" if rs in (None, "none") else f"{rs} inside each training fold"
    pos = ""
    if f.features is not None and "label" in f.features:
        y = f.features["label"].dropna()
        pos = f"; prevalence {int((y == 1).sum())} of {len(y)} lesions"
    return f"{how}{pos}."


def _missing(f: _Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    ex = f.extraction or {}
    if not s and not ex:
        return None
    n_missing = sum(1 for c in (ex.get("cases") or {}).values() if c.get("missing"))
    imp = s.get("impute")
    return (f"{n_missing} lesion(s) with a feature that could not be computed; missing values "
            f"imputed ({imp}) inside each training fold. Missing clinical values per variable: "
            "Table 1 ('Missing').")


def _metrics(f: _Facts) -> str | None:
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    if comp is None:
        return None
    return ("AUC with 95% DeLong CI; accuracy, sensitivity, specificity, PPV, NPV, F1 with 95% CIs "
            "at the threshold chosen on the out-of-fold training predictions "
            f"({(f.model_run().get('settings') or {}).get('threshold_rule', '?')}) and carried "
            "unchanged; paired DeLong tests between models.")


def _calibration(f: _Facts) -> str | None:
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    if comp is None:
        return None
    cal = (f.model_run().get("settings") or {}).get("calibration")
    how = "no recalibration" if cal in (None, "none") else f"{cal} recalibration inside the training folds"
    return f"Reliability curves, calibration slope, intercept and Brier score per cohort; {how}."


def _dca(f: _Facts) -> str | None:
    return ("Net benefit of every model against treat-all and treat-none (Vickers & Elkin 2006)."
            if any(c is not None for c in f.comparisons.values()) else None)


def _baseline(f: _Facts) -> str | None:
    if not f.blocks:
        return None
    return "Blocks compared: " + ", ".join(f.blocks) + "."


def _subgroups(f: _Facts) -> str | None:
    if f.subgroups is None or f.subgroups.empty:
        return None
    t = f.subgroups
    vars_ = ", ".join(dict.fromkeys(t["variable"].astype(str)))
    return (f"{t['subgroup'].nunique()} subgroups of {vars_}, every model and cohort, at the "
            "carried threshold.")


def _sample(f: _Facts) -> str | None:
    if f.features is None:
        return None
    t = f.features
    pos = int((t["label"] == 1).sum()) if "label" in t else None
    pats = t["patient_id"].nunique() if "patient_id" in t else len(t)
    return (f"{len(t)} lesions of {pats} patients analysed" +
            (f", {pos} positive" if pos is not None else "") + " (counts per cohort in Cohort flow).")


def _code(f: _Facts) -> str | None:
    v = (f.meta.get("versions") or {}).get("thyromics")
    return (f"thyromics {v} (open source, BSD-3-Clause); the study YAML's settings and seed "
            f"{f.meta.get('seed')} are in the Provenance section.") if v else None


def _model_files(f: _Facts) -> str | None:
    saved = [b for b in f.blocks if f.study.path("models", b, "models").is_dir()]
    if not saved:
        return None
    return (f"Fitted models with their carried thresholds saved in models/<block>/models/ for "
            f"{', '.join(saved)} (`thyromics predict` scores new cases).")


def _importance(f: _Facts) -> str | None:
    kinds = sorted({p.stem.removeprefix("importance_") for b in f.blocks
                    for p in f.study.path("models", b).glob("importance_*.csv")})
    return f"Feature importance: {', '.join(kinds)}." if kinds else None


def _deep(f: _Facts) -> str | None:
    d = f.deep_settings
    if not d:
        return None
    data = d.get("data") or {}
    return (f"{d.get('network')} ({data.get('spatial_dims')}D), at most {d.get('epochs')} epochs, "
            f"batch {d.get('batch_size')}, Adam lr {d.get('learning_rate')}, early stopping on the "
            f"validation AUC (patience {d.get('patience')}), pretrained: {d.get('pretrained') or 'none'}.")


#: Pipeline topics: (topic, checklists, answer function, section id, what answers it when not run).
PIPELINE_TOPICS: tuple[tuple[str, str, Callable[[_Facts], str | None], str, str], ...] = (
    ("Software and versions", _CT, _software, "provenance", "study.json (thyromics run)"),
    ("Image preprocessing (resampling, normalisation)", _RAD, _preprocessing, "provenance", "thyromics extract"),
    ("Grey-level discretisation", _RAD, _discretisation, "provenance", "thyromics extract"),
    ("Image filters (image types)", _RAD, _filters, "provenance", "thyromics extract"),
    ("Features extracted: number and families", _RAD, _feature_count, "features", "thyromics extract"),
    ("Feature robustness (test-retest, inter-reader)", _RAD, lambda f: _robustness(f.study), "robustness",
     "a robustness: block in the study YAML (perturbation ICC); `thyromics agreement` gives the ICC between readers' masks"),
    ("Feature redundancy and selection", _ALL, _redundancy, "models", "thyromics model"),
    ("Data partitioning (unit: patient)", _ALL, _partitioning, "cohort-flow", "thyromics extract"),
    ("Validation scheme (cross-validation, held-out, external)", _ALL, _validation, "models", "thyromics model"),
    ("Hyper-parameter tuning", _CT, _tuning, "models", "thyromics model"),
    ("Class imbalance", _ALL, _imbalance, "models", "thyromics model"),
    ("Missing data", _CT, _missing, "table1", "thyromics extract / model"),
    ("Performance metrics with confidence intervals", _ALL, _metrics, "models", "thyromics model"),
    ("Calibration", _ALL, _calibration, "calibration", "thyromics model"),
    ("Clinical utility (decision curves)", _RAD, _dca, "decision-curves", "thyromics model"),
    ("Comparison with a clinical or simpler model", _RAD, _baseline, "models", "a 'clinical' block in model.blocks"),
    ("Subgroup performance", "TRIPOD+AI", _subgroups, "subgroups", "evaluate.subgroups in the study YAML"),
    ("Model explainability (feature importance)", "CLEAR", _importance, "importance", "model.importance"),
    ("Deep-learning architecture and training", _CT, _deep, "galleries", "deep.enabled in the study YAML (a radiomics-only study needs none)"),
    ("Sample size (numbers analysed)", _CT, _sample, "cohort-flow", "thyromics extract"),
    ("Code availability", _ALL, _code, "provenance", "thyromics run"),
    ("Model availability", _ALL, _model_files, "models", "thyromics model"),
)


def checklist_rows(study: Study) -> pd.DataFrame:
    """Every checklist topic with its status, answer and report section (``COLUMNS``)."""
    facts = _Facts(study)
    rows = [_row(topic, lists, fn(facts), section, missing=f"Not run: {what}.")
            for topic, lists, fn, section, what in PIPELINE_TOPICS]
    rows += [{"topic": topic, "checklists": lists, "status": "to complete", "answer": what,
              "section": ""} for topic, lists, what in AUTHOR_TOPICS]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def checklist_markdown(rows: pd.DataFrame, title: str) -> str:
    """The checklist as a Markdown document (for a manuscript's supplement)."""
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Reporting checklist: {title}", "",
             "Answered from the study's own files by thyromics; rows marked 'to complete' need "
             "the authors. Item numbers are not given: look up the topic in each checklist.", "",
             "| topic | checklists | status | answer | report section |", "|---|---|---|---|---|"]
    lines += [f"| {cell(r.topic)} | {cell(r.checklists)} | {cell(r.status)} | {cell(r.answer)} | "
              f"{('#' + r.section) if r.section else ''} |" for r in rows.itertuples(index=False)]
    lines += ["", "References:", ""] + [f"- {ref}" for ref in REFERENCES]
    return "\n".join(lines) + "\n"


def checklist_section(study: Study):
    """The "Reporting checklist" section: every topic with its answer and a link to its section."""
    from markupsafe import Markup, escape

    from thyromics.report._html import Section, note

    sec = Section("checklist", "Reporting checklist")
    rows = checklist_rows(study)
    sec.tables["checklist"] = rows
    done = rows["status"].eq("from the study")
    if not done.any():
        sec.add(note("No stage output to answer from: run the study first (`thyromics run`)."))
    sec.add(note(f"{int(done.sum())} topics answered from the study's files, "
                 f"{int(rows['status'].eq('not run').sum())} not run, "
                 f"{int(rows['status'].eq('to complete').sum())} to complete by the authors. "
                 "Item numbers are not given: look up each topic in the checklist you submit "
                 "(CLEAR, METRICS, TRIPOD+AI)."))
    head = "".join(f"<th>{escape(c)}</th>" for c in ("topic", "checklists", "status", "answer", "section"))
    body = []
    for r in rows.itertuples(index=False):
        link = (Markup('<a href="#{0}">{0}</a>').format(r.section) if r.section else "")
        cls = escape(r.status.replace(" ", "-"))
        body.append(Markup(f'<tr class="status-{cls}"><td>{escape(r.topic)}</td><td>{escape(r.checklists)}</td>'
                           f"<td>{escape(r.status)}</td><td>{escape(r.answer)}</td><td>{link}</td></tr>"))
    table = Markup(f'<div class="table-wrap" data-derived="study.json, the stage files" data-name="checklist">'
                   f'<table class="data checklist"><thead><tr>{head}</tr></thead><tbody>'
                   + "".join(body) + "</tbody></table></div>")
    sec.add(table, content=bool(done.any()))
    sec.add(Markup('<p class="caption">Also written beside the report as '
                   f"<code>{escape(CHECKLIST_CSV)}</code> and <code>{escape(CHECKLIST_MD)}</code>. "
                   + " ".join(escape(r) for r in REFERENCES) + "</p>"))
    return sec
