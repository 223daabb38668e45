"""One reader's review: the decision log, the saved masks, and resuming.

Layout of a reader's folder (``<review folder>/<reader>/``)::

    decisions.csv      one row per decision, appended and synced to disk (fsync) at once
    decisions.torn.txt an interrupted last line of decisions.csv, moved here on start
    masks/<case>.<ext> corrected masks, in the proposed mask's format and geometry; <case>
                       is :func:`~thyromics.review.cases.case_file_name` (``x/1`` ->
                       ``x%2F1``, ``x_1`` -> ``x_1``): one file per case, id readable back
    cases.csv          the reader's manifest (see :data:`MANIFEST_COLUMNS`), rewritten
                       atomically after every decision

``cases.csv`` reads back as a case manifest (:func:`thyromics.io.read_manifest`):
``case_id, patient_id, image, mask, roi, series_uid, label, split`` are the case as it
was reviewed (``mask`` the proposed mask, ``roi`` its structure / segment), then
``proposed``, ``reference``, ``reference_roi``, ``decision`` and ``reviewed_mask`` (the
final mask: the saved correction, or the proposed mask when accepted; empty when
rejected or not yet reviewed). A correction of an RTSTRUCT / SEG proposal is a DICOM SEG
whose one segment has the ``roi``'s name, so ``reviewed_mask`` is read with the same
``roi``; ``thyromics agreement CASES --masks mask --masks reviewed_mask`` compares them.

A case's status is its latest decision (``to review`` when it has none), so restarting
the server on the same folder resumes where the reader stopped. Two readers write to two
folders and never touch each other's files; the proposed masks are never written.

A crash can leave the last line of ``decisions.csv`` cut short; on start that line is
moved to ``decisions.torn.txt`` (with a warning) so that the next decision starts a line
of its own. A row that an older version glued onto such a line is read back from it.

``decisions.csv`` columns: ``time`` (UTC, ISO 8601), ``case_id``, ``reader``,
``decision`` (accepted / corrected / rejected), ``reason``, ``mask`` (the saved file,
relative to the reader's folder), ``changed_voxels`` (final vs proposed),
``dice_vs_proposed``, ``dice_before`` (proposed vs reference), ``dice_after``,
``iou_after``, ``hd95_after`` (final vs reference; empty without a reference or when
rejected). Text cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
``@`` ...) are written with a leading ``'`` in both CSV files
(:func:`thyromics.csvsafe.safe_cell`) and read back without it.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.csvsafe import restore_cell, safe_row
from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import REVIEW
from thyromics.review.cases import ReviewError, ReviewStudy, case_file_name, is_inside

__all__ = ["ReaderState", "LOG_COLUMNS", "MANIFEST_COLUMNS", "DECISIONS", "STATUSES",
           "check_reader"]

LOG_COLUMNS = ("time", "case_id", "reader", "decision", "reason", "mask", "changed_voxels",
               "dice_vs_proposed", "dice_before", "dice_after", "iou_after", "hd95_after")
#: Columns of the reader's ``cases.csv`` (see the module notes).
MANIFEST_COLUMNS = ("case_id", "patient_id", "image", "mask", "roi", "series_uid", "label",
                    "split", "proposed", "reference", "reference_roi", "decision",
                    "reviewed_mask")
#: Request verb -> decision recorded.
DECISIONS = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}
STATUSES = ("to review", "accepted", "corrected", "rejected")
_READER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_RASTER = (".png", ".gif", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def check_reader(name: str) -> str:
    """The reader name, if it is safe as a folder name (letters, digits, ``_ . -``)."""
    if not _READER.match(name or ""):
        raise InputError(f"reader name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit (it names the reader's folder).")
    return name


def _ext(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _fsync_dir(folder: Path) -> None:
    """Make a new file's name durable too (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _decision(row: list[str]) -> dict[str, str] | None:
    """The log row as a dict, or None when it is not a whole decision row."""
    if len(row) != len(LOG_COLUMNS) or row[3] not in DECISIONS.values() or not _TIME.match(row[0]):
        return None
    return {c: restore_cell(v) for c, v in zip(LOG_COLUMNS, row)}


