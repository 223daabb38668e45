"""The files between stages: one object per stage output, the only place their names live.

Every stage writes into an output folder (``-o OUT`` of its command, or its folder of a
study run by ``thyromics run``) and the next stage, the report and the tests read it. A
:class:`Stage` says, for one stage output: the folder inside the study folder, its files
(names may hold ``{fields}``, e.g. ``importance_{kind}.csv``), the columns a reader
relies on, its errors table, provenance and "done" marker, and the command that
(re)writes it::

    MODEL.at(out_dir, "comparison")                   # out_dir / "comparison.csv"
    MODEL.path(study, "comparison", block="clinical")  # study/models/clinical/comparison.csv
    MODEL.rel("importance", block="clinical", kind="shap")  # "models/clinical/importance_shap.csv"

:func:`markdown_table` renders every stage for ``docs/developing.md``. This module imports
nothing from the rest of the package, so every stage (and the CLI) may import it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["File", "Stage", "STAGES", "PATHOLOGY", "STEP_DONE", "SLIDE_DONE", "STUDY",
           "MANIFEST", "EXTRACT", "TABLE1", "MODEL", "SAVED_MODEL", "ROBUSTNESS", "HABITATS",
           "DEEP", "DEEP_MODEL", "DL", "EVALUATE", "TILES", "NORMALISE", "NUCLEI",
           "NUCLEUS_FEATURES", "ASSOCIATE", "REVIEW", "AGREEMENT", "REPORT",
           "command_for", "markdown_table"]

#: The marker ``thyromics run`` leaves in a step's folder (the hash of its inputs).
STEP_DONE = ".done.json"
#: The marker a pathology stage leaves in a slide's folder when the slide is finished.
SLIDE_DONE = "_done.json"


@dataclass(frozen=True)
class File:
    """One file (or folder, when ``name`` ends with ``/``) of a stage output.

    Parameters
    ----------
    name : str
        Path inside the stage folder; ``{field}`` parts are filled by :meth:`Stage.name`.
    what : str
        One line for the developer guide.
    columns : tuple of str
        Columns a reader relies on (tables only; others may follow).
    """

    name: str
    what: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stage:
    """Where one stage writes, and what.

    Parameters
    ----------
    title : str
        The stage, in words.
    command : str
        The ``thyromics`` command that (re)writes the output.
    folder : str or None
        Folder inside the study folder (``""``: the study folder itself; ``None``: the
        stage is not part of ``thyromics run`` and writes only into ``-o OUT``).
    files : mapping of str to File
        The files, by key.
    errors, provenance, done : str or None
        Keys (in ``files``) of the errors table, the provenance file and the "done" marker.
    defaults : mapping of str to str
        Default values of ``{fields}`` (e.g. ``stem`` of the feature table).
    """

    title: str
    command: str
    folder: str | None
    files: Mapping[str, File]
    errors: str | None = None
    provenance: str | None = None
    done: str | None = None
    defaults: Mapping[str, str] = field(default_factory=dict)

    def file(self, key: str) -> File:
        """The :class:`File` of ``key``; an unknown key names the closest valid ones."""
        try:
            return self.files[key]
        except KeyError:
            near = difflib.get_close_matches(key, list(self.files), n=3)
            hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
            raise KeyError(f"{self.title}: no file {key!r}{hint} (known: {', '.join(self.files)})") \
                from None

    def _fill(self, template: str, fields: Mapping[str, Any]) -> str:
        values = {**self.defaults, **fields}
        try:
            return template.format(**values)
        except KeyError as e:
            raise KeyError(f"{self.title}: {template!r} needs the field {e.args[0]!r}") from None

    def name(self, key: str, **fields: Any) -> str:
        """The file's path inside the stage folder, fields filled (``comparison.csv``)."""
        return self._fill(self.file(key).name, fields)

    def at(self, out: str | Path, key: str, **fields: Any) -> Path:
        """The file inside the stage's own output folder ``out`` (``-o OUT``)."""
        return Path(out) / self.name(key, **fields)

    def dir(self, study: str | Path, **fields: Any) -> Path:
        """The stage folder inside the study folder ``study``."""
        if self.folder is None:
            raise ValueError(f"{self.title} is not a step of `thyromics run`: it writes into the "
                             f"-o folder of `{self.command}`")
        return Path(study) / self._fill(self.folder, fields)

    def top(self, study: str | Path) -> Path:
        """The stage folder up to its first field (``study/models`` of ``models/{block}``)."""
        if self.folder is None:
            return self.dir(study)  # raises: not a step of a study
        fixed: list[str] = []
        for part in PurePosixPath(self.folder).parts:
            if "{" in part:
                break
            fixed.append(part)
        return Path(study, *fixed)

    def path(self, study: str | Path, key: str, **fields: Any) -> Path:
        """The file inside the study folder ``study``."""
        return self.dir(study, **fields) / self.name(key, **fields)

    def rel(self, key: str, **fields: Any) -> str:
        """The file's path relative to the study folder (to ``-o OUT`` for a stage outside
        a study), with ``/``: for messages and the report's sources."""
        folder = self._fill(self.folder, fields) if self.folder else ""
        return str(PurePosixPath(folder, self.name(key, **fields)))

    def columns(self, key: str) -> tuple[str, ...]:
        """The columns a reader of ``key`` relies on."""
        return self.file(key).columns

    def missing_columns(self, key: str, columns: Iterable[str]) -> list[str]:
        """The required columns of ``key`` that ``columns`` lacks."""
        have = set(columns)
        return [c for c in self.columns(key) if c not in have]


