"""Enhanced multi-frame CT, MR and PET: a whole volume in one DICOM file.

Such a file (``Enhanced CT Image Storage`` and its MR / PET and "legacy converted"
siblings) keeps each frame's geometry in its functional groups
(``PerFrameFunctionalGroupsSequence``, with defaults in
``SharedFunctionalGroupsSequence``): ``PlanePositionSequence`` (``ImagePositionPatient``),
``PlaneOrientationSequence`` (``ImageOrientationPatient``), ``PixelMeasuresSequence``
(``PixelSpacing``) and ``PixelValueTransformationSequence`` (rescale slope / intercept).
GDCM reads such a file as frames in stored order with the first frame's geometry, which
is wrong whenever the frames are not stored bottom to top.

Here the frames are treated as the slices of a series: sorted along the slice normal
and put through the same checks (:func:`thyromics.io.dicom_series.check_stack`: mixed
orientations, two frames at one position, i.e. several stacks, echoes or time points,
gantry tilt, missing frames, uneven spacing). Pixels are decoded by pydicom, stored
values are rescaled per frame (in floating point when the frames' rescales differ or are
not integers, as for series). A file that cannot be read so is refused with the fix:
convert it with dcm2niix (https://github.com/rordenlab/dcm2niix).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from thyromics.errors import CaseError
from thyromics.io._filetypes import fail as _fail
from thyromics.io.image import Image

__all__ = ["ENHANCED_SOP_CLASSES", "is_enhanced", "functional_group", "enhanced_geometry",
           "read_enhanced"]

#: SOP classes of multi-frame volumes read here, with their names.
ENHANCED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET",
    "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET",
}
_CONVERT = ("Convert it with dcm2niix (dcm2niix -z y -o OUT FOLDER) and use the NIfTI volume "
            "as the image.")


def is_enhanced(ds) -> bool:
    """True for an enhanced (or legacy converted enhanced) CT / MR / PET dataset."""
    return str(ds.get("SOPClassUID", "")) in ENHANCED_SOP_CLASSES


def functional_group(ds, frame: int, sequence: str):
    """The item of functional group ``sequence`` for ``frame`` (0-based): the frame's own,
    else the shared one; None when neither has it."""
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    item = per[frame].get(sequence) if frame < len(per) else None
    if item:
        return item[0]
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    item = shared[0].get(sequence) if shared else None
    return item[0] if item else None


def _numbers(path: Path, item, key: str, n: int, frame: int, group: str) -> np.ndarray:
    from thyromics.io.dicom_series import header_floats

    if item is None or key not in item:
        raise _fail(path, f"frame {frame + 1} has no {key} ({group}, neither per frame nor "
                          f"shared): the file does not say where its frames lie. {_CONVERT}")
    return header_floats(item[key], n, f"frame {frame + 1}: {key}", path)


def _rescale(ds, frame: int) -> tuple[float, float]:
    item = functional_group(ds, frame, "PixelValueTransformationSequence")
    if item is None:  # MR often has none: stored values are the values
        return float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    return float(item.get("RescaleSlope", 1) or 1), float(item.get("RescaleIntercept", 0) or 0)


def _tilt(ds, frame: int) -> float:
    item = functional_group(ds, frame, "CTAcquisitionDetailsSequence")
    return float(item.get("GantryDetectorTilt", 0) or 0) if item is not None else 0.0


def enhanced_geometry(path: str | Path, ds=None):
    """The :class:`~thyromics.io.dicom_series.SeriesGeometry` of an enhanced multi-frame file.

    Slices are the frames sorted along the normal; ``frames`` gives each slice's stored
    frame and ``files`` repeats the file. ``sop_instance_uids`` are ``<uid>#<frame>``,
    which no RTSTRUCT / SEG reference matches, so contours and SEG frames are placed by
    position (they would reference the instance and a frame number).

    Raises
    ------
    CaseError
        ``stage="read"``: per-frame geometry missing, or a stack that one voxel grid
        cannot hold (see the module notes), naming the frames and the fix.
    """
    import pydicom

    from thyromics.io.dicom_series import (SeriesGeometry, check_stack, header_text,
                                           rescale_needs_float)

    path = Path(path)
    if ds is None:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    kind = ENHANCED_SOP_CLASSES.get(str(ds.get("SOPClassUID", "")), "enhanced multi-frame")
    n = int(ds.get("NumberOfFrames", 1) or 1)
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(per) != n:
        raise _fail(path, f"{kind} file with {n} frames but {len(per)} per-frame functional "
                          f"group items: expected one per frame. {_CONVERT}")
    orient, spacings, pos = [], [], []
    try:
        for f in range(n):
            orient.append(_numbers(path, functional_group(ds, f, "PlaneOrientationSequence"),
                                   "ImageOrientationPatient", 6, f, "PlaneOrientationSequence"))
            spacings.append(_numbers(path, functional_group(ds, f, "PixelMeasuresSequence"),
                                     "PixelSpacing", 2, f, "PixelMeasuresSequence"))
            pos.append(_numbers(path, functional_group(ds, f, "PlanePositionSequence"),
                                "ImagePositionPatient", 3, f, "PlanePositionSequence"))
        stack = check_stack(path, [f"frame {f + 1}" for f in range(n)], orient,
                            [(int(ds.Rows), int(ds.Columns))] * n, spacings, np.stack(pos),
                            [_tilt(ds, f) for f in range(n)], multiframe=True)
    except CaseError as e:
        fix = "" if "dcm2niix" in e.reason else f" Or: {_CONVERT}"
        raise _fail(path, f"{kind} file: {e.reason}{fix}") from e
    spacing = stack.spacing
    if n == 1:  # one frame: the slice thickness is the best step there is
        measures = functional_group(ds, 0, "PixelMeasuresSequence")
        thick = measures.get("SpacingBetweenSlices", measures.get("SliceThickness", 1)) or 1
        spacing = (spacing[0], spacing[1], float(thick))
    sop = header_text(ds, "SOPInstanceUID")
    pairs = [_rescale(ds, f) for f in stack.order]
    return SeriesGeometry(
        folder=path.parent, files=(str(path),) * n,
        sop_instance_uids=tuple(f"{sop}#{f + 1}" for f in stack.order),
        positions=stack.positions, size=stack.size, spacing=spacing, origin=stack.origin,
        direction=stack.direction, series_uid=header_text(ds, "SeriesInstanceUID"),
        study_uid=header_text(ds, "StudyInstanceUID"),
        frame_of_reference_uid=header_text(ds, "FrameOfReferenceUID"),
        patient_id=header_text(ds, "PatientID"), modality=header_text(ds, "Modality"),
        description=header_text(ds, "SeriesDescription"), needs_float=rescale_needs_float(pairs),
        frames=stack.order)


def read_enhanced(path: str | Path, geometry=None) -> Image:
    """An enhanced multi-frame file as a 3D volume on its checked geometry.

    Values are ``stored * slope + intercept`` per frame: ``float64`` when
    ``geometry.needs_float``, else integers (the stored type when no frame rescales).

    Raises
    ------
    CaseError
        ``stage="read"``: see :func:`enhanced_geometry`; colour frames; pixel data that
        pydicom cannot decode (a compression without its plugin), with the fixes.
    """
    import pydicom

    from thyromics.io import _integrity

    path = Path(path)
    _integrity.check_dicom(path)  # all the pixel data the header promises
    ds = pydicom.dcmread(path)
    geometry = enhanced_geometry(path, ds) if geometry is None else geometry
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise _fail(path, f"the multi-frame volume has {ds.SamplesPerPixel} samples per pixel: "
                          f"expected grey (CT, MR, PET) frames. {_CONVERT}")
    try:
        stored = np.asarray(ds.pixel_array)
    except Exception as e:  # noqa: BLE001 - missing codec plugins raise several kinds
        syntax = ds.file_meta.get("TransferSyntaxUID", "?")
        raise _fail(path, f"cannot decode the pixel data (transfer syntax {syntax}: "
                          f"{type(e).__name__}: {e}). Install the decoder pydicom names "
                          f"(e.g. pip install pylibjpeg pylibjpeg-libjpeg), or: "
                          f"{_CONVERT}") from e
    stored = stored.reshape((len(geometry.frames),) + stored.shape[-2:])[list(geometry.frames)]
    pairs = np.asarray([_rescale(ds, f) for f in geometry.frames], float)
    slope, intercept = pairs[:, 0, None, None], pairs[:, 1, None, None]
    if geometry.needs_float:
        arr = stored.astype(np.float64) * slope + intercept
    elif np.all(pairs == (1.0, 0.0)):
        arr = stored
    else:
        arr = (stored.astype(np.int64) * slope.astype(np.int64) + intercept.astype(np.int64))
        arr = arr.astype(np.int32) if np.abs(arr).max(initial=0) < 2 ** 31 else arr
    return Image(np.ascontiguousarray(arr), geometry.spacing, geometry.origin,
                 geometry.direction, str(path))