def _glued(row: list[str]) -> dict[str, str] | None:
    """The whole row that an older version appended onto a cut-short line, if any.

    Such a line parses as the cut-short fields, one field ending in the new row's time,
    then the new row's other fields.
    """
    k = len(row) - len(LOG_COLUMNS) + 1
    ts = _TIME.search(row[k - 1]) if k >= 1 else None
    return _decision([ts.group(0), *row[k:]]) if ts else None


def _num(value: float | None) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.6g}"


def _metrics(final: np.ndarray | None, proposed: np.ndarray, reference: np.ndarray | None,
             spacing: tuple[float, ...]) -> dict[str, str]:
    from thyromics.evaluate.segmentation import dice, hd95, iou

    out = dict.fromkeys(LOG_COLUMNS[6:], "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics are written as empty cells
        if final is not None:
            out["changed_voxels"] = str(int(np.count_nonzero((final != 0) != (proposed != 0))))
            out["dice_vs_proposed"] = _num(dice(final, proposed))
        if reference is not None:
            out["dice_before"] = _num(dice(proposed, reference))
            if final is not None:
                out["dice_after"] = _num(dice(final, reference))
                out["iou_after"] = _num(iou(final, reference))
                out["hd95_after"] = _num(hd95(final, reference, spacing[::-1]))
    return out


class ReaderState:
    """Decisions and saved masks of one reader on one study.

    Parameters
    ----------
    study : ReviewStudy
    review_dir : Path
        The review folder; this reader's files go to ``review_dir / reader``.
    reader : str
        The reader's name (see :func:`check_reader`).
    save_as : {"auto", "seg"}
        Format of the corrected masks. ``auto``: the proposed mask's format, and a DICOM
        SEG for RTSTRUCT / SEG proposals; ``seg``: always a DICOM SEG referencing the
        image's series (:func:`thyromics.io.dicom_seg.write_seg`; the image must be
        DICOM), so corrections open in 3D Slicer, OHIF and PACS viewers.
    """

    def __init__(self, study: ReviewStudy, review_dir: str | Path, reader: str,
                 save_as: str = "auto") -> None:
        if save_as not in ("auto", "seg"):
            raise InputError(f"save_as must be 'auto' or 'seg', got {save_as!r}.")
        self.save_as = save_as
        self.study = study
        self.reader = check_reader(reader)
        root = Path(review_dir).expanduser().resolve()
        self.folder = root / reader
        self.masks_dir = REVIEW.at(root, "masks", reader=reader)
        self.log_path = REVIEW.at(root, "decisions", reader=reader)
        self.torn_path = REVIEW.at(root, "torn", reader=reader)
        self.manifest_path = REVIEW.at(root, "cases", reader=reader)
        self._lock = threading.Lock()
        self.latest: dict[str, dict[str, str]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        stems: dict[str, list[str]] = {}
        for cid in study.cases:
            stems.setdefault(case_file_name(cid).casefold(), []).append(cid)
        #: Ids that differ from another only in case: their upper-case letters are escaped.
        self._fold = {c for ids in stems.values() if len(ids) > 1 for c in ids}
        self._load()

    # ------------------------------------------------------------------ reading
    def _load(self) -> None:
        if not self.log_path.exists():
            return
        self._repair_tail()
        with open(self.log_path, newline="", encoding="utf-8", errors="replace") as f:
            rows = list(csv.reader(f))
        if not rows:
            return  # empty: a crash before the header was written; a new log begins
        if tuple(rows[0]) != LOG_COLUMNS:
            raise InputError(f"{self.log_path} is not a thyromics decision log (expected the "
                             f"header {', '.join(LOG_COLUMNS)}). Use another --out folder.")
        for n, row in enumerate(rows[1:], start=2):
            rec = _decision(row)
            if rec is None and (rec := _glued(row)) is not None:
                warnings.warn(f"{self.log_path} row {n}: a decision on {rec['case_id']!r} was "
                              "written onto an incomplete line (an interrupted write); it was "
                              "read back and the cut-short part skipped.", ThyromicsWarning,
                              stacklevel=3)
            elif rec is None:
                warnings.warn(f"{self.log_path} row {n} is incomplete and was skipped "
                              "(an interrupted write?)", ThyromicsWarning, stacklevel=3)
                continue
            if rec["case_id"] in self.study.cases:
                self.latest[rec["case_id"]] = rec

    def _repair_tail(self) -> None:
        """Give a cut-short last line its end, or move it to :attr:`torn_path`."""
        data = self.log_path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        if data.endswith(b"\r"):  # rows end in CRLF: only the LF was lost
            with open(self.log_path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())
            return
        cut = data.rfind(b"\n") + 1
        with open(self.torn_path, "ab") as f:
            f.write(data[cut:] + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with open(self.log_path, "r+b") as f:
            f.truncate(cut)
            os.fsync(f.fileno())
        _fsync_dir(self.folder)
        warnings.warn(f"{self.log_path}: the last line is incomplete (an interrupted write) and "
                      f"was moved to {self.torn_path}; every complete decision is kept, that "
                      "one case shows its earlier status.", ThyromicsWarning, stacklevel=4)

    def status(self, case_id: str) -> str:
        """``to review``, ``accepted``, ``corrected`` or ``rejected``."""
        rec = self.latest.get(case_id)
        return rec["decision"] if rec else "to review"

    def counts(self) -> dict[str, int]:
        """Number of cases per status."""
        out = dict.fromkeys(STATUSES, 0)
        for cid in self.study.cases:
            out[self.status(cid)] += 1
        return out

    def saved_mask_path(self, case_id: str) -> Path:
        """Where a correction of the case is saved (format of the proposed mask)."""
        from thyromics.io._masks import mask_kind

        case = self.study.case(case_id)
        ext = _ext(case.proposed) if case.proposed is not None else ".nii.gz"
        structured = case.proposed is not None and mask_kind(case.proposed) in ("rtstruct", "seg")
        if self.save_as == "seg" or structured:
            ext = ".seg.dcm"  # a DICOM SEG on the image's series
        elif case.proposed is None or case.proposed.is_dir() or ext in ("", ".dcm", ".mhd", ".nhdr"):
            ext = ".nii.gz"  # a DICOM series or a two-file format: saved as one NIfTI file
        return self.masks_dir / f"{case_file_name(case_id, fold_case=case_id in self._fold)}{ext}"

    def current_mask(self, case_id: str) -> tuple[np.ndarray, str]:
        """The mask to show: the saved correction if the latest decision is one, else the proposal."""
        rec = self.latest.get(case_id)
        if rec and rec["decision"] == "corrected" and rec["mask"]:
            path = self.folder / rec["mask"]
            if path.exists() and is_inside(path, self.folder):
                from thyromics.io import read_mask

                case = self.study.case(case_id)
                seg = path.name.endswith(".seg.dcm")
                return read_mask(path, label=None if seg else self.study.label,
                                 image=case.image if seg else None,
                                 image_series_uid=case.series_uid).array, "saved"
        return self.study.mask(case_id, "proposed").array, "proposed"

    # ------------------------------------------------------------------ writing
    def _write_mask(self, case_id: str, mask: np.ndarray) -> Path:
        from thyromics.io import write_image

        raw = self.study.raw_mask(case_id)
        target = self.saved_mask_path(case_id)
        proposed = self.study.case(case_id).proposed
        if proposed is not None and target.resolve() == proposed.resolve():
            raise ReviewError(403, f"saving {target} would overwrite the proposed mask; "
                                   "choose another --out folder.")
        if target.name.endswith(".seg.dcm"):
            return self._write_seg(case_id, mask, target)
        raster = _ext(target) in _RASTER
        fg = self.study.label or (int(raw.array.max()) if raw.array.size else 0)
        if self.study.label is None and fg not in (1, 255):
            fg = 255 if raster else 1  # e.g. an empty proposal: the format's usual value
        dt = raw.array.dtype
        if raster:
            dt, fg = np.dtype(np.uint8), min(fg, 255)
        elif dt.kind not in "iu" or np.iinfo(dt).max < fg:
            dt = np.dtype(np.uint16 if fg > 255 else np.uint8)
        out = raw.with_array(((np.asarray(mask) != 0) * fg).astype(dt))
        write_image(out, target)
        return target

    def _write_seg(self, case_id: str, mask: np.ndarray, target: Path) -> Path:
        from thyromics.errors import CaseError
        from thyromics.io.dicom_seg import write_seg

        case = self.study.case(case_id)
        image = self.study.image(case_id)
        try:
            # the segment keeps the roi's name (read back with the same roi); the reader
            # is in the series description
            return write_seg({case.roi or "lesion":
                              image.with_array((np.asarray(mask) != 0).astype(np.uint8))},
                             case.image, target, series_uid=case.series_uid,
                             series_description=f"thyromics review {self.reader}")
        except (CaseError, InputError) as e:
            raise ReviewError(422, f"case {case_id!r}: cannot save the correction as DICOM "
                                   f"SEG: {e}") from e

    def record(self, case_id: str, decision: str, reason: str = "",
               mask: np.ndarray | None = None) -> dict[str, str]:
        """Write one decision at once (and the corrected mask first, for ``correct``).

        Parameters
        ----------
        decision : {"accept", "correct", "reject"}
        reason : str
            Required for ``reject``.
        mask : numpy.ndarray, optional
            The corrected 0/1 mask (numpy order), required for ``correct``.

        Returns
        -------
        dict
            The log row.

        Raises
        ------
        ReviewError
            400 for an unknown decision, a reject without a reason, a correction without a
            mask or with a mask of the wrong shape.
        """
        from thyromics.provenance import now_iso

        if decision not in DECISIONS:
            raise ReviewError(400, f"unknown decision {decision!r}: expected one of "
                                   f"{', '.join(DECISIONS)}.")
        reason = (reason or "").strip().replace("\r", " ").replace("\n", " ")[:500]
        if decision == "reject" and not reason:
            raise ReviewError(400, "a rejection needs a reason.")
        proposed_img = self.study.mask(case_id, "proposed")
        proposed = proposed_img.array
        if decision == "correct":
            if mask is None:
                raise ReviewError(400, "a correction needs the corrected mask.")
            if mask.shape != proposed.shape:
                raise ReviewError(400, f"mask shape {list(mask.shape)} differs from the image's "
                                       f"{list(proposed.shape)}.")
        reference = None
        if self.study.case(case_id).reference is not None:
            reference = self.study.mask(case_id, "reference").array
        final = {"accept": proposed, "correct": mask, "reject": None}[decision]
        with self._lock:
            saved = ""
            if decision == "correct":
                saved = self._write_mask(case_id, mask).relative_to(self.folder).as_posix()
            row = {"time": now_iso(), "case_id": case_id, "reader": self.reader,
                   "decision": DECISIONS[decision], "reason": reason, "mask": saved}
            row.update(_metrics(final, proposed, reference, proposed_img.spacing))
            new = not self.log_path.exists() or self.log_path.stat().st_size == 0
            text = io.StringIO()
            w = csv.writer(text)
            if new:
                w.writerow(LOG_COLUMNS)
            w.writerow(safe_row(row[c] for c in LOG_COLUMNS))
            with open(self.log_path, "a", newline="", encoding="utf-8") as f:
                f.write(text.getvalue())  # one write: a crash cuts at most this row
                f.flush()
                os.fsync(f.fileno())
            if new:
                _fsync_dir(self.folder)
            self.latest[case_id] = row
            self._write_manifest()
        return row

    def _write_manifest(self) -> None:
        from thyromics.provenance import atomic_write

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(MANIFEST_COLUMNS)
                for cid, case in self.study.cases.items():
                    rec = self.latest.get(cid)
                    final = ""
                    if rec and rec["decision"] == "corrected":
                        final = str(self.folder / rec["mask"])
                    elif rec and rec["decision"] == "accepted":
                        final = str(case.proposed)
                    w.writerow(safe_row([
                        cid, case.patient_id or cid, case.image, case.proposed or case.mask or "",
                        case.roi or "", case.series_uid or "",
                        "" if case.label is None else case.label, case.split or "",
                        case.proposed or "", case.reference or "", case.reference_roi or "",
                        rec["decision"] if rec else "", final]))

        atomic_write(self.manifest_path, write)

    def rows(self) -> list[dict[str, Any]]:
        """Every case with its status, for the list page."""
        out = []
        for cid, case in self.study.cases.items():
            rec = self.latest.get(cid, {})
            out.append({"case_id": cid, "status": self.status(cid), "reason": rec.get("reason", ""),
                        "time": rec.get("time", ""), "has_reference": case.reference is not None,
                        "dice_after": rec.get("dice_after", "")})
        return out