def _files(**files: File) -> dict[str, File]:
    return dict(files)


_ERRORS = ("case_id", "stage", "error", "file")

#: The study folder itself (``thyromics run``).
STUDY = Stage("study run", "thyromics run", "", _files(
    study=File("study.json", "name, start and end, seed, settings, versions, input hashes"),
    done=File(f"{{step}}/{STEP_DONE}", "a finished step (features, table1, deep, robustness, "
              "models, evaluate): the hash of its inputs; a rerun skips it while it matches",
              ("key", "finished", "seconds")),
), provenance="study", done="done")

#: The case manifest: the input of every imaging stage (its name is the user's).
MANIFEST = Stage("case manifest", "thyromics manifest", None, _files(
    cases=File("cases.csv", "one row per case (or per lesion); clinical columns follow",
               ("case_id", "image", "mask")),
))

#: Radiomics extraction (``thyromics extract CASES -o features.parquet``).
EXTRACT = Stage("feature extraction", "thyromics extract", "features", _files(
    features=File("{stem}.parquet", "one row per case: identifiers, then "
                  "`<filter>_<family>_<feature>` columns; provenance in the Parquet metadata "
                  "(`{stem}`: `features` in a study, else the -o name)",
                  ("case_id",)),
    csv=File("{stem}.csv", "the same table as CSV (--csv)"),
    errors=File("{stem}.errors.csv", "one row per failed case", _ERRORS),
    provenance=File("{stem}.provenance.json", "settings, versions, input hashes; run: time, jobs"),
    cache=File(".thyromics_cache/", "per-case cache, keyed by image, mask and settings"),
), errors="errors", provenance="provenance", defaults={"stem": "features"})

#: Table 1 of the clinical columns (the ``.json`` beside a table holds its footnote).
TABLE1 = Stage("Table 1", "thyromics table1", "table1", _files(
    table1=File("table1.csv", "by outcome (printed cells, footnote rows at the end)"),
    table1_meta=File("table1.json", "footnote, notes and settings of table1.csv"),
    table1_html=File("table1.html", "printable page (never read)"),
    by_cohort=File("table1_by_cohort.csv", "by cohort (split column)"),
    by_cohort_meta=File("table1_by_cohort.json", "footnote of table1_by_cohort.csv"),
    by_cohort_html=File("table1_by_cohort.html", "printable page (never read)"),
))

