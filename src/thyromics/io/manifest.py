"""The case manifest: ``cases.csv``, one row per lesion.

Columns
-------
``case_id, image, mask``
    Required. ``case_id`` unique; ``image``/``mask`` paths relative to the CSV's folder
    (or absolute): a file or a DICOM series folder.
``patient_id``
    Optional, the unit of every split; defaults to ``case_id`` when the column is absent.
``label``
    Optional binary outcome: 0/1 (also ``0.0``/``1.0`` and ``True``/``False``); an empty
    cell means unlabelled.
``split``
    Optional: one of ``train, test, validation, val, internal, external`` (case-insensitive).
any other column
    A clinical variable, kept as is (numbers parsed where the whole column is numeric).

Validation collects every problem and raises one :class:`ManifestError`. Row numbers
are the CSV's line numbers: the header is row 1, the first case row 2.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thyromics.errors import CaseError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Case", "Manifest", "ManifestError", "read_manifest", "validate_readable",
           "summarize", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "DEFAULT_SPLITS"]

REQUIRED_COLUMNS: tuple[str, ...] = ("case_id", "image", "mask")
OPTIONAL_COLUMNS: tuple[str, ...] = ("patient_id", "label", "split")
DEFAULT_SPLITS: tuple[str, ...] = ("train", "test", "validation", "val", "internal", "external")
_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}
_NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "<NA>", "-"]


class ManifestError(InputError):
    """A manifest with problems; ``.problems`` lists every one of them."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        head = (f"{len(self.problems)} problem(s) in the case manifest {self.path} "
                "(row numbers count the header as row 1):")
        super().__init__(head + "\n" + "\n".join(f"  - {p}" for p in self.problems))


@dataclass(frozen=True)
class Case:
    """One manifest row.

    Attributes
    ----------
    case_id : str
    image, mask : Path
        Absolute, resolved paths.
    row : int
        CSV row number (header = 1).
    patient_id : str
        Defaults to ``case_id`` when the manifest has no ``patient_id`` column.
    label : int or None
        0/1 outcome; None when unlabelled or when there is no ``label`` column.
    split : str or None
        Lower-cased split name, None when absent.
    clinical : dict
        Clinical column -> value for this row (NaN where empty).
    """

    case_id: str
    image: Path
    mask: Path
    row: int
    patient_id: str
    label: int | None = None
    split: str | None = None
    clinical: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, eq=False)
class Manifest:
    """A validated case manifest.

    Attributes
    ----------
    path : Path
        The CSV file.
    cases : list of Case
    frame : pandas.DataFrame
        The whole table: every column, ``patient_id`` filled, ``label`` as nullable
        ``Int64``, ``split`` lower-cased, plus ``row``, ``image_path`` and ``mask_path``
        (absolute).
    clinical_columns : list of str
    """

    path: Path
    cases: list[Case]
    frame: "pd.DataFrame" = field(repr=False)
    clinical_columns: list[str]

    def __len__(self) -> int:
        return len(self.cases)

    def clinical_frame(self) -> "pd.DataFrame":
        """Clinical columns indexed by ``case_id``."""
        return self.frame.set_index("case_id")[self.clinical_columns].copy()


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _parse_label(text: str) -> tuple[int | None, bool]:
    """``(label, ok)`` for one label cell."""
    t = text.lower()
    if t in ("", "nan", "na", "none"):
        return None, True
    if t in _TRUE:
        return 1, True
    if t in _FALSE:
        return 0, True
    return None, False


def _clinical_series(s: "pd.Series") -> "pd.Series":
    import numpy as np
    import pandas as pd

    s = s.map(lambda v: v.strip() if isinstance(v, str) else v).replace(_NA_STRINGS, np.nan)
    try:
        return pd.to_numeric(s)
    except (ValueError, TypeError):
        return s


