"""Read-only access to a study folder, every input optional.

The report is the last step of a study and must render whatever the earlier stages
left behind: each reader returns ``None`` when its file is absent, so a section can
say "not run" instead of failing. A file that exists but cannot be read raises
:class:`~thyromics.errors.InputError` naming the file and the stage that writes it.

Layout (written by ``thyromics run``)::

    OUT/study.json                       provenance
    OUT/features/features.parquet        case_id, patient_id, label, split, features...
    OUT/features/features.errors.csv     case_id, stage, error, file
    OUT/features/features.provenance.json  settings, versions, hashes; "run": time, jobs
    OUT/table1/table1.csv, table1.json, table1_by_cohort.csv, table1_by_cohort.json
                                         (the .html beside them is never read)
    OUT/models/<block>/comparison.csv, predictions.parquet, delong.csv,
                       importance_<kind>.csv, families.csv, family_values.parquet,
                       evaluation.json, run.json, robust.csv (robust step),
                       harmonization/auc.csv, distributions.png, embedding.png (ComBat)
    OUT/robustness/icc.csv, icc_by_family.png, robustness.json   (robustness: block)
    OUT/deep/gradcam/*.png, OUT/deep/segmentation/*.png, OUT/deep/model/settings.json
    OUT/evaluate/subgroups.csv, subgroups.json

The names come from the modules that write the files (:data:`FEATURES`,
:data:`FEATURE_ERRORS`, :data:`FEATURE_PROVENANCE`, :data:`SUBGROUPS`, :data:`ROBUSTNESS`,
:data:`ROBUST_CSV`, :data:`HARMONIZATION`), never typed again here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from thyromics.errors import InputError

__all__ = ["Study", "META_COLUMNS", "FEATURES", "FEATURE_ERRORS", "FEATURE_PROVENANCE",
           "SUBGROUPS", "SUBGROUPS_FULL", "ROBUSTNESS", "ROBUST_CSV", "HARMONIZATION"]

#: Columns of ``features.parquet`` that are not features.
META_COLUMNS: tuple[str, ...] = ("case_id", "patient_id", "label", "split")


def _parts(path: Path) -> tuple[str, ...]:
    return tuple(path.parts)


def _stage_names() -> tuple[tuple[str, ...], ...]:
    """Paths (inside the study folder) of the stage files, from their writers."""
    from thyromics.features.extract import _provenance_path_for, errors_path_for
    from thyromics.study.runner import StudyPaths
    from thyromics.study.subgroups import SUBGROUPS_CSV, SUBGROUPS_DIR, SUBGROUPS_JSON

    features = StudyPaths(Path("")).features
    return (_parts(features), _parts(errors_path_for(features)),
            _parts(_provenance_path_for(features)), (SUBGROUPS_DIR, SUBGROUPS_CSV),
            (SUBGROUPS_DIR, SUBGROUPS_JSON))


#: ``features/features.parquet``, its errors table and its provenance sidecar (written by
#: :func:`thyromics.features.extract.extract_cohort`); the subgroup tables (written by
#: :func:`thyromics.study.subgroups.run_subgroups`).
FEATURES, FEATURE_ERRORS, FEATURE_PROVENANCE, SUBGROUPS, SUBGROUPS_FULL = _stage_names()


def _step_names() -> tuple[dict[str, tuple[str, ...]], str, dict[str, str]]:
    """The robustness stage's files in the study folder; the robust / harmonize steps'
    files inside a model block folder (from their writers)."""
    from thyromics.models import harmonize_report as H
    from thyromics.models._steps import ROBUST_CSV
    from thyromics.robustness.run import ICC_FIGURE, ICC_TABLE, SUMMARY_JSON
    from thyromics.study.runner import StudyPaths

    folder = _parts(StudyPaths(Path("")).robustness)
    robustness = {"icc": (*folder, ICC_TABLE), "figure": (*folder, ICC_FIGURE),
                  "summary": (*folder, SUMMARY_JSON)}
    harmonization = {"dir": H.HARMONIZATION_DIR, "auc": H.AUC_CSV,
                     "distributions": H.DISTRIBUTIONS_PNG, "embedding": H.EMBEDDING_PNG}
    return robustness, ROBUST_CSV, harmonization


#: ``robustness/icc.csv``, ``icc_by_family.png``, ``robustness.json`` (keys ``icc``, ``figure``,
#: ``summary``; written by :func:`thyromics.robustness.run.run_robustness` into the folder
#: :class:`~thyromics.study.runner.StudyPaths` gives it); ``robust.csv`` of a model block
#: (:func:`thyromics.models._steps.write_step_outputs`); the block's harmonisation folder
#: and files (:mod:`thyromics.models.harmonize_report`; keys ``dir``, ``auc``,
#: ``distributions``, ``embedding``).
ROBUSTNESS, ROBUST_CSV, HARMONIZATION = _step_names()

#: Which command writes which top-level folder (for error messages).
_WRITER: dict[str, str] = {
    "features": "thyromics extract",
    "table1": "thyromics table1",
    "models": "thyromics model",
    "deep": "thyromics dl",
    "evaluate": "thyromics evaluate",
    "robustness": "thyromics robustness",
}


@dataclass(frozen=True)
class Study:
    """A study folder on disk.

    Parameters
    ----------
    root : Path
        The study's output folder (``OUT`` of ``thyromics run``).
    """

    root: Path

    def path(self, *parts: str) -> Path:
        """Path of ``parts`` inside the study folder (it may not exist)."""
        return self.root.joinpath(*parts)

    def _fail(self, rel: Path, err: Exception) -> InputError:
        writer = _WRITER.get(rel.parts[0], "thyromics run") if rel.parts else "thyromics run"
        return InputError(
            f"cannot read {self.root / rel}: {type(err).__name__}: {err}. "
            f"Expected a file as written by `{writer}`; rerun that step or delete the file."
        )

    def json(self, *parts: str) -> Any | None:
        """Parsed JSON file, or ``None`` when absent."""
        path = self.path(*parts)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise self._fail(path.relative_to(self.root), e) from e

    def table(self, *parts: str, text: bool = False) -> pd.DataFrame | None:
        """A CSV or Parquet table, or ``None`` when absent.

        With ``text=True`` a CSV is read as written: every cell a string, empty cells
        empty (a printed table such as Table 1, whose ``1.000`` must stay ``1.000``).
        """
        path = self.path(*parts)
        if not path.is_file():
            return None
        try:
            if path.suffix == ".parquet":
                return pd.read_parquet(path)
            if text:
                return pd.read_csv(path, dtype=str, keep_default_na=False)
            return pd.read_csv(path)
        except Exception as e:  # pandas/pyarrow raise many types for a broken file
            raise self._fail(path.relative_to(self.root), e) from e

    def text(self, *parts: str) -> str | None:
        """A text file, or ``None`` when absent."""
        path = self.path(*parts)
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    def blocks(self) -> list[str]:
        """Names of the model blocks (sub-folders of ``models/`` with any output)."""
        models = self.path("models")
        if not models.is_dir():
            return []
        return sorted(
            p.name
            for p in models.iterdir()
            if p.is_dir() and ((p / "comparison.csv").is_file() or (p / "predictions.parquet").is_file())
        )

    def pngs(self, *parts: str) -> list[Path]:
        """PNG files in a folder, sorted by name; empty when the folder is absent."""
        folder = self.path(*parts)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
