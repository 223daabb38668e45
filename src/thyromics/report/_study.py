"""Read-only access to a study folder, every input optional.

The report is the last step of a study and must render whatever the earlier stages
left behind: each reader returns ``None`` when its file is absent, so a section can
say "not run" instead of failing. A file that exists but cannot be read raises
:class:`~thyromics.errors.InputError` naming the file and the stage that writes it.

The layout (folders, file names, required columns, writers) is :mod:`thyromics.layout`;
:data:`FEATURES`, :data:`FEATURE_ERRORS`, :data:`FEATURE_PROVENANCE`, :data:`SUBGROUPS`,
:data:`ROBUSTNESS`, :data:`ROBUST_CSV` and :data:`HARMONIZATION` are its paths, as the
parts :meth:`Study.table` and :meth:`Study.json` take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from thyromics.errors import InputError
from thyromics.layout import EVALUATE, EXTRACT, MODEL, ROBUSTNESS as _ROBUSTNESS, command_for

__all__ = ["Study", "META_COLUMNS", "FEATURES", "FEATURE_ERRORS", "FEATURE_PROVENANCE",
           "SUBGROUPS", "SUBGROUPS_FULL", "ROBUSTNESS", "ROBUST_CSV", "HARMONIZATION"]

#: Columns of ``features.parquet`` that are not features.
META_COLUMNS: tuple[str, ...] = ("case_id", "patient_id", "label", "split")


def _parts(rel: str) -> tuple[str, ...]:
    return PurePosixPath(rel).parts


#: ``features/features.parquet``, its errors table and its provenance sidecar; the subgroup
#: tables (``evaluate/subgroups.csv``, ``evaluate/subgroups.json``).
FEATURES, FEATURE_ERRORS, FEATURE_PROVENANCE = (
    _parts(EXTRACT.rel(k)) for k in ("features", "errors", "provenance"))
SUBGROUPS, SUBGROUPS_FULL = (_parts(EVALUATE.rel(k)) for k in ("subgroups", "subgroups_json"))
#: The robustness stage's files (keys ``icc``, ``figure``, ``summary``); ``robust.csv`` of a
#: model block; the block's harmonisation folder and files (keys ``dir``, ``auc``,
#: ``distributions``, ``embedding``, relative to that folder).
ROBUSTNESS: dict[str, tuple[str, ...]] = {
    k: _parts(_ROBUSTNESS.rel(k)) for k in ("icc", "figure", "summary")}
ROBUST_CSV: str = MODEL.name("robust")
HARMONIZATION: dict[str, str] = {
    "dir": MODEL.name("harmonization").rstrip("/"),
    **{k: PurePosixPath(MODEL.name(f"harmonization_{k}")).name
       for k in ("auc", "distributions", "embedding")}}


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
        writer = command_for(rel)
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
        """A CSV or Parquet table (:func:`~thyromics.io.tables.read_table`), or ``None`` when
        absent.

        With ``text=True`` a CSV is read as written: every cell a string, empty cells
        empty (a printed table such as Table 1, whose ``1.000`` must stay ``1.000``).
        """
        from thyromics.io.tables import read_table

        path = self.path(*parts)
        if not path.is_file():
            return None
        rel = path.relative_to(self.root)
        return read_table(path, what="the study table", text=text,
                          hint=f"Expected a file as written by `{command_for(rel)}`; rerun that "
                               "step or delete the file.")

    def text(self, *parts: str) -> str | None:
        """A text file, or ``None`` when absent."""
        path = self.path(*parts)
        if not path.is_file():
            return None
        return path.read_text(encoding="utf-8", errors="replace")

    def blocks(self) -> list[str]:
        """Names of the model blocks (sub-folders of ``models/`` with any output)."""
        models = MODEL.top(self.root)
        if not models.is_dir():
            return []
        return sorted(
            p.name
            for p in models.iterdir()
            if p.is_dir() and (MODEL.at(p, "comparison").is_file()
                               or MODEL.at(p, "predictions").is_file())
        )

    def pngs(self, *parts: str) -> list[Path]:
        """PNG files in a folder, sorted by name; empty when the folder is absent."""
        folder = self.path(*parts)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())