_COMPARISON = ("model", "cohort", "n", "auc", "auc_ci_low", "auc_ci_high", "threshold")
_PREDICTIONS = ("case_id", "model", "cohort", "fold", "repeat", "y_true", "score")
_DELONG = ("cohort", "model_a", "model_b", "n", "auc_a", "auc_b", "auc_diff", "ci_low",
           "ci_high", "z", "p", "method")
_OPTIMISM = ("model_id", "model", "blocks", "metric", "apparent", "training", "test",
             "optimism", "corrected", "B", "n_boot", "n_failed", "seed", "resampled")

#: One model block (``thyromics model FEATURES -o OUT``; a study has one per block, and
#: ``models/network`` for the deep-learning classifier).
MODEL = Stage("model block", "thyromics model", "models/{block}", _files(
    comparison=File("comparison.csv", "one row per model x cohort: AUC with CI, metrics at "
                    "the carried threshold", _COMPARISON),
    predictions=File("predictions.parquet", "out-of-fold and test scores, one row per case x "
                     "model x fold x repeat", _PREDICTIONS),
    delong=File("delong.csv", "pairwise DeLong tests of the models", _DELONG),
    fold_auc=File("fold_auc.csv", "AUC of every CV fold"),
    leakage=File("leakage.csv", "patients shared between cohorts or folds"),
    sample_size=File("sample_size.csv", "events per variable and the Riley minimum"),
    importance=File("importance_{kind}.csv", "feature importance (permutation, vimp, shap)"),
    evaluation=File("evaluation.json", "every metric with its CI, per model and cohort"),
    families=File("families.csv", "family analysis (radiomics block)"),
    family_values=File("family_values.parquet", "one representative value per case and "
                       "family", ("case_id", "family", "value")),
    family_values_csv=File("family_values.csv", "older layout: the same as CSV, read when "
                           "the .parquet is absent", ("case_id", "family", "value")),
    optimism=File("optimism.csv", "optimism-corrected bootstrap (--optimism B)", _OPTIMISM),
    robust=File("robust.csv", "what each final model's robust step removed"),
    harmonization=File("harmonization/", "the ComBat step's checks"),
    harmonization_auc=File("harmonization/auc.csv", "AUC with and without ComBat (--compare)"),
    harmonization_batch_f=File("harmonization/batch_f.csv", "batch F statistic per feature"),
    harmonization_distributions=File("harmonization/distributions.png", "feature "
                                     "distributions by batch, before and after"),
    harmonization_embedding=File("harmonization/embedding.png", "2-D embedding by batch"),
    models=File("models/", "one folder per final model, by model_id (the saved model)"),
    fits=File(".fits/", "fit cache by content (--cache): a rerun refits only what changed"),
    run=File("run.json", "provenance: arguments, thresholds, versions, optimism summary"),
), provenance="run")

#: A saved final model (read by ``thyromics predict``).
SAVED_MODEL = Stage("saved model", "thyromics model", "models/{block}/models/{model_id}", _files(
    model=File("model.joblib", "the fitted pipeline (canonical pickle: same model, same bytes)"),
    meta=File("model.json", "columns, threshold, versions, the model file's hash"),
), provenance="meta")

