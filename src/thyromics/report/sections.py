"""The report's sections: each reads what it needs from the study folder.

Every builder takes a :class:`~thyromics.report._study.Study` and returns a
:class:`~thyromics.report._html.Section`. A missing input gives a short "not run" note
in that section; :data:`SECTIONS` lists the builders in report order.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from thyromics.features.catalogue import parse_column
from thyromics.layout import DEEP, MODEL, STUDY, TABLE1
from thyromics.report import figures as F
from thyromics.report._html import Section, heading, note, png_html
from thyromics.report._curve_sections import (
    calibration_section,
    confusion_section,
    decision_section,
    roc_section,
)
from thyromics.report._model_sections import importance_section, models_section
from thyromics.report._step_sections import harmonization_section, robustness_section
from thyromics.report._study import (FEATURE_ERRORS, FEATURE_PROVENANCE, FEATURES, META_COLUMNS,
                                     Study)
from thyromics.report._subgroup_section import subgroups_section

__all__ = [
    "SECTIONS",
    "cohort_flow_section",
    "table1_section",
    "features_section",
    "gallery_section",
    "provenance_section",
    "extraction_provenance",
]

#: Most images shown per gallery.
GALLERY_MAX: int = 24


def _feature_columns(features: pd.DataFrame) -> list[str]:
    """Numeric columns of a known feature family (clinical and id columns left out)."""
    return [c for c in features.columns
            if c not in META_COLUMNS and pd.api.types.is_numeric_dtype(features[c])
            and parse_column(c)[1] != "other"]


def cohort_flow_section(study: Study) -> Section:
    """Cases in, cases excluded and why (from the extraction errors), per cohort."""
    sec = Section("cohort-flow", "Cohort flow")
    features = study.table(*FEATURES)
    errors = study.table(*FEATURE_ERRORS)
    if features is None and errors is None:
        sec.not_run("feature extraction", "/".join(FEATURES), "thyromics extract")
        return sec
    included = features if features is not None else pd.DataFrame(columns=list(META_COLUMNS))
    if "split" not in included:
        included = included.assign(split="all")
    excluded = errors if errors is not None else pd.DataFrame(columns=["case_id", "stage", "error"])
    excluded = excluded[~excluded["case_id"].astype(str).isin(included["case_id"].astype(str))]
    cohort_col = next((c for c in ("split", "cohort") if c in excluded), None)
    excluded = excluded.assign(cohort=excluded[cohort_col] if cohort_col else "unknown")
    per_case = excluded.drop_duplicates("case_id")
    rows = []
    cohorts = list(dict.fromkeys([*included["split"].astype(str), *per_case["cohort"].astype(str)]))
    for cohort in cohorts:
        inc = included[included["split"].astype(str) == cohort]
        n_exc = int((per_case["cohort"].astype(str) == cohort).sum())
        row = {"cohort": cohort, "cases_in": len(inc) + n_exc, "excluded": n_exc,
               "included": len(inc)}
        if "patient_id" in inc:
            row["patients"] = int(inc["patient_id"].nunique())
        if "label" in inc:
            row["positive (label 1)"] = int((inc["label"] == 1).sum())
            row["negative (label 0)"] = int((inc["label"] == 0).sum())
        rows.append(row)
    flow = pd.DataFrame(rows)
    total = flow.drop(columns="cohort").sum(numeric_only=True)
    flow_shown = pd.concat([flow, pd.DataFrame([{"cohort": "total", **total.to_dict()}])],
                           ignore_index=True)
    sec.add_table("cohort_flow", flow_shown, caption="Cases per cohort: in, excluded, included.",
                  derived=f"{'/'.join(FEATURES)} (included), {'/'.join(FEATURE_ERRORS)} (excluded)")
    if features is None:
        sec.not_run("the included cases", "/".join(FEATURES), "thyromics extract")
    if errors is None:
        sec.add(note(f"No extraction errors table ({'/'.join(FEATURE_ERRORS)}): no exclusions recorded."))
    elif excluded.empty:
        sec.add(note("No case was excluded."))
    else:
        if cohort_col is None:
            sec.add(note("The errors table has no cohort column; excluded cases are counted "
                         "under 'unknown'."))
        reasons = (excluded.groupby(["stage"], dropna=False)["case_id"].nunique()
                   .rename("cases").reset_index())
        sec.add(heading("Excluded cases by stage"))
        sec.add_table("excluded_by_stage", reasons, derived="/".join(FEATURE_ERRORS))
        detail = excluded[["case_id", "cohort", "stage", "error"]]
        sec.add(heading("Excluded cases and reasons"))
        sec.add_table("excluded_cases", detail, source="/".join(FEATURE_ERRORS))
    return sec


def _table1_shown(frame: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """Table 1 as printed: the variable named once above its levels, groups headed."""
    shown = frame.copy()
    if "variable" in shown and shown["variable"].eq("").any():  # the footnote rows of the CSV
        shown = shown.iloc[:int(np.flatnonzero(shown["variable"].eq("").to_numpy())[0])]
    if {"variable", "level"} <= set(shown.columns):
        level = shown["level"].astype(str)
        shown.loc[level.ne("") & ~level.str.startswith(("mean", "median")), "variable"] = ""
    group = (meta.get("settings") or {}).get("group")
    if group and not (meta.get("settings") or {}).get("by"):
        fixed = {"variable", "level", "Overall", "p", "test", "Missing"}
        shown = shown.rename(columns={c: f"{group} = {c}" for c in shown.columns  # older CSVs
                                      if c not in fixed and not c.startswith(f"{group} = ")})
    return shown


def table1_section(study: Study) -> Section:
    """Table 1 by outcome and, when present, by cohort, from the stage's CSV files.

    The table is built from ``table1/table1.csv`` (every cell escaped) and its footnote
    from ``table1.json``; the stage's HTML page is never read, so nothing in it can run.
    """
    sec = Section("table1", "Table 1: patient and lesion characteristics")
    for key, title in (("table1", "By outcome"), ("by_cohort", "By cohort")):
        frame = study.table(TABLE1.rel(key), text=True)
        if frame is None:
            continue
        meta = study.json(TABLE1.rel(f"{key}_meta"))
        meta = meta if isinstance(meta, dict) else {}
        sec.add(heading(title))
        shown = _table1_shown(frame, meta)
        sec.add_table(Path(TABLE1.name(key)).stem, frame.iloc[:len(shown)], shown,
                      caption=str(meta.get("footnote", "")), source=TABLE1.rel(key))
    if not sec.tables:
        sec.not_run("Table 1", TABLE1.rel("table1"), TABLE1.command)
        if study.path(TABLE1.rel("table1_html")).is_file():
            sec.add(note(f"{TABLE1.rel('table1_html')} is not shown: the report builds Table 1 "
                         f"only from {TABLE1.name('table1')}, never from an HTML file. Rerun "
                         f"`{STUDY.command}` (or `{TABLE1.command} -o {TABLE1.rel('table1')}`) "
                         "to write it."))
    return sec


def _representative(features: pd.DataFrame, families: dict[str, list[str]],
                    study: Study) -> tuple[pd.DataFrame, str]:
    """One value per case and family to draw by outcome, and what it is.

    The family analysis's own representative values (``family_values.parquet`` or
    ``.csv`` in a model block: ``case_id, family, value``) when present; otherwise the
    feature of each family with the largest absolute standardised mean difference.
    """
    for block in study.blocks():
        for key in ("family_values", "family_values_csv"):
            vals = study.table(MODEL.rel(key, block=block))
            if vals is not None and {"case_id", "family", "value"} <= set(vals.columns):
                if "label" not in vals:
                    vals = vals.merge(features[["case_id", "label"]], on="case_id", how="inner")
                vals = vals.assign(feature=vals.get("feature", "representative value"))
                return (vals[["case_id", "family", "feature", "label", "value"]],
                        f"the representative value of the family analysis (block {block})")
    y = features["label"]
    rows = []
    for family, fcols in families.items():
        a, b = features.loc[y == 1, fcols], features.loc[y == 0, fcols]
        pooled = np.sqrt((a.var() + b.var()) / 2).replace(0, np.nan)
        smd = ((a.mean() - b.mean()).abs() / pooled).dropna()
        if smd.empty:
            continue
        col = str(smd.idxmax())
        values = features[col].astype(float)
        z = (values - values.mean()) / (values.std(ddof=1) or 1.0)
        rows.append(pd.DataFrame({"case_id": features["case_id"], "family": family, "feature": col,
                                  "label": y, "value": z}))
    how = ("the feature with the largest absolute standardised mean difference between "
           "outcomes (descriptive only, chosen on all cases), as z-score")
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), how


def features_section(study: Study) -> Section:
    """Feature counts per family and family boxplots by outcome."""
    sec = Section("features", "Features")
    features = study.table(*FEATURES)
    if features is None:
        sec.not_run("feature extraction", "/".join(FEATURES), "thyromics extract")
        return sec
    cols = _feature_columns(features)
    parsed = pd.DataFrame([parse_column(c) for c in cols], columns=["filter", "family", "feature"])
    parsed["column"] = cols
    counts = parsed.groupby("family").size().rename("n_features").reset_index()
    sec.add(note(f"{len(cols)} features from {parsed['filter'].nunique()} image filter(s) in "
                 f"{len(counts)} families, for {len(features)} cases."))
    if counts.empty:
        sec.add(note("The features table has no feature columns."))
        return sec
    sec.add_figure(F.family_counts_figure(counts))
    by_filter = pd.crosstab(parsed["family"], parsed["filter"]).rename_axis(columns=None).reset_index()
    sec.add_table("features_by_filter", by_filter, caption="Features per family and image filter.",
                  derived=f"the feature columns of {'/'.join(FEATURES)}")
    for block in study.blocks():
        fam = study.table(MODEL.rel("families", block=block))
        if fam is not None:
            sec.add(heading(f"Family analysis: {block}"))
            sec.add_table(f"families_{block}", fam, fam.round(6),
                          caption="Per-family test between outcomes (p_geomean: geometric mean "
                                  "of the features' p-values).",
                          source=MODEL.rel("families", block=block))
    if "label" not in features or features["label"].nunique() < 2:
        sec.add(note("Boxplots by outcome need a label column with two classes."))
        return sec
    families = {f: list(g["column"]) for f, g in parsed.groupby("family")}
    values, how = _representative(features, families, study)
    if not values.empty:
        sec.add_figure(F.family_boxplots_figure(
            values, caption=f"Per family, {how} (unitless), by outcome. "
                            "Boxes: median and interquartile range; whiskers 1.5 IQR."))
    return sec


def gallery_section(study: Study) -> Section:
    """Grad-CAM and segmentation images written by the deep-learning stage."""
    sec = Section("galleries", "Grad-CAM and segmentation galleries")
    for folder, title in (("gradcam", "Grad-CAM"), ("segmentation", "Segmentation")):
        pngs = study.pngs(DEEP.rel(folder))
        sec.add(heading(title))
        if not pngs:
            sec.not_run(title, f"{DEEP.rel(folder)}/*.png", "thyromics dl gradcam" if folder == "gradcam"
                        else "thyromics segment predict")
            continue
        items = [png_html(p, p.stem, css_class="thumb") for p in pngs[:GALLERY_MAX]]
        sec.add(Markup('<div class="gallery">') + Markup("").join(items) + Markup("</div>"),
                content=True)
        if len(pngs) > GALLERY_MAX:
            sec.add(note(f"{len(pngs) - GALLERY_MAX} more images in {DEEP.rel(folder)}/."))
    return sec


def _flat(mapping: object, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(mapping, dict):
        out: list[tuple[str, str]] = []
        for k, v in mapping.items():
            out += _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(mapping, list) and not any(isinstance(v, (dict, list)) for v in mapping):
        return [(prefix, ", ".join(map(str, mapping)))]
    if isinstance(mapping, list):
        return [(prefix, json.dumps(mapping))]
    return [(prefix, "" if mapping is None else str(mapping))]


def _runtime(started: object, finished: object) -> str:
    try:
        delta = datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))
    except ValueError:
        return "\u2013"
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600} h {seconds % 3600 // 60} min {seconds % 60} s"


def _extraction_rows(prov: dict) -> pd.DataFrame:
    """The extraction provenance as key / value rows; per-case hashes are counted, not listed."""
    shown = {k: v for k, v in prov.items() if k not in ("cases", "columns")}
    rows = _flat(shown)
    cases = prov.get("cases")
    if isinstance(cases, dict):
        rows.append(("cases", f"{len(cases)} (image and mask SHA-256 of each in the provenance file)"))
    columns = prov.get("columns")
    if isinstance(columns, dict):
        rows += [(f"columns.{k}", f"{len(v)}" if k == "features" else ", ".join(map(str, v)))
                 for k, v in columns.items() if isinstance(v, list)]
    return pd.DataFrame(rows, columns=["key", "value"])


def extraction_provenance(study: Study) -> tuple[dict | None, str]:
    """The extraction's provenance and where it was read: the sidecar JSON, else the Parquet."""
    prov = study.json(*FEATURE_PROVENANCE)
    if isinstance(prov, dict):
        return prov, "/".join(FEATURE_PROVENANCE)
    path = study.path(*FEATURES)
    if path.is_file():
        from thyromics.features.extract import read_features

        try:
            embedded = read_features(path)[1]
        except Exception as e:  # noqa: BLE001 - named with the file and its writer
            raise study._fail(path.relative_to(study.root), e) from e
        if embedded:
            return embedded, "/".join(FEATURES) + " (embedded provenance)"
    return None, "/".join(FEATURE_PROVENANCE)


