"""DICOM series from their headers: slice order, geometry, and the checks ITK skips.

SimpleITK (GDCM) reads a DICOM series without a word when its slices are unevenly
spaced, when slices are missing, when the gantry was tilted, or when the folder mixes
orientations: it takes the spacing of the first two slices and builds a volume whose
geometry is wrong for every other slice. It also truncates the per-slice rescale
(``RescaleSlope``/``RescaleIntercept``) to integers when the first slice has slope 1
(common in PET, whose SUV scaling differs per slice). This module reads the headers
with pydicom (no pixel data) and refuses such series, naming the problem and the files.

Geometry
--------
Slices are sorted by their position along the slice normal
``n = row direction x column direction`` (``ImageOrientationPatient``), ascending, as
GDCM's sorter does. The volume's ITK geometry is then: origin = the first slice's
``ImagePositionPatient``; direction columns = row direction, column direction, ``n``;
spacing = (column spacing, row spacing, slice step), with ``PixelSpacing`` in DICOM
order (row spacing, column spacing).

Checks (each raises :class:`~thyromics.errors.CaseError`, ``stage="read"``)
-------------------------------------------------------------------------
- slices with different orientations, sizes or pixel spacings;
- two slices at the same position (two acquisitions or echoes mixed in one series);
- gantry tilt: slice positions that drift in-plane (the stack is sheared, not
  orthogonal), also named when ``GantryDetectorTilt`` is non-zero;
- missing slices: a step that is a whole multiple (2 or more) of the usual step;
- uneven spacing: steps differing by more than :data:`SLICE_STEP_TOLERANCE_MM` (or
  0.1 % of the step, the larger).

Ultrasound
----------
:func:`ultrasound_spacing` takes the physical pixel size of an ultrasound image from its
``SequenceOfUltrasoundRegions``: the 2D tissue regions (``RegionSpatialFormat`` 1 and
``RegionDataType`` 1) calibrated in cm (unit code 3); of several, the largest by area
(a :class:`DicomWarning` says which was used, and the others' calibration). An
ultrasound image with neither ``PixelSpacing`` nor such a region keeps the spacing
``(1, 1)``, which is then pixels, not mm: the reader says so with an
:class:`UncalibratedSpacingWarning` (:func:`uncalibrated_ultrasound` writes its text),
and extraction records it in the case's provenance notes.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.errors import ThyromicsWarning
from thyromics.io._filetypes import fail as _fail

__all__ = ["SeriesGeometry", "Stack", "series_geometry", "check_stack", "ultrasound_spacing",
           "DicomWarning", "UncalibratedSpacingWarning", "uncalibrated_ultrasound",
           "NON_IMAGE_MODALITIES", "SLICE_STEP_TOLERANCE_MM", "rescale_needs_float"]

#: Largest allowed difference between slice steps (mm); 0.1 % of the step if larger.
SLICE_STEP_TOLERANCE_MM = 0.01
#: Largest in-plane drift of a slice position off the slice normal (mm) before the
#: stack is called tilted.
TILT_TOLERANCE_MM = 0.01
#: Modalities of DICOM objects that are not image slices (never part of an image series).
NON_IMAGE_MODALITIES = frozenset({"RTSTRUCT", "SEG", "RTPLAN", "RTRECORD", "SR", "PR", "KO",
                                  "REG", "DOC", "PLAN", "RWV"})
#: ``PhysicalUnitsXDirection`` codes (DICOM PS3.3 C.8.5.5.1.15): 3 = cm.
_US_UNIT_CM = 3


class DicomWarning(ThyromicsWarning):
    """Something a DICOM reader chose for the user (e.g. one of several US regions)."""


class UncalibratedSpacingWarning(DicomWarning):
    """An ultrasound image without a physical pixel size: its spacing ``(1, 1)`` is pixels.

    ``note`` is the file-level text (without the case), as provenance notes keep it.
    """

    def __init__(self, message: str, note: str | None = None) -> None:
        super().__init__(message)
        self.note = message if note is None else note


@dataclass(frozen=True, eq=False)
class SeriesGeometry:
    """A DICOM image series as its headers describe it, slices sorted along the normal.

    Attributes
    ----------
    folder : Path
    files : tuple of str
        Slice files in volume order (index ``k`` of the array's first axis).
    sop_instance_uids : tuple of str
        ``SOPInstanceUID`` of each slice, in the same order.
    positions : numpy.ndarray
        ``(n, 3)`` ``ImagePositionPatient`` of each slice (mm).
    size, spacing, origin, direction
        ITK-order geometry of the volume (as :class:`thyromics.io.Image`).
    series_uid, study_uid, frame_of_reference_uid, patient_id, modality, description : str
        From the first slice ("" when absent).
    needs_float : bool
        True when the rescale must be applied in floating point (see
        :func:`rescale_needs_float`).
    frames : tuple of int
        For an enhanced multi-frame file (:mod:`thyromics.io.dicom_enhanced`): the
        stored frame (0-based) of each slice; ``files`` then repeats the one file. Empty
        for a series of files.
    """

    folder: Path
    files: tuple[str, ...]
    sop_instance_uids: tuple[str, ...]
    positions: np.ndarray
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    patient_id: str = ""
    modality: str = ""
    description: str = ""
    needs_float: bool = False
    frames: tuple[int, ...] = ()

    @property
    def ndim(self) -> int:
        return 3

    def slice_of(self, sop_instance_uid: str) -> int | None:
        """Index of the slice with this ``SOPInstanceUID``, or None."""
        try:
            return self.sop_instance_uids.index(sop_instance_uid)
        except ValueError:
            return None

    def to_index(self, points: np.ndarray) -> np.ndarray:
        """Patient coordinates ``(m, 3)`` mm -> continuous voxel indices ``(m, 3)`` (i, j, k).

        Index ``(i, j, k)`` is the centre of voxel ``array[k, j, i]``.
        """
        d = np.asarray(self.direction, float).reshape(3, 3)
        rel = np.asarray(points, float) - np.asarray(self.origin)
        return (rel @ d) / np.asarray(self.spacing)


def rescale_needs_float(pairs: list[tuple[float, float]]) -> bool:
    """True when ``(slope, intercept)`` pairs need a floating-point output.

    That is when they differ between slices, or a slope or intercept is not an integer:
    ITK would otherwise keep the first slice's integer pixel type and truncate the
    others' values.
    """
    if len(set(pairs)) > 1:
        return True
    return any(s != round(s) or i != round(i) for s, i in pairs)


def header_floats(value, n: int, what: str, path) -> np.ndarray:
    """``n`` numbers of a header value; :class:`CaseError` naming ``what`` otherwise."""
    try:
        out = np.asarray([float(v) for v in value], float)
    except (TypeError, ValueError) as e:
        raise _fail(path, f"{what} is {value!r}: expected {n} numbers.") from e
    if out.size != n:
        raise _fail(path, f"{what} has {out.size} values: expected {n}.")
    return out


def header_text(ds, key: str) -> str:
    """A header value as stripped text ('' when absent)."""
    value = ds.get(key, "")
    return "" if value is None else str(value).strip()


def series_geometry(folder: Path | str, files: list[str]) -> SeriesGeometry:
    """Read the headers of one series' files, sort the slices and check the stack.

    Parameters
    ----------
    folder : Path
        The series folder (for messages).
    files : list of str
        The files of one series (any order).

    Raises
    ------
    CaseError
        ``stage="read"``, naming the problem (see the module notes) and the files.
    """
    import pydicom

    folder = Path(folder)
    heads = []
    for f in files:
        try:
            heads.append(pydicom.dcmread(f, stop_before_pixels=True))
        except Exception as e:  # noqa: BLE001 - any parse failure: the slice is lost
            raise _fail(f, f"cannot read the DICOM header ({e}); re-copy the file or move it "
                           "out of the series folder.") from e
    first = heads[0]
    if len(heads) == 1 and _is_enhanced(first):
        from thyromics.io.dicom_enhanced import enhanced_geometry

        return enhanced_geometry(files[0], first)
    if len(heads) == 1 or int(first.get("NumberOfFrames", 1) or 1) > 1 \
            or "ImagePositionPatient" not in first or "ImageOrientationPatient" not in first:
        return _single(folder, files, heads)
    stack = check_stack(
        folder, [Path(f).name for f in files],
        [header_floats(h.ImageOrientationPatient, 6, "ImageOrientationPatient", f)
         for h, f in zip(heads, files)],
        [(int(h.Rows), int(h.Columns)) for h in heads],
        [header_floats(h.get("PixelSpacing", [1, 1]), 2, "PixelSpacing", f) for h, f in zip(heads, files)],
        np.stack([header_floats(h.ImagePositionPatient, 3, "ImagePositionPatient", f)
                  for h, f in zip(heads, files)]),
        [float(h.get("GantryDetectorTilt", 0) or 0) for h in heads])
    heads = [heads[k] for k in stack.order]
    pairs = [(float(h.get("RescaleSlope", 1) or 1), float(h.get("RescaleIntercept", 0) or 0))
             for h in heads]
    return SeriesGeometry(
        folder=folder, files=tuple(files[k] for k in stack.order),
        sop_instance_uids=tuple(header_text(h, "SOPInstanceUID") for h in heads),
        positions=stack.positions, size=stack.size, spacing=stack.spacing, origin=stack.origin,
        direction=stack.direction, series_uid=header_text(first, "SeriesInstanceUID"),
        study_uid=header_text(first, "StudyInstanceUID"),
        frame_of_reference_uid=header_text(first, "FrameOfReferenceUID"),
        patient_id=header_text(first, "PatientID"), modality=header_text(first, "Modality"),
        description=header_text(first, "SeriesDescription"), needs_float=rescale_needs_float(pairs))


@dataclass(frozen=True, eq=False)
class Stack:
    """Slices (or frames) sorted along the slice normal and checked: see :func:`check_stack`.

    ``order[k]`` is the input index of volume slice ``k``; ``positions`` are sorted too.
    """

    order: tuple[int, ...]
    positions: np.ndarray
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]


_FOLDER_FIXES = {
    "orientation": "Slices of one volume share one orientation: the folder mixes planes (e.g. "
                   "axial and a scout or a reformat). Move each plane into its own folder or "
                   "series.",
    "size": "Slices of one volume share one size. Move the odd slices out of the folder.",
    "duplicate": "The folder mixes two acquisitions (or echoes, phases, time points) of one "
                 "series; move each into its own folder, or choose one with series_uid.",
}
_FILE_FIX = ("The file holds several stacks (planes, echoes, phases or time points) in one "
             "object: convert it with dcm2niix, which writes one volume per stack, and use the "
             "volume you mean.")


def check_stack(folder: Path | str, names: list[str], orientations: list[np.ndarray],
                sizes: list[tuple[int, int]], pixel_spacings: list[np.ndarray],
                positions: np.ndarray, tilts: list[float], *,
                multiframe: bool = False) -> Stack:
    """Sort slices along their normal and refuse what one voxel grid cannot hold.

    Parameters
    ----------
    folder : path
        For messages (the series folder, or the multi-frame file).
    names : list of str
        Each slice's name in messages (file names, or ``"frame 3"``).
    orientations, sizes, pixel_spacings, positions, tilts
        Per slice: ``ImageOrientationPatient`` (6), ``(Rows, Columns)``,
        ``PixelSpacing`` (row, column spacing), ``ImagePositionPatient`` (``(n, 3)``)
        and ``GantryDetectorTilt`` (degrees, 0 when absent).
    multiframe : bool
        The slices are frames of one file: the fixes name dcm2niix, not folders.

    Raises
    ------
    CaseError
        As listed in the module notes.
    """
    fixes = dict.fromkeys(_FOLDER_FIXES, _FILE_FIX) if multiframe else _FOLDER_FIXES
    orient = [tuple(np.round(o, 4).tolist()) for o in orientations]
    _same(folder, names, orient, "orientation (ImageOrientationPatient)", fixes["orientation"])
    _same(folder, names, list(sizes), "size (Rows x Columns)", fixes["size"])
    spacings = [tuple(np.round(p, 6).tolist()) for p in pixel_spacings]
    _same(folder, names, spacings, "pixel spacing (PixelSpacing)",
          "Slices of one volume share one pixel spacing.")
    row, col = np.asarray(orientations[0][:3], float), np.asarray(orientations[0][3:], float)
    normal = np.cross(row, col)
    pos = np.asarray(positions, float)
    d = pos @ normal
    order = np.argsort(d, kind="stable")
    d, pos = d[order], pos[order]
    step = 1.0  # one slice: no step (the caller knows the slice thickness)
    if len(names) > 1:
        _check_positions(folder, [names[k] for k in order], [tilts[k] for k in order], pos, d,
                         normal, fixes["duplicate"])
        step = float(np.median(np.diff(d)))
    ps = spacings[0]
    return Stack(order=tuple(int(k) for k in order), positions=pos,
                 size=(sizes[0][1], sizes[0][0], len(names)),
                 spacing=(float(ps[1]), float(ps[0]), step),
                 origin=tuple(pos[0].tolist()),
                 direction=tuple(np.column_stack([row, col, normal]).ravel().tolist()))


def _is_enhanced(ds) -> bool:
    from thyromics.io.dicom_enhanced import is_enhanced

    return is_enhanced(ds)


def _single(folder: Path, files: list[str], heads) -> SeriesGeometry:
    """Geometry of a one-file (possibly multi-frame) series: no stack checks apply."""
    h = heads[0]
    iop = header_floats(h.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), 6,
                  "ImageOrientationPatient", files[0])
    normal = np.cross(iop[:3], iop[3:])
    ps = header_floats(h.get("PixelSpacing", [1, 1]), 2, "PixelSpacing", files[0])
    pos = header_floats(h.get("ImagePositionPatient", [0, 0, 0]), 3, "ImagePositionPatient", files[0])
    thick = float(h.get("SpacingBetweenSlices", h.get("SliceThickness", 1)) or 1)
    pairs = [(float(h.get("RescaleSlope", 1) or 1), float(h.get("RescaleIntercept", 0) or 0))]
    return SeriesGeometry(
        folder=folder, files=tuple(files), sop_instance_uids=(header_text(h, "SOPInstanceUID"),),
        positions=pos[None, :], size=(int(h.Columns), int(h.Rows), 1),
        spacing=(float(ps[1]), float(ps[0]), thick), origin=tuple(pos.tolist()),
        direction=tuple(np.column_stack([iop[:3], iop[3:], normal]).ravel().tolist()),
        series_uid=header_text(h, "SeriesInstanceUID"), study_uid=header_text(h, "StudyInstanceUID"),
        frame_of_reference_uid=header_text(h, "FrameOfReferenceUID"), patient_id=header_text(h, "PatientID"),
        modality=header_text(h, "Modality"), description=header_text(h, "SeriesDescription"),
        needs_float=rescale_needs_float(pairs))


def _same(folder: Path | str, names: list[str], values: list, what: str, fix: str) -> None:
    counts = Counter(values)
    if len(counts) == 1:
        return
    parts = []
    for value, n in counts.most_common():
        example = names[values.index(value)]
        parts.append(f"{value} in {n} file(s), e.g. {example}")
    raise _fail(folder, f"the DICOM series mixes {len(counts)} slice {what}s: "
                        f"{'; '.join(parts)}. {fix}")


def _check_positions(folder: Path | str, names: list[str], tilt_tag: list[float],
                     pos: np.ndarray, d: np.ndarray, normal: np.ndarray, duplicate_fix: str) -> None:
    steps = np.diff(d)
    dup = np.flatnonzero(steps < 1e-3)
    if dup.size:
        k = int(dup[0])
        raise _fail(folder, f"{dup.size} pair(s) of slices share a position, e.g. "
                            f"{names[k]} and {names[k + 1]} both lie at "
                            f"{d[k]:.3f} mm along the slice normal. {duplicate_fix}")
    # gantry tilt: positions drift off the normal through the first slice
    rel = pos - pos[0]
    drift = np.linalg.norm(rel - np.outer(rel @ normal, normal), axis=1)
    if float(drift.max()) > TILT_TOLERANCE_MM + 1e-4 * float(d[-1] - d[0]):
        span = float(d[-1] - d[0])
        angle = float(np.degrees(np.arctan2(drift.max(), span)))
        tag = next((t for t in tilt_tag if t), 0.0)
        tag_text = f"; GantryDetectorTilt = {tag:g} degrees" if tag else ""
        raise _fail(folder, f"gantry tilt: slice positions drift {float(drift.max()):.2f} mm "
                            f"in-plane over {span:.1f} mm of slices (about {angle:.2f} degrees "
                            f"off the slice normal{tag_text}), so the volume is sheared and "
                            "no orthogonal voxel grid fits it. Resample the series to an "
                            "orthogonal grid first (e.g. 3D Slicer's DICOM import with the "
                            "'acquisition geometry regularization' option, or dcm2niix's "
                            "gantry-tilt correction) and use the resampled volume.")
    median = float(np.median(steps))
    tol = max(SLICE_STEP_TOLERANCE_MM, 1e-3 * median)
    ratio = steps / median
    gaps = np.flatnonzero((np.abs(ratio - np.round(ratio)) * median <= tol) & (np.round(ratio) >= 2))
    if gaps.size:
        missing = int(sum(round(float(ratio[k])) - 1 for k in gaps))
        where = "; ".join(f"between {names[k]} ({d[k]:.2f} mm) and {names[k + 1]} "
                          f"({d[k + 1]:.2f} mm)" for k in gaps[:3])
        raise _fail(folder, f"missing slices: {missing} slice(s) missing from a series of "
                            f"{len(names)} at a {median:g} mm step ({where}"
                            f"{' ...' if gaps.size > 3 else ''}). The volume would be built "
                            "with the gap closed up. Re-export the complete series.")
    if float(np.max(np.abs(steps - median))) > tol:
        k = int(np.argmax(np.abs(steps - median)))
        shown = ", ".join(f"{s:g}" for s in sorted(set(np.round(steps, 3).tolist()))[:6])
        raise _fail(folder, f"uneven slice spacing: steps between slices range from "
                            f"{steps.min():.3f} to {steps.max():.3f} mm (values {shown}; "
                            f"median {median:.3f} mm, tolerance {tol:g} mm), e.g. "
                            f"{steps[k]:.3f} mm between {names[k]} and {names[k + 1]}. One "
                            "voxel grid cannot hold the slices where they are; resample the "
                            "series onto a regular grid first, or split it where the "
                            "spacing changes.")


# --------------------------------------------------------------------------- ultrasound

def ultrasound_spacing(ds, path: Path | str) -> tuple[float, float] | None:
    """Pixel size ``(x, y)`` in mm from an ultrasound image's calibrated regions.

    Parameters
    ----------
    ds : pydicom.Dataset
        The header (pixel data not needed).
    path : Path
        For messages.

    Returns
    -------
    (float, float) or None
        ``PhysicalDeltaX`` and ``PhysicalDeltaY`` of the 2D tissue region, converted from
        cm to mm; the largest such region by area when there are several (with a
        :class:`DicomWarning` saying so). None when the file has no calibrated 2D
        tissue region.
    """
    regions = []
    for n, r in enumerate(ds.get("SequenceOfUltrasoundRegions", []) or [], start=1):
        try:
            fmt = int(r.get("RegionSpatialFormat", -1))
            kind = int(r.get("RegionDataType", -1))
            ux = int(r.get("PhysicalUnitsXDirection", -1))
            uy = int(r.get("PhysicalUnitsYDirection", -1))
            dx, dy = float(r.PhysicalDeltaX), float(r.PhysicalDeltaY)
            x0, y0 = int(r.RegionLocationMinX0), int(r.RegionLocationMinY0)
            x1, y1 = int(r.RegionLocationMaxX1), int(r.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if fmt == 1 and kind == 1 and ux == uy == _US_UNIT_CM and dx > 0 and dy > 0:
            regions.append((n, (x1 - x0 + 1) * (y1 - y0 + 1), dx * 10.0, dy * 10.0,
                            (x0, y0, x1, y1)))
    if not regions:
        return None
    best = max(regions, key=lambda r: (r[1], -r[0]))
    if len(regions) > 1:
        others = "; ".join(f"region {r[0]} ({r[1]} pixels, {r[2]:.5g} x {r[3]:.5g} mm)"
                           for r in regions if r is not best)
        warnings.warn(f"file {path}: {len(regions)} calibrated 2D tissue regions; the pixel "
                      f"size of the largest, region {best[0]} at x {best[4][0]}-{best[4][2]}, "
                      f"y {best[4][1]}-{best[4][3]} ({best[1]} pixels, {best[2]:.5g} x "
                      f"{best[3]:.5g} mm per pixel) is used for the whole image; the others: "
                      f"{others}.", DicomWarning, stacklevel=3)
    return best[2], best[3]


def uncalibrated_ultrasound(ds, path: Path | str) -> str:
    """The text of the :class:`UncalibratedSpacingWarning` for an ultrasound file.

    For a file that :func:`ultrasound_spacing` found no calibrated 2D tissue region in
    and that has no ``PixelSpacing``; it says what the file holds instead.
    """
    regions = list(ds.get("SequenceOfUltrasoundRegions", []) or [])
    if not regions:
        found = "no SequenceOfUltrasoundRegions"
    else:
        kinds = "; ".join(f"region {n}: RegionSpatialFormat {r.get('RegionSpatialFormat', '?')}, "
                          f"RegionDataType {r.get('RegionDataType', '?')}, PhysicalUnitsX/Y "
                          f"{r.get('PhysicalUnitsXDirection', '?')}/"
                          f"{r.get('PhysicalUnitsYDirection', '?')}"
                          for n, r in enumerate(regions, start=1))
        found = (f"{len(regions)} ultrasound region(s), none a 2D tissue region calibrated in "
                 f"cm (format 1, data type 1, units 3) ({kinds})")
    return (f"file {path}: ultrasound image without a physical pixel size (no PixelSpacing, "
            f"{found}): its spacing 1 x 1 is in pixels, not mm, so areas, diameters, shape "
            "and texture distances are in pixel units and not comparable between scanners "
            "or depths. Fix: export the images with their ultrasound regions (the scanner's "
            "calibration), or, if every case shares one known pixel size, convert them to "
            "NIfTI with that spacing.")