#: Feature robustness under perturbation (``thyromics robustness``).
ROBUSTNESS = Stage("robustness", "thyromics robustness", "robustness", _files(
    perturbations=File("perturbations.parquet", "every case x perturbation; provenance in the "
                       "Parquet metadata", ("case_id", "perturbation")),
    perturbed=File("perturbed/p{repetition:03d}.parquet", "one feature table per perturbation"),
    perturbed_errors=File("perturbed/p{repetition:03d}.errors.csv", "its errors table", _ERRORS),
    perturbed_provenance=File("perturbed/p{repetition:03d}.provenance.json", "its provenance"),
    cache=File(".thyromics_cache/", "the extraction's per-case cache"),
    parameters=File("perturbation_parameters.csv", "the drawn parameters, per case and "
                    "perturbation", ("case_id", "repetition")),
    icc=File("icc.csv", "ICC of every feature and whether it is stable", ("feature", "stable")),
    figure=File("icc_by_family.png", "ICC by feature family"),
    summary=File("robustness.json", "chain, threshold, counts; run: time"),
    errors=File("errors.csv", "one row per failed case x perturbation",
                ("case_id", "perturbation", "stage", "error", "file")),
), errors="errors", provenance="summary")

#: Habitats and their diversity (``thyromics habitats``).
HABITATS = Stage("habitats", "thyromics habitats", None, _files(
    habitats=File("habitats.csv", "one row per case x habitat",
                  ("case_id", "habitat", "voxels", "fraction", "mean_intensity")),
    diversity=File("diversity.csv", "diversity indices per case", ("case_id", "k")),
    labels=File("labels/{case}.nii.gz", "habitat label map"),
    overlay=File("png/{case}.png", "habitat overlay"),
    errors=File("errors.csv", "one row per failed case", ("case_id", "stage", "reason")),
), errors="errors")

#: A trained network (``thyromics dl train`` / ``thyromics segment train``).
DEEP_MODEL = Stage("trained network", "thyromics dl train", "deep/model", _files(
    model=File("model.pt", "best weights and their metadata"),
    checkpoint=File("checkpoint.pt", "the latest epoch (to resume)"),
    settings=File("settings.json", "training and data settings"),
    history=File("history.csv", "loss, validation loss and score per epoch"),
    split=File("split.csv", "the network's own train / val split", ("case_id", "split")),
    errors=File("errors.csv", "skipped cases", ("case_id", "reason")),
), errors="errors", provenance="settings")

#: The deep-learning step of a study (``deep.enabled``).
DEEP = Stage("deep learning", "thyromics run", "deep", _files(
    predictions=File("predictions.csv", "probability of every case, its role and split",
                     ("case_id", "probability", "role")),
    metrics=File("metrics.json", "held-out metrics per cohort"),
    gradcam_cases=File("gradcam_cases.csv", "the cases drawn for Grad-CAM"),
    gradcam=File("gradcam/", "Grad-CAM overlays, one PNG per case"),
    segmentation=File("segmentation/", "segmentation overlays, one PNG per case"),
    features=File("deep_features.parquet", "deep features (the model block 'deep')",
                  ("case_id",)),
))

#: Default outputs of the single deep-learning commands (``thyromics dl`` / ``segment``).
DL = Stage("deep-learning commands", "thyromics dl predict", None, _files(
    predictions=File("dl_predictions.csv", "probabilities (thyromics dl predict)"),
    features=File("dl_features.parquet", "deep features (thyromics dl embed)"),
    overlay=File("{case}.png", "a Grad-CAM overlay (thyromics dl gradcam -o FOLDER)"),
    segmentation=File("segmentation.csv", "Dice, IoU, HD95 per case (thyromics segment "
                      "predict)"),
    masks=File("masks/", "predicted masks (thyromics segment predict)"),
    errors=File("errors.csv", "skipped cases, beside the output", ("case_id", "reason")),
), errors="errors")

_SUBGROUPS = ("block", "cohort", "model", "model_id", "variable", "subgroup", "n", "n_pos",
              "auc", "auc_ci_low", "auc_ci_high", "sensitivity", "specificity", "threshold")

#: Subgroup evaluation of every model (``evaluate.subgroups`` of the study YAML).
EVALUATE = Stage("subgroups", "thyromics run", "evaluate", _files(
    subgroups=File("subgroups.csv", "one row per block, cohort, model, variable and subgroup",
                   _SUBGROUPS),
    subgroups_json=File("subgroups.json", "the evaluate API's output per block and cohort"),
))

