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
``roi``
    Optional: the structure (RTSTRUCT) or segment (DICOM SEG, Slicer ``.seg.nrrd``) of
    the mask file that is this row's lesion, by name (case-insensitive). An empty cell
    takes the file's only structure, or the ``--roi`` option's.
``series_uid``
    Optional: the image's SeriesInstanceUID when its DICOM folder holds several series.
``study_uid``
    Optional, descriptive: the StudyInstanceUID (``thyromics manifest`` writes it); not
    a clinical variable.
any other column
    A clinical variable, kept as is (numbers parsed where the whole column is numeric).

The delimiter is the one of ``,`` ``;`` tab ``|`` that splits the header into the most
columns (spreadsheets in many locales save ``;``-separated "CSV"); in a ``;``-separated
file, clinical numbers may use a decimal comma (``61,5``).

Validation collects every problem and raises one :class:`ManifestError`. Row numbers
are the CSV's line numbers: the header is row 1, the first case row 2.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thyromics.errors import CaseError, InputError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Case", "Manifest", "ManifestError", "read_manifest", "validate_readable",
           "duplicate_cases", "summarize", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS",
           "DEFAULT_SPLITS", "DELIMITERS"]

REQUIRED_COLUMNS: tuple[str, ...] = ("case_id", "image", "mask")
OPTIONAL_COLUMNS: tuple[str, ...] = ("patient_id", "label", "split", "roi", "series_uid",
                                     "study_uid")
DEFAULT_SPLITS: tuple[str, ...] = ("train", "test", "validation", "val", "internal", "external")
_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}
_NA_STRINGS = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "<NA>", "-"]
#: Column separators recognised in the header, the first wins a tie.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


class ManifestError(InputError):
    """A manifest with problems; ``.problems`` lists every one of them.

    ``.cases`` holds the rows as far as they could be parsed (an empty path cell gives
    ``Path()``), so that ``thyromics validate --read`` can still open their files.
    """

    def __init__(self, path: Path | str, problems: list[str],
                 cases: "list[Case] | None" = None) -> None:
        self.path = str(path)
        self.problems = list(problems)
        self.cases = list(cases or [])
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
    roi : str or None
        Structure / segment name of an RTSTRUCT, SEG or Slicer mask (``roi`` column).
    series_uid : str or None
        The image's DICOM series (``series_uid`` column).
    """

    case_id: str
    image: Path
    mask: Path
    row: int
    patient_id: str
    label: int | None = None
    split: str | None = None
    clinical: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    roi: str | None = None
    series_uid: str | None = None


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
    delimiter : str
        The column separator found in the file (see :data:`DELIMITERS`).
    """

    path: Path
    cases: list[Case]
    frame: "pd.DataFrame" = field(repr=False)
    clinical_columns: list[str]
    delimiter: str = ","

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


def _clinical_series(s: "pd.Series", decimal_comma: bool = False) -> "pd.Series":
    import numpy as np
    import pandas as pd

    s = s.map(lambda v: v.strip() if isinstance(v, str) else v).replace(_NA_STRINGS, np.nan)
    for candidate in (s, s.str.replace(",", ".", regex=False)) if decimal_comma else (s,):
        try:
            return pd.to_numeric(candidate)
        except (ValueError, TypeError, AttributeError):
            pass
    return s


def _header(path: Path) -> tuple[str, list[str]]:
    """``(delimiter, header cells)``: the delimiter splitting the header into most columns."""
    import csv

    with open(path, newline="", encoding="utf-8-sig") as f:
        line = f.readline()
    best = max(DELIMITERS, key=lambda d: len(next(csv.reader([line], delimiter=d), [])))
    return best, [c.strip() for c in next(csv.reader([line], delimiter=best), [])]