def provenance_section(study: Study) -> Section:
    """Versions, settings, seeds, input hashes and run time."""
    sec = Section("provenance", "Provenance")
    source = STUDY.rel("study")
    meta = study.json(source)
    if meta is None:
        sec.not_run("the study runner's provenance", source, STUDY.command)
    else:
        run = pd.DataFrame(
            [("study", meta.get("name", "")), ("started", meta.get("started", "")),
             ("finished", meta.get("finished", "")),
             ("run time", _runtime(meta.get("started"), meta.get("finished"))),
             ("seed", meta.get("seed", ""))], columns=["item", "value"])
        sec.add_table("provenance_run", run.astype(str), derived=source)
        for key, title in (("versions", "Versions"), ("settings", "Settings")):
            rows = _flat(meta.get(key) or {})
            sec.add(heading(title))
            if rows:
                sec.add_table(f"provenance_{key}", pd.DataFrame(rows, columns=["key", "value"]),
                              source=f"{source}#{key}")
            else:
                sec.add(note(f"No {key} recorded."))
        inputs = meta.get("inputs") or {}
        sec.add(heading("Input files (SHA-256)"))
        if inputs:
            sec.add_table("provenance_inputs",
                          pd.DataFrame(sorted(inputs.items()), columns=["file", "sha256"]),
                          source=f"{source}#inputs")
        else:
            sec.add(note("No input hashes recorded."))
    extra, where = extraction_provenance(study)
    if extra is not None:
        sec.add(heading("Feature extraction provenance"))
        sec.add_table("provenance_features", _extraction_rows(extra), derived=where,
                      caption="Every key as recorded; the per-case hashes and the feature "
                              "columns are counted.")
    return sec


def _checklist(study: Study) -> Section:
    from thyromics.report.checklist import checklist_section

    return checklist_section(study)


#: The report's sections, in order: (id, title, builder).
SECTIONS: list[tuple[str, str, Callable[[Study], Section]]] = [
    ("cohort-flow", "Cohort flow", cohort_flow_section),
    ("table1", "Table 1: patient and lesion characteristics", table1_section),
    ("features", "Features", features_section),
    ("robustness", "Feature robustness", robustness_section),
    ("models", "Model comparison", models_section),
    ("harmonization", "Harmonisation across centres", harmonization_section),
    ("roc", "ROC curves", roc_section),
    ("calibration", "Calibration", calibration_section),
    ("decision-curves", "Decision curves", decision_section),
    ("confusion", "Confusion matrices at the chosen thresholds", confusion_section),
    ("subgroups", "Subgroups", subgroups_section),
    ("importance", "Feature importance", importance_section),
    ("galleries", "Grad-CAM and segmentation galleries", gallery_section),
    ("provenance", "Provenance", provenance_section),
    ("checklist", "Reporting checklist", _checklist),
]
