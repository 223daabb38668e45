"""Scan a folder tree of DICOM (a PACS export) into a case manifest.

Every file is opened with pydicom (headers only). Image files are grouped into series
by folder and ``SeriesInstanceUID``; RTSTRUCT and SEG files give one manifest row per
structure (ROI) or segment whose name matches a pattern.

Which series a structure set belongs to
---------------------------------------
1. the series it references (RTSTRUCT ``RTReferencedSeriesSequence``, SEG
   ``ReferencedSeriesSequence``), when that series is in the tree;
2. otherwise (common after anonymisation) the series of the same
   ``FrameOfReferenceUID``; of several (a PET/CT, or CT and MR registered into one
   frame), the one whose folder is nearest the mask file's (longest common path);
   still several: the structure set is reported as ambiguous and left out.

Columns written
---------------
``case_id`` (``<patient>_<roi>``, made unique), ``patient_id``, ``study_uid``,
``series_uid`` (the image series), ``image`` (its folder, relative to the CSV), ``mask``
(the RTSTRUCT / SEG file), ``roi`` (the structure or segment name) and an empty
``label`` for the outcome. ``study_uid`` and ``series_uid`` are manifest columns, not
clinical variables.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from thyromics.errors import InputError

__all__ = ["ScanResult", "scan_dicom", "write_scan"]


@dataclass
class ScanResult:
    """What :func:`scan_dicom` found."""

    rows: list[dict]
    n_files: int
    n_series: int
    problems: list[str] = field(default_factory=list)
    skipped_rois: list[str] = field(default_factory=list)


@dataclass
class _Series:
    folder: Path
    uid: str
    study_uid: str
    patient_id: str
    frame_uid: str
    modality: str
    n_files: int = 0


def _text(ds, key: str) -> str:
    return str(ds.get(key, "") or "").strip()


def _common(a: Path, b: Path) -> int:
    return len(os.path.commonpath([str(a), str(b)]).split(os.sep))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "roi"


def scan_dicom(root: str | Path, *, roi_pattern: str = "*") -> ScanResult:
    """Find every image series and every RTSTRUCT ROI / SEG segment under ``root``.

    Parameters
    ----------
    root : path
        A folder tree of DICOM files (any names, any depth).
    roi_pattern : str
        Shell-style pattern (``GTV*``, ``*nodule*``), matched case-insensitively
        against ROI and segment names; others are skipped (and listed).

    Returns
    -------
    ScanResult
        ``rows`` in a stable order (patient, study, mask path, ROI order in the file);
        ``problems`` lists structure sets without a series, ambiguous ones, unreadable
        files.
    """
    import pydicom

    from thyromics.io.dicom_rt import is_rtstruct, rtstruct_rois
    from thyromics.io.dicom_series import NON_IMAGE_MODALITIES
    from thyromics.io.dicom_seg import is_seg

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise InputError(f"not a folder: {root} (expected a folder tree of DICOM files).")
    series: dict[tuple[Path, str], _Series] = {}
    masks: list[tuple[Path, object, str]] = []
    problems: list[str] = []
    n_files = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            with open(path, "rb") as f:
                if f.read(132)[128:] != b"DICM":
                    continue
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as e:  # noqa: BLE001 - recorded, the scan goes on
            problems.append(f"{path}: cannot read the DICOM header ({e}).")
            continue
        n_files += 1
        if is_rtstruct(ds):
            masks.append((path, ds, "rtstruct"))
        elif is_seg(ds):
            masks.append((path, ds, "seg"))
        elif _text(ds, "Modality").upper() not in NON_IMAGE_MODALITIES and "Rows" in ds:
            key = (path.parent, _text(ds, "SeriesInstanceUID"))
            s = series.get(key)
            if s is None:
                s = series[key] = _Series(path.parent, key[1], _text(ds, "StudyInstanceUID"),
                                          _text(ds, "PatientID"), _text(ds, "FrameOfReferenceUID"),
                                          _text(ds, "Modality"))
            s.n_files += 1
    by_uid = defaultdict(list)
    by_frame = defaultdict(list)
    for s in series.values():
        by_uid[s.uid].append(s)
        if s.frame_uid:
            by_frame[s.frame_uid].append(s)

    rows: list[dict] = []
    skipped: list[str] = []
    for path, ds, kind in masks:
        if kind == "rtstruct":
            referenced = [_text(ser, "SeriesInstanceUID")
                          for f in ds.get("ReferencedFrameOfReferenceSequence", []) or []
                          for st in f.get("RTReferencedStudySequence", []) or []
                          for ser in st.get("RTReferencedSeriesSequence", []) or []]
            frames = [_text(f, "FrameOfReferenceUID")
                      for f in ds.get("ReferencedFrameOfReferenceSequence", []) or []]
            names = [r.name for r in rtstruct_rois(path, ds)]
        else:
            referenced = [_text(ser, "SeriesInstanceUID")
                          for ser in ds.get("ReferencedSeriesSequence", []) or []]
            frames = [_text(ds, "FrameOfReferenceUID")]
            names = [_text(s, "SegmentLabel") or f"segment {int(s.SegmentNumber)}"
                     for s in ds.get("SegmentSequence", []) or []]
        target, why = _match(path, referenced, frames, by_uid, by_frame)
        if target is None:
            problems.append(f"{path}: {why}; its {len(names)} structure(s) are left out.")
            continue
        for name in names:
            if not fnmatch.fnmatch(name.lower(), roi_pattern.lower()):
                skipped.append(f"{name} ({path.name})")
                continue
            rows.append({"patient_id": target.patient_id or _text(ds, "PatientID") or "unknown",
                         "study_uid": target.study_uid, "series_uid": target.uid,
                         "image": target.folder, "mask": path, "roi": name})
    rows.sort(key=lambda r: (r["patient_id"], r["study_uid"], str(r["mask"])))
    seen: dict[str, int] = defaultdict(int)
    for r in rows:
        base = f"{_safe(r['patient_id'])}_{_safe(r['roi'])}"
        seen[base] += 1
        r["case_id"] = base if seen[base] == 1 else f"{base}_{seen[base]}"
    return ScanResult(rows, n_files, len(series), problems, skipped)


def _match(path: Path, referenced: list[str], frames: list[str], by_uid, by_frame):
    for uid in referenced:
        hits = by_uid.get(uid, [])
        if len(hits) == 1:
            return hits[0], ""
    candidates = [s for f in frames if f for s in by_frame.get(f, [])]
    if not candidates:
        refs = ", ".join(referenced) or "none"
        return None, (f"no image series in the tree for this structure set (referenced series: "
                      f"{refs}; frame of reference {', '.join(f for f in frames if f) or 'none'})")
    best = max(_common(path.parent, s.folder) for s in candidates)
    nearest = [s for s in candidates if _common(path.parent, s.folder) == best]
    if len(nearest) > 1:
        listed = "; ".join(f"{s.folder} ({s.modality}, {s.uid})" for s in nearest)
        return None, (f"its referenced series is absent and {len(nearest)} series share its "
                      f"frame of reference at the same distance: {listed}. Move it beside its "
                      "image series, or write that row by hand")
    return nearest[0], ""


def write_scan(result: ScanResult, output: str | Path) -> Path:
    """Write the rows as ``cases.csv`` (paths relative to the CSV's folder), atomically."""
    import csv

    from thyromics.provenance import atomic_write

    output = Path(output).expanduser().resolve()
    base = output.parent
    columns = ["case_id", "patient_id", "study_uid", "series_uid", "image", "mask", "roi",
               "label"]

    def rel(p: Path) -> str:
        return Path(os.path.relpath(p, base)).as_posix()

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for r in result.rows:
                w.writerow([r["case_id"], r["patient_id"], r["study_uid"],
                            r["series_uid"], rel(r["image"]), rel(r["mask"]), r["roi"], ""])

    base.mkdir(parents=True, exist_ok=True)
    atomic_write(output, write)
    return output