def read_manifest(path: str | Path, *, check_files: bool = True,
                  allowed_splits: tuple[str, ...] = DEFAULT_SPLITS) -> Manifest:
    """Read and validate ``cases.csv``.

    Parameters
    ----------
    path : str or Path
        The CSV file with a header row, separated by commas, semicolons, tabs or pipes
        (found from the header).
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
        sep, header = _header(path)
        raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                          skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ManifestError(path, [f"cannot parse the CSV: {e}"]) from e
    dup_cols = sorted({c for c in header if header.count(c) > 1})
    raw.columns = [str(c).strip() for c in raw.columns]
    base = path.parent
    allowed = tuple(s.lower() for s in allowed_splits)
    problems: list[str] = []
    cols = list(raw.columns)
    missing = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing:
        found = (f"found columns {', '.join(cols)} ({_DELIMITER_NAMES[sep]}-separated)" if cols
                 else "found no columns")
        problems.append(f"row 1 (header): missing required column(s) {', '.join(missing)}; "
                        f"{found}. Required: {', '.join(REQUIRED_COLUMNS)}, separated by "
                        "commas, semicolons or tabs.")
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
            p = (base / text).resolve() if text else Path()
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
            hint = did_you_mean(split, allowed, n=1)
            problems.append(f"{who}: unknown split {_cell(rec.get('split'))!r}; allowed: "
                            f"{', '.join(allowed)}.{hint}")
        splits.append(split)
        pid = _cell(rec.get("patient_id")) if "patient_id" in cols else cid
        if not pid and "patient_id" in cols:
            problems.append(f"{who}: patient_id is empty (fill it, or drop the column to "
                            "use case_id as the patient).")
        patients.append(pid)
        cases.append(Case(cid, paths["image"], paths["mask"], row, pid, label, split,
                          roi=_cell(rec.get("roi")) or None,
                          series_uid=_cell(rec.get("series_uid")) or None))
    for cid, rows in seen.items():
        if len(rows) > 1:
            problems.append(f"case_id {cid!r} is duplicated on rows {', '.join(map(str, rows))}.")
    if problems:
        raise ManifestError(path, problems, cases)

    frame = raw.copy()
    for c in clinical_columns:
        frame[c] = _clinical_series(frame[c], decimal_comma=sep == ";")
    frame["patient_id"] = patients
    frame["label"] = pd.array(labels, dtype="Int64")
    frame["split"] = pd.Series(splits, dtype="object")
    frame.insert(0, "row", [c.row for c in cases])
    frame["image_path"] = resolved["image"]
    frame["mask_path"] = resolved["mask"]
    clin = (frame[clinical_columns].to_dict("records") if clinical_columns
            else [{} for _ in range(len(frame))])
    cases = [Case(c.case_id, c.image, c.mask, c.row, c.patient_id, c.label, c.split, clin[i],
                  c.roi, c.series_uid) for i, c in enumerate(cases)]
    return Manifest(path, cases, frame, clinical_columns, sep)


def _geometry_problem(image, mask, tolerance: float) -> str | None:
    from thyromics.io.readers import _fmt, geometry_differences

    def show(name: str, of) -> str:
        values = getattr(of, name)
        return str(tuple(values)) if name == "size" else _fmt(values)

    bad = geometry_differences(image, mask, tolerance)
    if not bad:
        return None
    parts = [f"image {n} {show(n, image)} differs from mask {n} {show(n, mask)}" for n in bad]
    return (f"{'; '.join(parts)} (tolerance {tolerance:g}). Resample the mask onto the image "
            "(thyromics.preprocess.resample_mask), or raise --geometry-tolerance if the "
            "difference is rounding noise.")


def validate_readable(manifest: "Manifest | Sequence[Case]", *,
                      geometry_tolerance: float | None = None,
                      roi: str | None = None) -> list[str]:
    """Open every image and mask and report every problem of every row.

    For each file: the header (SimpleITK ``ReadImageInformation`` or Pillow's lazy
    ``open``) and its completeness (the voxel bytes the header promises are all there,
    a ``.nii.gz`` decompresses to its end with a good CRC, raster files decode; see
    :mod:`thyromics.io._integrity`). For each row: multi-frame files and DICOM folders
    with several series (both need a choice), and the image/mask grids (size,
    spacing, origin, direction, as :func:`thyromics.io.check_geometry`). Pixel values
    are not read into images, so this costs about one decompression per file.

    Parameters
    ----------
    manifest : Manifest or sequence of Case
        Rows with an empty path (``Path()``) are skipped for that file.
    geometry_tolerance : float, optional
        Largest allowed difference of spacing, origin and direction; default
        :data:`thyromics.io.DEFAULT_GEOMETRY_TOLERANCE`.
    roi : str, optional
        Structure / segment name for RTSTRUCT, SEG and Slicer masks of rows without a
        ``roi`` cell. Such masks are read onto their image (contours rasterised), which
        also checks the frame of reference and the slice positions.

    Returns
    -------
    list of str
        One line per problem, with the CSV row and case; empty when all is readable.
    """
    from thyromics.io._formats import check_file, read_header
    from thyromics.io._masks import mask_kind
    from thyromics.io.readers import DEFAULT_GEOMETRY_TOLERANCE, read_mask

    tol = DEFAULT_GEOMETRY_TOLERANCE if geometry_tolerance is None else geometry_tolerance
    cases = manifest.cases if isinstance(manifest, Manifest) else list(manifest)
    problems: list[str] = []
    for case in cases:
        who = f"row {case.row} (case {case.case_id})"
        headers = {}
        for key in ("image", "mask"):
            path = getattr(case, key)
            if path == Path():
                continue
            if not path.exists():
                problems.append(f"{who}: {key} file not found: {path}")
                continue
            try:
                if key == "mask" and mask_kind(path) != "image":
                    # RTSTRUCT / SEG / Slicer: read the structure onto the image grid
                    headers[key] = h = read_mask(path, roi=case.roi or roi, image=case.image,
                                                 image_series_uid=case.series_uid)
                else:
                    uid = case.series_uid if key == "image" else None
                    headers[key] = h = read_header(path, uid)
                    check_file(path, uid)
            except CaseError as e:
                problems.append(f"{who}: {key}: {e.reason}")
                continue
            if getattr(h, "n_frames", 1) > 1:
                problems.append(f"{who}: {key} has {h.n_frames} frames; choose one with --frame.")
        if len(headers) == 2:
            if _is_raster(case.mask) and len(headers["image"].size) == 2:
                # a raster mask has no geometry of its own: only the size must agree
                headers["mask"] = headers["image"] if tuple(headers["mask"].size) == \
                    tuple(headers["image"].size) else headers["mask"]
            geometry = _geometry_problem(headers["image"], headers["mask"], tol)
            if geometry:
                problems.append(f"{who}: {geometry}")
    return problems


def _is_raster(path: Path) -> bool:
    from thyromics.io._filetypes import FORMATS, extension

    return FORMATS.get(extension(Path(path)), ("", ""))[0] == "raster"


def _fingerprint(path: Path) -> tuple:
    """Cheap identity of a file or folder: sizes and the first and last 64 KiB."""
    if path.is_dir():
        return tuple((str(f.relative_to(path)), f.stat().st_size)
                     for f in sorted(path.rglob("*")) if f.is_file())
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        f.seek(max(size - (1 << 16), 0))
        return size, hashlib.sha256(head + f.read()).hexdigest()


def duplicate_cases(manifest: "Manifest | Sequence[Case]") -> list[str]:
    """Rows that are the same case twice: same image and mask paths, or same contents.

    Contents are compared by SHA-256 (:func:`thyromics.provenance.path_sha256`), only
    for rows whose files already agree in size and first and last 64 KiB. Rows with a
    missing file are left out.

    Returns
    -------
    list of str
        One warning per group of rows, naming the rows, the cases and the files.
    """
    from thyromics.provenance import path_sha256

    cases = manifest.cases if isinstance(manifest, Manifest) else list(manifest)
    usable = [c for c in cases if c.image != Path() and c.mask != Path()
              and c.image.exists() and c.mask.exists()]
    by_path: dict[tuple, list[Case]] = defaultdict(list)
    for c in usable:
        by_path[(c.image, c.mask)].append(c)
    warnings: list[str] = []

    def rows(group: list[Case]) -> str:
        return (f"rows {', '.join(str(c.row) for c in group)} (cases "
                f"{', '.join(c.case_id for c in group)})")

    for (image, mask), group in by_path.items():
        if len(group) > 1:
            warnings.append(f"{rows(group)} share the same image {image} and mask {mask}: "
                            "the same case twice? Remove the extra rows, or fix their paths.")
    firsts = [g[0] for g in by_path.values()]  # one row per distinct pair of paths
    groups: list[list[Case]] = [firsts]
    for identity in (_fingerprint, path_sha256):  # cheap first, SHA-256 for the look-alikes
        split: dict[tuple, list[Case]] = defaultdict(list)
        for group in groups:
            for c in group:
                try:
                    split[(identity(c.image), identity(c.mask))].append(c)
                except OSError:  # unreadable: validate --read reports it
                    pass
        groups = [g for g in split.values() if len(g) > 1]
    for same in groups:
        warnings.append(f"{rows(same)} have identical image and mask contents under different "
                        f"paths (images {', '.join(c.image.name for c in same)}; masks "
                        f"{', '.join(c.mask.name for c in same)}): the same case twice? Remove "
                        "the extra rows, or fix their files.")
    return warnings


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
    sep = "" if manifest.delimiter == "," else \
        f" ({_DELIMITER_NAMES.get(manifest.delimiter, repr(manifest.delimiter))}-separated)"
    return "\n".join([
        f"manifest {manifest.path}{sep}",
        f"  cases: {len(manifest.cases)}   patients: {df['patient_id'].nunique()}",
        f"  labels: {lab}",
        f"  splits: {split_text}",
        f"  clinical columns ({len(manifest.clinical_columns)}): {clin}",
    ])
