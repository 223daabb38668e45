"""The cases under review: image, proposed mask and (optional) reference mask per case.

A review study is a case manifest (``cases.csv``) plus the names of two of its columns:
the proposed masks (a network's output, or any folder of masks) and, optionally, the
reference masks (ground truth or another reader). Paths are relative to the CSV's
folder, as everywhere in thyromics.

The *study folder* is the CSV's folder unless another one is given: every file the
review tool reads must lie inside it, so the server never serves a file from elsewhere
(a row pointing at ``../../etc/passwd`` is refused with HTTP 403).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from thyromics.errors import CaseError, InputError, ThyromicsError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.io.image import Image

__all__ = ["ReviewCase", "ReviewStudy", "ReviewError", "load_study", "case_file_name",
           "case_id_from_file_name", "is_inside"]

_KEEP = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.()")
_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))})


class ReviewError(ThyromicsError):
    """A request the review tool refuses; ``status`` is the HTTP status to answer with.

    400 malformed request, 403 a path outside the study folder, 404 an unknown case or
    a missing file, 422 a file that cannot be read or does not fit the image.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = int(status)
        super().__init__(message)


def case_file_name(case_id: str, *, fold_case: bool = False) -> str:
    """The file-name stem of a case's saved mask: unique and reversible.

    Letters, digits and ``_ - ( )`` stay as they are; every other character (and ``.`` at
    either end, ``%`` and ``~``) becomes ``%XX`` per UTF-8 byte, so ``x/1`` gives ``x%2F1``
    and ``x_1`` stays ``x_1``; :func:`case_id_from_file_name` reads the id back. With
    ``fold_case`` upper-case letters are escaped too, for ids that differ only in case
    (``A1`` -> ``%411``), which a case-insensitive disk (Windows, macOS) would merge. A
    Windows device name (``CON``, ``NUL``, ``COM1`` ...) has its first letter escaped. A
    stem longer than 150 characters is cut to 120 and ends in ``~`` and 16 hex digits
    of the id's SHA-256: still unique; the decision log maps it back to the id.
    """
    out = []
    for i, ch in enumerate(case_id):
        keep = ch in _KEEP and not (ch == "." and i in (0, len(case_id) - 1))
        if keep and not (fold_case and ch.isupper()):
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
    if case_id.split(".")[0].upper() in _DEVICES:
        out[0] = f"%{ord(case_id[0]):02X}"
    name = "".join(out)
    if len(name) > 150:
        name = name[:120] + "~" + hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:16]
    return name


def case_id_from_file_name(stem: str) -> str | None:
    """The case id of a :func:`case_file_name` stem; None for a shortened (``~``) one."""
    return None if "~" in stem else unquote(stem)


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symbolic links resolved) lies inside the folder ``root``."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


@dataclass(frozen=True)
class ReviewCase:
    """One case under review.

    Attributes
    ----------
    case_id : str
    image : Path
        Absolute path of the image.
    proposed, reference : Path or None
        Absolute paths of the proposed and the reference mask; None when the cell is empty.
    row : int
        CSV row number (header = 1).
    roi, series_uid : str or None
        The structure / segment of the proposed mask (RTSTRUCT, SEG and Slicer masks:
        the proposed source's ``roi`` cell, see
        :func:`~thyromics.review.run_agreement.resolve_source`) and the image's DICOM
        series (the manifest's ``series_uid``).
    reference_roi : str or None
        The structure / segment of the reference mask.
    patient_id, label, split, mask
        The manifest's (``mask``: its ``mask`` cell), so that the reader's ``cases.csv``
        reads back as a manifest.
    """

    case_id: str
    image: Path
    proposed: Path | None
    reference: Path | None
    row: int
    roi: str | None = None
    series_uid: str | None = None
    reference_roi: str | None = None
    patient_id: str = ""
    label: int | None = None
    split: str | None = None
    mask: Path | None = None