_SLIDE_ERRORS = ("slide_id", "tile_id", "stage", "error", "file")


def _pathology(stage: str, folder: str, title: str, **files: File) -> Stage:
    """A pathology stage: ``OUT/<folder>/<slide>/`` per slide, errors and provenance in OUT."""
    return Stage(title, f"thyromics pathology {stage} SLIDES.csv -o OUT", None, _files(
        **files,
        slide=File(f"{folder}/{{slide_id}}/", "one folder per slide"),
        done=File(f"{folder}/{{slide_id}}/{SLIDE_DONE}", "the slide's finished record (key, "
                  "tiles, inputs)"),
        errors=File(f"{stage}.errors.csv", "one row per failed slide or tile", _SLIDE_ERRORS),
        provenance=File(f"{stage}.provenance.json", "settings, versions, slide keys"),
    ), errors="errors", provenance="provenance", done="done")


_TILE_INDEX = ("slide_id", "patient_id", "tile_id", "path")


def _per_tile(stage: str, folder: str, title: str, rows: str, **files: File) -> Stage:
    """A pathology stage of per-tile files, indexed in ``<folder>.csv`` (``rows``: its rows)."""
    return _pathology(stage, folder, title, index=File(f"{folder}.csv", rows, _TILE_INDEX),
                      **files)


TILES = _per_tile(
    "tiles", "tiles", "pathology tiles", "one row per tile",
    tissue=File("tiles/{slide_id}/_tissue.png", "the tissue mask on the thumbnail"),
    tile=File("tiles/{slide_id}/{tile_id}.png", "a tile"))
NORMALISE = _per_tile(
    "normalise", "normalised", "pathology stain normalisation", "one row per normalised tile",
    reference=File("stain_reference.json", "the stain reference (reusable with --reference)"),
    tile=File("normalised/{slide_id}/{tile_id}.png", "a normalised tile"))
NUCLEI = _per_tile(
    "nuclei", "nuclei", "pathology nuclei", "one row per tile",
    tile=File("nuclei/{slide_id}/{tile_id}.npz", "inst_map and inst_type of a tile"),
    counts=File("nuclei/{slide_id}/{tile_id}.counts.json", "nuclei dropped by size"))
NUCLEUS_FEATURES = _pathology(
    "features", "features", "pathology nucleus features",
    nuclei=File("nuclei_features.parquet", "one row per nucleus; provenance in the metadata",
                ("patient_id", "slide_id", "region", "tile_id")),
    slide_nuclei=File("features/{slide_id}/nuclei.parquet", "the slide's nuclei"),
    summary=File("{level}_features.csv", "tile, slide and patient summaries (size_unit)",
                 ("patient_id", "size_unit")))
#: The pathology stages, by the name their errors table and provenance carry.
PATHOLOGY: dict[str, Stage] = {"tiles": TILES, "normalise": NORMALISE, "nuclei": NUCLEI,
                               "features": NUCLEUS_FEATURES}

#: Imaging-pathology associations (``thyromics associate``).
ASSOCIATE = Stage("associations", "thyromics associate", None, _files(
    associations=File("associations.csv", "group tests, FDR within each source",
                      ("source", "feature", "p", "significant")),
    correlations=File("correlations.csv", "Spearman correlations", ("rho", "p", "q")),
    volcano=File("figures/volcano.png", "volcano plot"),
    boxplots=File("figures/boxplots.png", "box plots of the significant features"),
    grades=File("figures/grades_{source}.png", "ordinal grades by group"),
    heatmap=File("figures/correlation_heatmap.png", "correlation heat map"),
    composite=File("composite.json", "the composite score and its test"),
    composite_test=File("composite_test.csv", "the composite on the other patients",
                        ("patient_id", "phenotype", "composite")),
    provenance=File("associate.provenance.json", "settings, input hashes, versions"),
), provenance="provenance")

