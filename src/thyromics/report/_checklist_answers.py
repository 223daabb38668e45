"""The checklist's answers from the study: what each stage wrote, read once, in words.

:class:`Facts` reads the stage files (every reader tolerates a missing file); each answer
function turns them into the sentence of one topic of
:data:`thyromics.report._checklist_topics.PIPELINE_TOPICS`, or None when the study did
not run the step that answers it.
"""

from __future__ import annotations

from typing import Any

from thyromics.layout import DEEP_MODEL, MODEL, STUDY
from thyromics.models.pipeline import saved_threshold
from thyromics.report._optimism_section import optimism_answer
from thyromics.report._study import FEATURES, SUBGROUPS, Study

__all__ = ["Facts", "software", "preprocessing", "discretisation", "filters", "feature_count",
           "redundancy", "partitioning", "validation", "tuning", "imbalance", "missing",
           "metrics", "calibration", "dca", "baseline", "subgroups", "sample", "code",
           "model_files", "importance", "deep"]


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


class Facts:
    """What the stages wrote, read once (every reader tolerates a missing file)."""

    def __init__(self, study: Study) -> None:
        from thyromics.report.sections import extraction_provenance

        self.study = study
        self.meta = study.json(STUDY.rel("study")) or {}
        self.extraction, self.extraction_source = extraction_provenance(study)
        self.blocks = study.blocks()
        self.runs = {b: study.json(MODEL.rel("run", block=b)) or {} for b in self.blocks}
        self.comparisons = {b: study.table(MODEL.rel("comparison", block=b)) for b in self.blocks}
        self.deep_settings = study.json(DEEP_MODEL.rel("settings"))
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


def software(f: Facts) -> str | None:
    v = f.meta.get("versions") or (f.extraction or {}).get("versions")
    if not v:
        return None
    keys = ("thyromics", "python", "pyradiomics-bhklab", "SimpleITK", "numpy", "scikit-learn",
            "statsmodels", "torch", "monai")
    parts = [f"{k} {v[k]}" for k in keys if k in v and v[k] != "not installed"]
    return "; ".join(parts) + " (every tracked package in the Provenance section)."


def preprocessing(f: Facts) -> str | None:
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


def discretisation(f: Facts) -> str | None:
    s = f.settings
    if not s:
        return None
    if s.get("bin_width") is not None:
        return f"Fixed bin width {s['bin_width']:g} (intensity units)."
    if s.get("bin_count") is not None:
        return f"Fixed bin count {s['bin_count']}."
    return None


def filters(f: Facts) -> str | None:
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


def feature_count(f: Facts) -> str | None:
    ex = f.extraction or {}
    cols = _get(ex, "columns", "features")
    if not cols:
        return None
    classes = ", ".join(f.settings.get("feature_classes") or [])
    return (f"{len(cols)} features per lesion ({classes}); {ex.get('n_ok', '?')} lesions extracted, "
            f"{ex.get('n_failed', '?')} failed (reasons in the Cohort flow section).")


def redundancy(f: Facts) -> str | None:
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


def partitioning(f: Facts) -> str | None:
    if f.features is None:
        return None
    t = f.features
    cohorts = t["split"].fillna("train").astype(str).value_counts() if "split" in t else None
    counts = (", ".join(f"{k} {v}" for k, v in cohorts.items()) if cohorts is not None
              else f"all {len(t)} lesions in training")
    patients = t["patient_id"].nunique() if "patient_id" in t else len(t)
    return (f"Lesions per cohort: {counts} ({patients} patients); the split is the manifest's "
            "'split' column; patients never cross cohorts (checked by the model stage).")


def validation(f: Facts) -> str | None:
    args = f.model_run().get("args") or {}
    if not args:
        return None
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    held = sorted(set(comp["cohort"]) - {"cv"}) if comp is not None else []
    return (f"{args.get('cv')}-fold patient-grouped stratified cross-validation x {args.get('repeats')} "
            f"on the training cohort; final model fitted on it and applied unchanged to "
            f"{', '.join(held) if held else 'no other cohort'}." + optimism_answer(f.runs))