class ReviewStudy:
    """The cases of a manifest with their proposed and reference masks.

    Use :func:`load_study` to make one. Images and masks are read on demand and the
    last few are kept in memory (``cache_size`` files).
    """

    def __init__(self, manifest: Path, root: Path, cases: list[ReviewCase], *,
                 proposed_column: str, reference_column: str | None,
                 label: int | None = None, cache_size: int = 8) -> None:
        self.manifest = manifest
        self.root = root.resolve()
        self.cases: OrderedDict[str, ReviewCase] = OrderedDict((c.case_id, c) for c in cases)
        self.proposed_column = proposed_column
        self.reference_column = reference_column
        self.label = label
        self._cache: OrderedDict[tuple[str, str, float], Any] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.cases)

    def case(self, case_id: str) -> ReviewCase:
        """The case, or :class:`ReviewError` 404 naming close ids."""
        try:
            return self.cases[case_id]
        except KeyError:
            hint = did_you_mean(case_id, list(self.cases), n=3)
            raise ReviewError(404, f"unknown case {case_id!r}: not in {self.manifest}.{hint}") from None

    def checked_path(self, path: Path | None, what: str, case_id: str) -> Path:
        """``path`` if it lies inside the study folder and exists (403 / 404 otherwise)."""
        if path is None:
            raise ReviewError(404, f"case {case_id!r} has no {what} (empty cell in {self.manifest}).")
        if not is_inside(path, self.root):
            raise ReviewError(403, f"case {case_id!r}: the {what} {path} lies outside the study "
                                   f"folder {self.root}; refused. Start the review with --root "
                                   "set to a folder that holds it.")
        if not path.exists():
            raise ReviewError(404, f"case {case_id!r}: the {what} file is missing: {path}")
        return path

    def _cached(self, kind: str, path: Path, read: Any) -> Any:
        key = (kind, str(path), path.stat().st_mtime)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = read(path)
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def image(self, case_id: str) -> "Image":
        """The case's image (:func:`thyromics.io.read_image`)."""
        from thyromics.io import read_image

        case = self.case(case_id)
        path = self.checked_path(case.image, "image", case_id)
        try:
            return self._cached(f"image:{case.series_uid}", path,
                                lambda p: read_image(p, series_uid=case.series_uid))
        except CaseError as e:
            raise ReviewError(422, f"case {case_id!r}: cannot read the image: {e}") from e

    def mask(self, case_id: str, which: str) -> "Image":
        """The ``proposed`` or ``reference`` mask as 0/1 ``uint8``, checked against the image grid."""
        from thyromics.io import check_geometry, read_mask
        from thyromics.io._masks import applicable_roi

        case = self.case(case_id)
        if which not in ("proposed", "reference"):
            raise ReviewError(400, f"unknown mask {which!r}: expected 'proposed' or 'reference'.")
        path = self.checked_path(getattr(case, which), f"{which} mask", case_id)
        image = self.image(case_id)
        roi = applicable_roi(path, case.roi if which == "proposed" else case.reference_roi)
        try:
            mask = self._cached(f"mask{self.label}:{roi}", path, lambda p: read_mask(
                p, label=self.label, roi=roi, image=case.image,
                image_series_uid=case.series_uid))
            check_geometry(image, mask)
        except CaseError as e:
            raise ReviewError(422, f"case {case_id!r}: {which} mask: {e}") from e
        return mask

    def raw_mask(self, case_id: str) -> "Image":
        """The proposed mask file's own values (e.g. 0/255), to save corrections alike.

        RTSTRUCT, SEG and Slicer proposals have no voxel values of their own: their 0/1
        mask on the image grid is returned.
        """
        from thyromics.io import read_image
        from thyromics.io._masks import mask_kind

        case = self.case(case_id)
        path = self.checked_path(case.proposed, "proposed mask", case_id)
        if mask_kind(path) != "image":
            return self.mask(case_id, "proposed")
        try:
            return self._cached("raw", path, read_image)
        except CaseError as e:
            raise ReviewError(422, f"case {case_id!r}: cannot read the proposed mask: {e}") from e


def load_study(manifest: str | Path, *, proposed: str = "mask", reference: str | None = None,
               root: str | Path | None = None, label: int | None = None,
               roi: str | None = None) -> ReviewStudy:
    """Read the manifest and the names of the mask columns.

    Parameters
    ----------
    manifest : str or Path
        ``cases.csv`` (:func:`thyromics.io.read_manifest`; files are checked when opened).
    proposed : str
        Column of the proposed masks (default ``mask``), or ``FILE.csv:COLUMN`` for a
        column of another table joined on ``case_id`` (paths relative to that table).
    reference : str, optional
        Column of the reference masks, or ``FILE.csv:COLUMN`` (e.g. another reader's
        ``review/NAME/cases.csv:reviewed_mask``); empty cells mean "no reference".
    root : str or Path, optional
        The study folder; default the manifest's folder.
    label : int, optional
        Lesion value in multi-label masks (see :func:`thyromics.io.read_mask`).
    roi : str, optional
        RTSTRUCT structure / SEG or Slicer segment for cases whose source has no ``roi``
        cell; like the cells, applied only to masks that have structures.

    Raises
    ------
    InputError
        Unknown columns or files, or the manifest's own problems.
    """
    from thyromics.io import read_manifest
    from thyromics.review.run_agreement import resolve_source

    m = read_manifest(manifest, check_files=False)
    prop = resolve_source(m, proposed)
    ref = resolve_source(m, reference) if reference is not None else None
    base = m.path.parent
    root_path = Path(root).expanduser().resolve() if root is not None else base
    if not root_path.is_dir():
        raise InputError(f"--root {root_path}: not a folder.")
    cases = []
    for c in m.cases:
        cases.append(ReviewCase(
            case_id=c.case_id, image=c.image, proposed=prop.paths.get(c.case_id),
            reference=ref.paths.get(c.case_id) if ref else None, row=c.row,
            roi=prop.rois.get(c.case_id) or roi, series_uid=c.series_uid,
            reference_roi=(ref.rois.get(c.case_id) or roi) if ref else None,
            patient_id=c.patient_id, label=c.label, split=c.split, mask=c.mask))
    return ReviewStudy(m.path, root_path, cases, proposed_column=proposed,
                       reference_column=reference, label=label)
