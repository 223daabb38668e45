"""DICOM Segmentation (SEG) objects: read one segment onto its source series, write masks.

Reading
-------
The file is opened with ``highdicom`` (:func:`highdicom.seg.segread`), which decodes
every frame, bit-packed ``BINARY`` frames included (their rows need not end on a byte
boundary). Each frame belongs to one segment (``SegmentIdentificationSequence``) and one
plane (``PlanePositionSequence``). A frame goes onto the image slice it names in its
``DerivationImageSequence`` when that ``SOPInstanceUID`` is in the image series (its
position must agree), otherwise onto the slice at its position: within
:data:`POSITION_TOLERANCE` slices of a slice centre, with the in-plane origin, the
orientation, the frame size and the pixel spacing of the image (a SEG on another grid is
refused: resample it in the tool that made it). Slices without a frame are empty, as the
standard allows. Several frames of one segment on one slice are combined by OR.

``BINARY`` frames are 0/1. ``FRACTIONAL`` frames (probability or occupancy, stored as
``0..MaximumFractionalValue``) are read as ``value / MaximumFractionalValue >= 0.5``
(:data:`FRACTIONAL_THRESHOLD`). ``LABELMAP`` frames hold segment numbers.

Writing
-------
:func:`write_seg` writes a 0/1 mask (or several) as a ``BINARY`` SEG that references
every slice of the source series, so it opens in 3D Slicer, OHIF and PACS viewers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.errors import InputError
from thyromics.io._filetypes import fail as _fail
from thyromics.io._names import choose_name
from thyromics.io.dicom_enhanced import functional_group
from thyromics.io.image import Image

__all__ = ["SegmentInfo", "seg_segments", "read_seg", "write_seg", "is_seg", "SEG_SOP_CLASS",
           "FRACTIONAL_THRESHOLD", "POSITION_TOLERANCE"]

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: A fractional frame's value, as a fraction of MaximumFractionalValue, from which a
#: pixel is inside.
FRACTIONAL_THRESHOLD = 0.5
#: Largest distance (in slices, along the normal) of a frame from its slice centre; also
#: the largest in-plane offset of its origin, in pixels.
POSITION_TOLERANCE = 0.1


@dataclass(frozen=True)
class SegmentInfo:
    """One segment of a SEG file."""

    number: int
    name: str
    n_frames: int


def is_seg(ds) -> bool:
    """True for a DICOM Segmentation dataset (by SOP class or modality)."""
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS or \
        str(ds.get("Modality", "")).upper() == "SEG"


def _open(path: Path):
    import highdicom as hd

    try:
        return hd.seg.segread(str(path))
    except Exception as e:  # noqa: BLE001 - highdicom raises many kinds
        raise _fail(path, f"cannot read the file as a DICOM SEG ({type(e).__name__}: {e}); "
                          "is it corrupt, truncated or another kind of DICOM?") from e


def _frame_segment(seg, f: int) -> int:
    item = seg.PerFrameFunctionalGroupsSequence[f]
    ident = item.get("SegmentIdentificationSequence") or \
        seg.SharedFunctionalGroupsSequence[0].get("SegmentIdentificationSequence")
    return int(ident[0].ReferencedSegmentNumber) if ident else 0


def seg_segments(path: str | Path, seg=None) -> list[SegmentInfo]:
    """The segments of a SEG file in file order, with their frame counts."""
    path = Path(path)
    seg = _open(path) if seg is None else seg
    labelmap = str(seg.SegmentationType).upper() == "LABELMAP"
    counts: dict[int, int] = {}
    for f in range(int(seg.get("NumberOfFrames", 1) or 1)):
        n = _frame_segment(seg, f)
        counts[n] = counts.get(n, 0) + 1
    out = []
    for s in seg.SegmentSequence:
        n = int(s.SegmentNumber)
        name = str(s.get("SegmentLabel", "")).strip() or f"segment {n}"
        out.append(SegmentInfo(n, name, sum(counts.values()) if labelmap else counts.get(n, 0)))
    return out


def read_seg(path: str | Path, geometry, segment: str | None = None) -> Image:
    """One segment of a DICOM SEG as a 0/1 mask on the image series' grid.

    Parameters
    ----------
    path : path
        The SEG file.
    geometry : SeriesGeometry
        The source image series (:func:`thyromics.io.dicom_series.series_geometry`).
    segment : str, optional
        Segment label (case-insensitive); may be omitted when the file holds one.

    Raises
    ------
    CaseError
        ``stage="validate"`` for an unknown or ambiguous segment name;
        ``stage="read"`` for another frame of reference, frames on another grid or
        between slices, or a slice reference that disagrees with the frame's position.
    """
    path = Path(path)
    seg = _open(path)
    segments = seg_segments(path, seg)
    info = segments[choose_name([s.name for s in segments], segment, path, "segment")]
    seg_for = str(seg.get("FrameOfReferenceUID", ""))
    if seg_for and geometry.frame_of_reference_uid and seg_for != geometry.frame_of_reference_uid:
        raise _fail(path, f"the SEG is in frame of reference {seg_for}, the image series "
                          f"{geometry.folder} in {geometry.frame_of_reference_uid}: it was not "
                          "made on this image. Use the series it references.")
    kind = str(seg.SegmentationType).upper()
    maximum = float(seg.get("MaximumFractionalValue", 1) or 1)
    nx, ny, nz = geometry.size
    d = np.asarray(geometry.direction).reshape(3, 3)
    mask = np.zeros((nz, ny, nx), bool)
    for f in range(int(seg.get("NumberOfFrames", 1) or 1)):
        if kind != "LABELMAP" and _frame_segment(seg, f) != info.number:
            continue
        k = _slice_of_frame(path, seg, f, geometry, d)
        frame = np.asarray(seg.get_stored_frame(f + 1))
        if frame.shape != (ny, nx):
            raise _fail(path, f"frame {f + 1} is {frame.shape[1]} x {frame.shape[0]} pixels, the "
                              f"image slices {nx} x {ny}: the SEG is on another grid. Resample "
                              "it onto the image in the tool that made it.")
        if kind == "FRACTIONAL":
            on = frame.astype(np.float64) / maximum >= FRACTIONAL_THRESHOLD
        elif kind == "LABELMAP":
            on = frame == info.number
        else:
            on = frame != 0
        mask[k] |= on
    return Image(mask.astype(np.uint8), geometry.spacing, geometry.origin, geometry.direction,
                 str(path))


def _slice_of_frame(path: Path, seg, f: int, geometry, d: np.ndarray) -> int:
    nx, ny, nz = geometry.size
    pos = functional_group(seg, f, "PlanePositionSequence")
    orient = functional_group(seg, f, "PlaneOrientationSequence")
    measures = functional_group(seg, f, "PixelMeasuresSequence")
    if pos is None or "ImagePositionPatient" not in pos:
        raise _fail(path, f"frame {f + 1} has no ImagePositionPatient: a SEG frame must say "
                          "where it lies.")
    if orient is not None and "ImageOrientationPatient" in orient:
        iop = np.asarray([float(v) for v in orient.ImageOrientationPatient])
        if np.abs(iop[:3] - d[:, 0]).max() > 1e-4 or np.abs(iop[3:] - d[:, 1]).max() > 1e-4:
            raise _fail(path, f"frame {f + 1} has orientation {np.round(iop, 4).tolist()}, the "
                              f"image {np.round(np.r_[d[:, 0], d[:, 1]], 4).tolist()}: the SEG is "
                              "on another grid. Resample it onto the image first.")
    if measures is not None and "PixelSpacing" in measures:
        ps = [float(v) for v in measures.PixelSpacing]
        if abs(ps[0] - geometry.spacing[1]) > 1e-3 or abs(ps[1] - geometry.spacing[0]) > 1e-3:
            raise _fail(path, f"frame {f + 1} has pixel spacing {ps} mm, the image "
                              f"{[geometry.spacing[1], geometry.spacing[0]]} mm: the SEG is on "
                              "another grid. Resample it onto the image first.")
    idx = geometry.to_index(np.asarray([float(v) for v in pos.ImagePositionPatient])[None])[0]
    if abs(idx[0]) > POSITION_TOLERANCE or abs(idx[1]) > POSITION_TOLERANCE:
        raise _fail(path, f"frame {f + 1} starts {idx[0]:.2f}, {idx[1]:.2f} pixels off the image "
                          "slices' first pixel: the SEG covers another field of view. Resample "
                          "it onto the image first.")
    ref = None
    item = functional_group(seg, f, "DerivationImageSequence")
    for src in (item.get("SourceImageSequence", []) if item is not None else []):
        ref = geometry.slice_of(str(src.get("ReferencedSOPInstanceUID", "")))
        if ref is not None:
            break
    k = int(round(idx[2]))
    if ref is not None:
        if abs(idx[2] - ref) > 0.5:
            raise _fail(path, f"frame {f + 1} references slice {ref} "
                              f"({Path(geometry.files[ref]).name}) but lies at slice "
                              f"{idx[2]:.2f}: the SEG and the image disagree.")
        return ref
    if not 0 <= k < nz or abs(idx[2] - k) > POSITION_TOLERANCE:
        raise _fail(path, f"frame {f + 1} lies at slice position {idx[2]:.2f} of the image's {nz} "
                          f"(tolerance {POSITION_TOLERANCE:g} slice): it matches no slice of this "
                          "series. Use the series the SEG was made on.")
    return k


#: Type 2 patient/study attributes a SEG must carry (empty when unknown); anonymised
#: series often lack them, and highdicom copies them from the source images.
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")


def _with_type2(ds):
    for key in _TYPE2:
        if key not in ds:
            setattr(ds, key, "")
    return ds


def write_seg(masks: dict[str, Image] | Image, source: str | Path, output: str | Path, *,
              series_uid: str | None = None, series_description: str = "thyromics",
              algorithm: str | None = None, manufacturer: str = "thyromics") -> Path:
    """Write 0/1 masks as a BINARY DICOM SEG referencing the source series.

    Parameters
    ----------
    masks : Image or dict of str to Image
        One mask (segment "lesion") or segment label -> mask, each on the source
        series' grid (as :func:`thyromics.io.read_image` returns it).
    source : path
        The source DICOM series folder (or a single DICOM image file).
    output : path
        The ``.dcm`` file to write.
    series_uid : str, optional
        The source series when its folder holds several.
    series_description : str
        SeriesDescription of the new SEG series.
    algorithm : str, optional
        When given, the segments are ``AUTOMATIC`` with this algorithm name (e.g. a
        model's name); otherwise ``MANUAL``.

    Returns
    -------
    Path
        The file written (atomically: a temporary name moved into place).

    Raises
    ------
    InputError
        A mask not on the series' grid, an empty set of masks.
    """
    import os

    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from thyromics import __version__
    from thyromics.io._dicom_read import choose_series
    from thyromics.io.dicom_series import series_geometry
    from thyromics.io.readers import geometry_differences

    source, output = Path(source), Path(output)
    if isinstance(masks, Image):
        masks = {"lesion": masks}
    if not masks:
        raise InputError("write_seg: no masks given; expected at least one segment.")
    files = choose_series(source, series_uid) if source.is_dir() else [str(source)]
    geometry = series_geometry(source if source.is_dir() else source.parent, files)
    for name, m in masks.items():
        if m.ndim == 2:  # a single-frame image (e.g. ultrasound): only the size can agree
            bad = [] if tuple(m.size) == tuple(geometry.size[:2]) and geometry.size[2] == 1 \
                else ["size"]
        else:
            bad = geometry_differences(geometry, m, 1e-3)
        if bad:
            raise InputError(f"cannot write segment {name!r} as DICOM SEG referencing {source}: "
                             f"the mask's {', '.join(bad)} differ from the series' (mask size "
                             f"{m.size}, series {geometry.size}). Resample the mask onto the "
                             "series first.")
    # an enhanced multi-frame source is one instance, its frames in stored order
    sources = [_with_type2(pydicom.dcmread(f)) for f in dict.fromkeys(geometry.files)]
    descriptions = []
    for n, name in enumerate(masks, start=1):
        auto = algorithm is not None
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=n, segment_label=str(name)[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=(hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC if auto
                            else hd.seg.SegmentAlgorithmTypeValues.MANUAL),
            algorithm_identification=(hd.AlgorithmIdentificationSequence(
                name=str(algorithm)[:64], version=__version__,
                family=codes.cid7162.ArtificialIntelligence) if auto else None)))
    pixels = np.stack([np.asarray(m.array != 0, np.uint8).reshape(tuple(reversed(geometry.size)))
                       for m in masks.values()], axis=-1)
    if geometry.frames:  # volume slice k is stored frame geometry.frames[k]
        pixels = pixels[np.argsort(geometry.frames)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=manufacturer,
        manufacturer_model_name="thyromics", software_versions=__version__,
        device_serial_number="0", series_description=series_description[:64],
        omit_empty_frames=bool(pixels.any()))
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    try:
        seg.save_as(tmp)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()
    return output
