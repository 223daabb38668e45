"""One reader's review: the decision log, the saved masks, and resuming.

Layout of a reader's folder (``<review folder>/<reader>/``)::

    decisions.csv      one row per decision, appended and flushed to disk at once
    masks/<case>.<ext> corrected masks, in the proposed mask's format and geometry
    cases.csv          the reader's manifest: case_id, image, proposed, reference,
                       decision, reviewed_mask (the final mask: the saved correction,
                       or the proposed mask when accepted; empty when rejected or not
                       yet reviewed); rewritten atomically after every decision

A case's status is its latest decision (``to review`` when it has none), so restarting
the server on the same folder resumes where the reader stopped. Two readers write to two
folders and never touch each other's files; the proposed masks are never written.

``decisions.csv`` columns: ``time`` (UTC, ISO 8601), ``case_id``, ``reader``,
``decision`` (accepted / corrected / rejected), ``reason``, ``mask`` (the saved file,
relative to the reader's folder), ``changed_voxels`` (final vs proposed),
``dice_vs_proposed``, ``dice_before`` (proposed vs reference), ``dice_after``,
``iou_after``, ``hd95_after`` (final vs reference; empty without a reference or when
rejected).
"""

from __future__ import annotations

import csv
import math
import os
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.review.study import ReviewError, ReviewStudy, safe_name

__all__ = ["ReaderState", "LOG_COLUMNS", "DECISIONS", "STATUSES", "check_reader"]

LOG_COLUMNS = ("time", "case_id", "reader", "decision", "reason", "mask", "changed_voxels",
               "dice_vs_proposed", "dice_before", "dice_after", "iou_after", "hd95_after")
#: Request verb -> decision recorded.
DECISIONS = {"accept": "accepted", "correct": "corrected", "reject": "rejected"}
STATUSES = ("to review", "accepted", "corrected", "rejected")
_READER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_RASTER = (".png", ".gif", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")


def check_reader(name: str) -> str:
    """The reader name, if it is safe as a folder name (letters, digits, ``_ . -``)."""
    if not _READER.match(name or ""):
        raise InputError(f"reader name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
                         "starting with a letter or digit (it names the reader's folder).")
    return name


def _ext(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


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
    """

    def __init__(self, study: ReviewStudy, review_dir: str | Path, reader: str) -> None:
        self.study = study
        self.reader = check_reader(reader)
        self.folder = Path(review_dir).expanduser().resolve() / reader
        self.masks_dir = self.folder / "masks"
        self.log_path = self.folder / "decisions.csv"
        self.manifest_path = self.folder / "cases.csv"
        self._lock = threading.Lock()
        self.latest: dict[str, dict[str, str]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        self._load()

    # ------------------------------------------------------------------ reading
    def _load(self) -> None:
        if not self.log_path.exists():
            return
        with open(self.log_path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows or tuple(rows[0]) != LOG_COLUMNS:
            raise InputError(f"{self.log_path} is not a thyromics decision log (expected the "
                             f"header {', '.join(LOG_COLUMNS)}). Use another --out folder.")
        for n, row in enumerate(rows[1:], start=2):
            if len(row) != len(LOG_COLUMNS) or row[3] not in DECISIONS.values():
                warnings.warn(f"{self.log_path} line {n} is incomplete and was skipped "
                              "(an interrupted write?)", ThyromicsWarning, stacklevel=2)
                continue
            rec = dict(zip(LOG_COLUMNS, row))
            if rec["case_id"] in self.study.cases:
                self.latest[rec["case_id"]] = rec

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
        case = self.study.case(case_id)
        ext = _ext(case.proposed) if case.proposed is not None else ".nii.gz"
        if case.proposed is None or case.proposed.is_dir() or ext in ("", ".dcm", ".mhd", ".nhdr"):
            ext = ".nii.gz"  # a DICOM series or a two-file format: saved as one NIfTI file
        return self.masks_dir / f"{safe_name(case_id)}{ext}"

    def current_mask(self, case_id: str) -> tuple[np.ndarray, str]:
        """The mask to show: the saved correction if the latest decision is one, else the proposal."""
        rec = self.latest.get(case_id)
        if rec and rec["decision"] == "corrected" and rec["mask"]:
            path = self.folder / rec["mask"]
            if path.exists():
                from thyromics.io import read_mask

                return read_mask(path, label=self.study.label).array, "saved"
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
            new = not self.log_path.exists()
            with open(self.log_path, "a", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                if new:
                    w.writerow(LOG_COLUMNS)
                w.writerow([row[c] for c in LOG_COLUMNS])
                f.flush()
                os.fsync(f.fileno())
            self.latest[case_id] = row
            self._write_manifest()
        return row

    def _write_manifest(self) -> None:
        from thyromics.provenance import atomic_write

        def write(tmp: Path) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["case_id", "image", "proposed", "reference", "decision", "reviewed_mask"])
                for cid, case in self.study.cases.items():
                    rec = self.latest.get(cid)
                    final = ""
                    if rec and rec["decision"] == "corrected":
                        final = str(self.folder / rec["mask"])
                    elif rec and rec["decision"] == "accepted":
                        final = str(case.proposed)
                    w.writerow([cid, case.image, case.proposed or "", case.reference or "",
                                rec["decision"] if rec else "", final])

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