#: One reader's mask review (``thyromics review -o REVIEW``; a folder per reader).
REVIEW = Stage("mask review", "thyromics review", None, _files(
    decisions=File("{reader}/decisions.csv", "one row per decision, appended"),
    torn=File("{reader}/decisions.torn.txt", "an interrupted last line of decisions.csv"),
    cases=File("{reader}/cases.csv", "the reader's manifest (reviewed_mask column)",
               ("case_id", "image", "mask")),
    masks=File("{reader}/masks/", "corrected masks"),
))

#: Reader agreement (``thyromics agreement``).
AGREEMENT = Stage("reader agreement", "thyromics agreement", None, _files(
    per_case=File("per_case.csv", "Dice, IoU, HD95, volumes per case and comparison",
                  ("case_id", "comparison")),
    summary=File("summary.csv", "per comparison: means and CIs", ("comparison",)),
    group_tests=File("group_tests.csv", "agreement by group"),
    figure=File("agreement.png", "agreement by comparison"),
    bland_altman=File("bland_altman_{i}.png", "Bland-Altman plot of comparison i"),
    feature_icc=File("feature_icc.csv", "ICC of every feature between readers (--preset)",
                     ("feature", "reproducible")),
    summary_json=File("summary.json", "counts, comparisons, non-reproducible features"),
    errors=File("errors.csv", "one row per failed case", ("case_id", "source", "stage",
                                                            "error", "file")),
    provenance=File("provenance.json", "sources, settings, versions, mask hashes"),
), errors="errors", provenance="provenance")

#: The study report (``thyromics report STUDY``).
REPORT = Stage("report", "thyromics report", "", _files(
    report=File("report.html", "the self-contained report"),
    data=File("report_data/{name}.csv", "the data of every figure and table"),
    checklist_csv=File("reporting_checklist.csv", "CLEAR / METRICS checklist",
                       ("topic", "checklists", "status", "answer", "section")),
    checklist_md=File("reporting_checklist.md", "the same checklist as Markdown"),
))

#: Every stage output, by key (in study order, then the other commands).
STAGES: dict[str, Stage] = {
    "study": STUDY, "manifest": MANIFEST, "extract": EXTRACT, "table1": TABLE1,
    "deep_model": DEEP_MODEL, "deep": DEEP, "robustness": ROBUSTNESS, "model": MODEL,
    "saved_model": SAVED_MODEL, "evaluate": EVALUATE, "report": REPORT, "habitats": HABITATS,
    "dl": DL, "tiles": TILES, "normalise": NORMALISE, "nuclei": NUCLEI,
    "nucleus_features": NUCLEUS_FEATURES, "associate": ASSOCIATE, "review": REVIEW,
    "agreement": AGREEMENT,
}


def command_for(rel: str | Path) -> str:
    """The command that writes ``rel`` (a path inside the study folder)."""
    parts = PurePosixPath(Path(rel).as_posix()).parts
    best, depth = STUDY.command, -1
    for stage in STAGES.values():
        if not stage.folder:
            continue
        head = tuple(p for p in PurePosixPath(stage.folder).parts if "{" not in p)
        if parts[:len(head)] == head and len(head) > depth:
            best, depth = stage.command, len(head)
    return best


def markdown_table() -> str:
    """The study output layout as a Markdown table (one row per file), for the docs."""
    rows = ["| stage | command | folder | file | what | required columns |",
            "|---|---|---|---|---|---|"]
    for stage in STAGES.values():
        folder = "`-o OUT`" if stage.folder is None else f"`{stage.folder or '.'}/`"
        for key, f in stage.files.items():
            role = {stage.errors: " (errors)", stage.provenance: " (provenance)",
                    stage.done: " (done)"}.get(key, "")
            cols = ", ".join(f.columns)
            rows.append(f"| {stage.title} | `{stage.command}` | {folder} | `{f.name}`{role} | "
                        f"{f.what} | {cols} |")
    return "\n".join(rows) + "\n"
