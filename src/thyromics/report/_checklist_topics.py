"""The checklist's topics: what CLEAR, METRICS and TRIPOD+AI ask, and what answers each.

:data:`PIPELINE_TOPICS` are answered from the study's files
(:mod:`thyromics.report._checklist_answers`); :data:`AUTHOR_TOPICS` only the authors can
answer. The ``checklists`` column names the standards that ask about the topic.
"""

from __future__ import annotations

from collections.abc import Callable

from thyromics.layout import STUDY
from thyromics.report import _checklist_answers as A
from thyromics.report._step_sections import robustness_answer

__all__ = ["AUTHOR_TOPICS", "PIPELINE_TOPICS"]

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

#: Pipeline topics: (topic, checklists, answer function, section id, what answers it when not run).
PIPELINE_TOPICS: tuple[tuple[str, str, Callable[[A.Facts], str | None], str, str], ...] = (
    ("Software and versions", _CT, A.software, "provenance", f"{STUDY.rel('study')} ({STUDY.command})"),
    ("Image preprocessing (resampling, normalisation)", _RAD, A.preprocessing, "provenance", "thyromics extract"),
    ("Grey-level discretisation", _RAD, A.discretisation, "provenance", "thyromics extract"),
    ("Image filters (image types)", _RAD, A.filters, "provenance", "thyromics extract"),
    ("Features extracted: number and families", _RAD, A.feature_count, "features", "thyromics extract"),
    ("Feature robustness (test-retest, inter-reader)", _RAD, lambda f: robustness_answer(f.study), "robustness",
     "a robustness: block in the study YAML (perturbation ICC); `thyromics agreement` gives the ICC between readers' masks"),
    ("Feature redundancy and selection", _ALL, A.redundancy, "models", "thyromics model"),
    ("Data partitioning (unit: patient)", _ALL, A.partitioning, "cohort-flow", "thyromics extract"),
    ("Validation scheme (cross-validation, held-out, external)", _ALL, A.validation, "models", "thyromics model"),
    ("Hyper-parameter tuning", _CT, A.tuning, "models", "thyromics model"),
    ("Class imbalance", _ALL, A.imbalance, "models", "thyromics model"),
    ("Missing data", _CT, A.missing, "table1", "thyromics extract / model"),
    ("Performance metrics with confidence intervals", _ALL, A.metrics, "models", "thyromics model"),
    ("Calibration", _ALL, A.calibration, "calibration", "thyromics model"),
    ("Clinical utility (decision curves)", _RAD, A.dca, "decision-curves", "thyromics model"),
    ("Comparison with a clinical or simpler model", _RAD, A.baseline, "models", "a 'clinical' block in model.blocks"),
    ("Subgroup performance", "TRIPOD+AI", A.subgroups, "subgroups", "evaluate.subgroups in the study YAML"),
    ("Model explainability (feature importance)", "CLEAR", A.importance, "importance", "model.importance"),
    ("Deep-learning architecture and training", _CT, A.deep, "galleries", "deep.enabled in the study YAML (a radiomics-only study needs none)"),
    ("Sample size (numbers analysed)", _CT, A.sample, "cohort-flow", "thyromics extract"),
    ("Code availability", _ALL, A.code, "provenance", "thyromics run"),
    ("Model availability", _ALL, A.model_files, "models", "thyromics model"),
)