def tuning(f: Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    if not s:
        return None
    if not s.get("tune"):
        return "No hyper-parameter tuning: registry defaults (study setting model.tune: false)."
    tuner = "Optuna TPE, %s trials" % s.get("trials") if s.get("tuner") == "optuna" else "grid search"
    return f"{tuner} in a {s.get('inner_cv')}-fold inner patient-grouped CV of each training fold."


def imbalance(f: Facts) -> str | None:
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


def missing(f: Facts) -> str | None:
    s = f.model_run().get("settings") or {}
    ex = f.extraction or {}
    if not s and not ex:
        return None
    n_missing = sum(1 for c in (ex.get("cases") or {}).values() if c.get("missing"))
    imp = s.get("impute")
    return (f"{n_missing} lesion(s) with a feature that could not be computed; missing values "
            f"imputed ({imp}) inside each training fold. Missing clinical values per variable: "
            "Table 1 ('Missing').")


def metrics(f: Facts) -> str | None:
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    if comp is None:
        return None
    return ("AUC with 95% DeLong CI; accuracy, sensitivity, specificity, PPV, NPV, F1 with 95% CIs "
            "at the threshold chosen on the out-of-fold training predictions "
            f"({saved_threshold(f.model_run().get('settings') or {}) or '?'}) and carried "
            "unchanged; paired DeLong tests between models.")


def calibration(f: Facts) -> str | None:
    comp = next((c for c in f.comparisons.values() if c is not None), None)
    if comp is None:
        return None
    cal = (f.model_run().get("settings") or {}).get("calibration")
    how = "no recalibration" if cal in (None, "none") else f"{cal} recalibration inside the training folds"
    return f"Reliability curves, calibration slope, intercept and Brier score per cohort; {how}."


def dca(f: Facts) -> str | None:
    return ("Net benefit of every model against treat-all and treat-none (Vickers & Elkin 2006)."
            if any(c is not None for c in f.comparisons.values()) else None)


def baseline(f: Facts) -> str | None:
    if not f.blocks:
        return None
    return "Blocks compared: " + ", ".join(f.blocks) + "."


def subgroups(f: Facts) -> str | None:
    if f.subgroups is None or f.subgroups.empty:
        return None
    t = f.subgroups
    vars_ = ", ".join(dict.fromkeys(t["variable"].astype(str)))
    return (f"{t['subgroup'].nunique()} subgroups of {vars_}, every model and cohort, at the "
            "carried threshold.")


def sample(f: Facts) -> str | None:
    if f.features is None:
        return None
    t = f.features
    pos = int((t["label"] == 1).sum()) if "label" in t else None
    pats = t["patient_id"].nunique() if "patient_id" in t else len(t)
    return (f"{len(t)} lesions of {pats} patients analysed" +
            (f", {pos} positive" if pos is not None else "") + " (counts per cohort in Cohort flow).")


def code(f: Facts) -> str | None:
    v = (f.meta.get("versions") or {}).get("thyromics")
    return (f"thyromics {v} (open source, BSD-3-Clause); the study YAML's settings and seed "
            f"{f.meta.get('seed')} are in the Provenance section.") if v else None


def model_files(f: Facts) -> str | None:
    saved = [b for b in f.blocks if f.study.path(MODEL.rel("models", block=b)).is_dir()]
    if not saved:
        return None
    return (f"Fitted models with their carried thresholds saved in models/<block>/models/ for "
            f"{', '.join(saved)} (`thyromics predict` scores new cases).")


def importance(f: Facts) -> str | None:
    kinds = sorted({p.stem.removeprefix("importance_") for b in f.blocks
                    for p in MODEL.dir(f.study.root, block=b).glob(MODEL.name("importance", kind="*"))})
    return f"Feature importance: {', '.join(kinds)}." if kinds else None


def deep(f: Facts) -> str | None:
    d = f.deep_settings
    if not d:
        return None
    data = d.get("data") or {}
    return (f"{d.get('network')} ({data.get('spatial_dims')}D), at most {d.get('epochs')} epochs, "
            f"batch {d.get('batch_size')}, Adam lr {d.get('learning_rate')}, early stopping on the "
            f"validation AUC (patience {d.get('patience')}), pretrained: {d.get('pretrained') or 'none'}.")