def _duplicate_header_names(path: Path) -> list[str]:
    """Column names that appear twice in the header (pandas would rename them ``x.1``)."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        header = [c.strip() for c in next(csv.reader(f), [])]
    return sorted({c for c in header if header.count(c) > 1})


def read_manifest(path: str | Path, *, check_files: bool = True,
                  allowed_splits: tuple[str, ...] = DEFAULT_SPLITS) -> Manifest:
    """Read and validate ``cases.csv``.

    Parameters
    ----------
    path : str or Path
        The CSV file (comma separated, header row).
    check_files : bool
        Check that every image and mask path exists (existence only; reading them is
        :func:`validate_readable`'s and the extraction stage's job).
    allowed_splits : tuple of str
        Accepted values of the ``split`` column (compared in lower case).

    Raises
    ------
    ManifestError
        Listing every problem with its row: missing required columns, empty or
        duplicate ``case_id``, empty paths, missing files, labels that are not binary,
        unknown split names, empty ``patient_id`` cells.
    """
    import pandas as pd

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ManifestError(path, [f"manifest not found: {path} (expected a cases.csv file)"])
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        dup_cols = _duplicate_header_names(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ManifestError(path, [f"cannot parse the CSV: {e}"]) from e
    raw.columns = [str(c).strip() for c in raw.columns]
    base = path.parent
    allowed = tuple(s.lower() for s in allowed_splits)
    problems: list[str] = []
    cols = list(raw.columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        problems.append(f"row 1 (header): missing required column(s) {', '.join(missing)}; "
                        f"found columns {', '.join(cols) or '(none)'}. Required: "
                        f"{', '.join(REQUIRED_COLUMNS)}.")
    if dup_cols:
        problems.append(f"row 1 (header): duplicate column name(s) {', '.join(dup_cols)}.")
    if raw.empty:
        problems.append("the manifest has no case rows.")
    clinical_columns = [c for c in cols if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]

    seen: dict[str, list[int]] = defaultdict(list)
    cases: list[Case] = []
    resolved: dict[str, list[str]] = {"image": [], "mask": []}
    labels: list[int | None] = []
    splits: list[str | None] = []
    patients: list[str] = []
    for i, rec in enumerate(raw.to_dict("records")):
        row = i + 2
        cid = _cell(rec.get("case_id"))
        who = f"row {row}" + (f" (case {cid})" if cid else "")
        if "case_id" in cols:
            if cid:
                seen[cid].append(row)
            else:
                problems.append(f"row {row}: case_id is empty.")
        paths: dict[str, Path] = {}
        for key in ("image", "mask"):
            text = _cell(rec.get(key))
            p = (base / text).resolve() if text else base
            paths[key] = p
            resolved[key].append(str(p) if text else "")
            if key not in cols:
                continue
            if not text:
                problems.append(f"{who}: {key} path is empty.")
            elif check_files and not p.exists():
                problems.append(f"{who}: {key} file not found: {p}")
        label, ok = _parse_label(_cell(rec.get("label")))
        if not ok:
            problems.append(f"{who}: label {_cell(rec.get('label'))!r} is not binary; expected "
                            "0 or 1 (True/False also accepted; leave empty for unlabelled).")
        labels.append(label)
        split = _cell(rec.get("split")).lower() or None
        if split is not None and split not in allowed:
            close = difflib.get_close_matches(split, allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(f"{who}: unknown split {_cell(rec.get('split'))!r}; allowed: "
                            f"{', '.join(allowed)}.{hint}")
        splits.append(split)
        pid = _cell(rec.get("patient_id")) if "patient_id" in cols else cid
        if not pid and "patient_id" in cols:
            problems.append(f"{who}: patient_id is empty (fill it, or drop the column to "
                            "use case_id as the patient).")
        patients.append(pid)
        cases.append(Case(cid, paths["image"], paths["mask"], row, pid, label, split))
    for cid, rows in seen.items():
        if len(rows) > 1:
            problems.append(f"case_id {cid!r} is duplicated on rows {', '.join(map(str, rows))}.")
    if problems:
        raise ManifestError(path, problems)

    frame = raw.copy()
    for c in clinical_columns:
        frame[c] = _clinical_series(frame[c])
    frame["patient_id"] = patients
    frame["label"] = pd.array(labels, dtype="Int64")
    frame["split"] = pd.Series(splits, dtype="object")
    frame.insert(0, "row", [c.row for c in cases])
    frame["image_path"] = resolved["image"]
    frame["mask_path"] = resolved["mask"]
    clin = (frame[clinical_columns].to_dict("records") if clinical_columns
            else [{} for _ in range(len(frame))])
    cases = [Case(c.case_id, c.image, c.mask, c.row, c.patient_id, c.label, c.split, clin[i])
             for i, c in enumerate(cases)]
    return Manifest(path, cases, frame, clinical_columns)


def validate_readable(manifest: Manifest) -> list[str]:
    """Read every image and mask header (not the pixels) and report problems.

    Uses SimpleITK ``ReadImageInformation`` or Pillow's lazy ``open``: cheap, about a
    millisecond a file. Reports unreadable or corrupt files, unknown types, multi-frame
    files and DICOM folders with several series (both need a choice), and image/mask
    pairs whose sizes differ.

    Returns
    -------
    list of str
        One line per problem, with the CSV row and case; empty when all is readable.
    """
    from thyromics.io._formats import read_header

    problems: list[str] = []
    for case in manifest.cases:
        who = f"row {case.row} (case {case.case_id})"
        headers = {}
        for key in ("image", "mask"):
            try:
                h = read_header(getattr(case, key))
            except CaseError as e:
                problems.append(f"{who}: {key}: {e.reason}")
                continue
            if h.n_frames > 1:
                problems.append(f"{who}: {key} has {h.n_frames} frames; choose one with --frame.")
            headers[key] = h
        if len(headers) == 2 and headers["image"].size != headers["mask"].size:
            problems.append(f"{who}: image size {headers['image'].size} differs from mask size "
                            f"{headers['mask'].size}.")
    return problems


def summarize(manifest: Manifest) -> str:
    """A few lines describing the cohort: cases, patients, labels, splits, clinical columns."""
    df = manifest.frame
    n_lab = df["label"].value_counts(dropna=True).sort_index()
    n_unl = int(df["label"].isna().sum())
    lab = ", ".join(f"{int(k)}: {v}" for k, v in n_lab.items()) or "none"
    if n_unl:
        lab += f", unlabelled: {n_unl}"
    spl = df["split"].value_counts(dropna=False)
    split_text = ", ".join(f"{k if isinstance(k, str) else 'none'}: {v}" for k, v in spl.items())
    clin = ", ".join(manifest.clinical_columns) or "none"
    return "\n".join([
        f"manifest {manifest.path}",
        f"  cases: {len(manifest.cases)}   patients: {df['patient_id'].nunique()}",
        f"  labels: {lab}",
        f"  splits: {split_text}",
        f"  clinical columns ({len(manifest.clinical_columns)}): {clin}",
    ])
