"""Synthetic DICOM for the DICOM reader tests: series and RTSTRUCT written with pydicom,
SEG with highdicom, contours from voxel indices; and the shared real DICOM folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def _meta(sop_class: str, sop_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def write_series(folder: Path, vol: np.ndarray, *, spacing=(0.5, 0.75, 2.0),
                 origin=(-10.0, 20.0, 30.0), positions: list | None = None,
                 orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), orientations: list | None = None,
                 rescale: list | None = None, series_uid: str | None = None,
                 study_uid: str | None = None, frame_uid: str | None = "auto",
                 patient_id: str = "P1", modality: str = "CT", description: str = "axial",
                 prefix: str = "s") -> list[Dataset]:
    """Write ``vol`` (z, y, x) int16 as one file per slice; returns the datasets.

    ``spacing`` is ITK order (x = column spacing, y = row spacing, z = slice step);
    slice ``k`` lies at ``origin + k * step * normal`` unless ``positions`` says where.
    Files are written in reverse order of position (the reader must sort them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_uid = generate_uid() if frame_uid == "auto" else frame_uid
    row, col = np.asarray(orientation[:3], float), np.asarray(orientation[3:], float)
    normal = np.cross(row, col)
    out = []
    for k in range(vol.shape[0]):
        sop = generate_uid()
        ds = Dataset()
        ds.file_meta = _meta(CT_STORAGE, sop)
        ds.SOPClassUID, ds.SOPInstanceUID = CT_STORAGE, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
        if frame_uid:
            ds.FrameOfReferenceUID = frame_uid
        ds.Modality, ds.PatientID, ds.PatientName = modality, patient_id, patient_id
        ds.SeriesDescription = description
        ds.InstanceNumber = k + 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[0])]
        ds.SliceThickness = float(spacing[2])
        pos = positions[k] if positions is not None else \
            np.asarray(origin, float) + k * spacing[2] * normal
        ds.ImagePositionPatient = [float(v) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in
                                      (orientations[k] if orientations else orientation)]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        slope, intercept = rescale[k] if rescale else (1.0, 0.0)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.PixelData = np.ascontiguousarray(vol[k], dtype=np.int16).tobytes()
        ds.save_as(folder / f"{prefix}{vol.shape[0] - k:03d}.dcm", enforce_file_format=True)
        out.append(ds)
    return out


def write_rtstruct(path: Path, series: list[Dataset], rois: dict[str, list[np.ndarray]], *,
                   reference_instances: bool = True, frame_uid: str | None = None,
                   geometric_type: str | dict[str, str] = "CLOSED_PLANAR") -> Path:
    """An RTSTRUCT with one ROI per entry of ``rois``: name -> list of (m, 3) contours (mm).

    Each contour names the slice at its z (``ContourImageSequence``) when
    ``reference_instances``; otherwise it names an instance that is not in the series
    (as after anonymisation). ``geometric_type``: one for all ROIs, or ROI name -> type
    (``CLOSED_PLANAR`` where a ROI is not named).
    """
    first = series[0]
    frame_uid = frame_uid or first.FrameOfReferenceUID
    normal = np.cross(np.asarray(first.ImageOrientationPatient[:3], float),
                      np.asarray(first.ImageOrientationPatient[3:], float))
    by_d = {round(float(np.dot(np.asarray(s.ImagePositionPatient, float), normal)), 3):
            s.SOPInstanceUID for s in series}
    sop = generate_uid()
    ds = Dataset()
    ds.file_meta = _meta(RTSTRUCT_STORAGE, sop)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = first.StudyInstanceUID, generate_uid()
    ds.Modality, ds.PatientID, ds.PatientName = "RTSTRUCT", first.PatientID, first.PatientName
    ds.StructureSetLabel = "test"
    contour_images = Sequence()
    for s in series:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = CT_STORAGE, s.SOPInstanceUID
        contour_images.append(item)
    ser = Dataset()
    ser.SeriesInstanceUID = first.SeriesInstanceUID
    ser.ContourImageSequence = contour_images
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study.RTReferencedSeriesSequence = Sequence([ser])
    rfor = Dataset()
    rfor.FrameOfReferenceUID = frame_uid
    rfor.RTReferencedStudySequence = Sequence([study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([rfor])
    ds.StructureSetROISequence = Sequence()
    ds.ROIContourSequence = Sequence()
    ds.RTROIObservationsSequence = Sequence()
    for n, (name, contours) in enumerate(rois.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = n, frame_uid, name
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = n
        rc.ROIDisplayColor = [255, 0, 0]
        rc.ContourSequence = Sequence()
        for pts in contours:
            pts = np.asarray(pts, float)
            c = Dataset()
            img = Dataset()
            img.ReferencedSOPClassUID = CT_STORAGE
            d = round(float(np.mean(pts @ normal)), 3)
            img.ReferencedSOPInstanceUID = by_d.get(d, generate_uid()) if reference_instances \
                else generate_uid()
            c.ContourImageSequence = Sequence([img])
            c.ContourGeometricType = geometric_type if isinstance(geometric_type, str) \
                else geometric_type.get(name, "CLOSED_PLANAR")
            c.NumberOfContourPoints = len(pts)
            c.ContourData = [f"{v:.6g}" for v in pts.ravel()]
            rc.ContourSequence.append(c)
        ds.ROIContourSequence.append(rc)
        obs = Dataset()
        obs.ObservationNumber, obs.ReferencedROINumber = n, n
        obs.RTROIInterpretedType, obs.ROIInterpreter = "GTV", ""
        ds.RTROIObservationsSequence.append(obs)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def index_to_patient(series: list[Dataset], spacing, pts_ijk: np.ndarray) -> np.ndarray:
    """Continuous voxel indices (i, j, k) -> patient mm for a series from write_series."""
    first = min(series, key=lambda s: s.InstanceNumber)
    row = np.asarray(first.ImageOrientationPatient[:3], float)
    col = np.asarray(first.ImageOrientationPatient[3:], float)
    normal = np.cross(row, col)
    o = np.asarray(first.ImagePositionPatient, float)
    p = np.asarray(pts_ijk, float)
    return o + np.outer(p[:, 0] * spacing[0], row) + np.outer(p[:, 1] * spacing[1], col) + \
        np.outer(p[:, 2] * spacing[2], normal)


def square_contour(series: list[Dataset], spacing, square_ijk, k: float) -> np.ndarray:
    """The (4, 3) patient-mm corners of the square ``(x0, y0, x1, y1)`` (voxel indices) on
    slice ``k`` of a series from :func:`write_series` with this ``spacing``."""
    x0, y0, x1, y1 = square_ijk
    ij = np.array([[x0, y0, k], [x1, y0, k], [x1, y1, k], [x0, y1, k]], float)
    return index_to_patient(series, spacing, ij)


def write_highdicom_seg(folder: Path, pixels: np.ndarray, names: list[str], *,
                        spacing=(0.6, 0.9, 2.5), fractional: bool = False,
                        sources_reversed: bool = True) -> tuple[Path, Path]:
    """``(series folder, SEG file)``: a zero CT series and a SEG made by highdicom on it.

    ``pixels`` is ``(z, y, x, segments)``; segment ``n`` (1-based) is labelled
    ``names[n - 1]``. With ``sources_reversed`` the frames are stored in another order
    than the volume's.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    vol = np.zeros(pixels.shape[:3], np.int16)
    write_series(folder / "ct", vol, spacing=spacing)
    files = sorted((folder / "ct").glob("*.dcm"))
    sources = sorted((pydicom.dcmread(f) for f in files),
                     key=lambda d: float(d.ImagePositionPatient[2]))
    for d in sources:  # highdicom copies the patient / study module from the sources
        for key in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):
            setattr(d, key, "")
    px = pixels
    if sources_reversed:
        sources, px = sources[::-1], pixels[::-1]
    descriptions = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=name,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n, name in enumerate(names, start=1)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=px.astype(np.float32 if fractional else np.uint8),
        segmentation_type=(hd.seg.SegmentationTypeValues.FRACTIONAL if fractional
                           else hd.seg.SegmentationTypeValues.BINARY),
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=2,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
        manufacturer_model_name="test", software_versions="1", device_serial_number="1",
        max_fractional_value=255 if fractional else None)
    out = folder / "seg.dcm"
    seg.save_as(out)
    return folder / "ct", out


def shared_dicom(name: str) -> Path:
    """``<shared data>/dicom/<name>``: skips when absent (fails under ``CI=true``)."""
    from conftest import need_data

    return need_data(f"dicom/{name}")


def rtstruct_study(folder: Path, spacing=(0.5, 0.75, 2.0)
                   ) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """``(series folder, RTSTRUCT, expected masks)``: a 6 x 20 x 16 CT with ROIs "GTV 1"
    (3 slices of 9 x 7 voxels), "Marker" (a POINT contour: no voxels) and "node" (3 x 3 on
    one slice). The expected masks are built by hand from the even-odd rule on voxel
    centres (a square from 2.5 to 9.5 holds the centres 3..9)."""
    vol = (np.arange(6 * 20 * 16) % 89).astype(np.int16).reshape(6, 20, 16)
    series = write_series(folder / "ct", vol, spacing=spacing)

    def sq(box, k):
        return square_contour(series, spacing, box, k)

    write_rtstruct(folder / "rs.dcm", series,
                   {"GTV 1": [sq((2.5, 3.5, 9.5, 12.5), k) for k in (1, 2, 3)],
                    "Marker": [sq((5, 5, 6, 6), 2)],
                    "node": [sq((10.5, 14.5, 13.5, 17.5), 4)]},
                   geometric_type={"Marker": "POINT"})
    gtv = np.zeros(vol.shape, np.uint8)
    gtv[1:4, 4:13, 3:10] = 1
    node = np.zeros(vol.shape, np.uint8)
    node[4, 15:18, 11:14] = 1
    return folder / "ct", folder / "rs.dcm", {"GTV 1": gtv, "node": node}


def write_enhanced(path: Path, series_folder: Path, modality: str = "CT") -> Path:
    """A legacy converted enhanced multi-frame file of a series from :func:`write_series`,
    made by highdicom (an independent writer of the per-frame functional groups); frames
    are stored in file-name order (``write_series`` names files in reverse position order).
    """
    import highdicom as hd
    import pydicom

    sources = [pydicom.dcmread(f) for f in sorted(series_folder.glob("*.dcm"))]
    cls = {"CT": hd.legacy.LegacyConvertedEnhancedCTImage,
           "MR": hd.legacy.LegacyConvertedEnhancedMRImage}[modality]
    for ds in sources:
        ds.Modality = modality
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = \
            {"CT": CT_STORAGE, "MR": MR_STORAGE}[modality]
    cls(sources, series_instance_uid=hd.UID(), series_number=2, sop_instance_uid=hd.UID(),
        instance_number=1).save_as(path)
    return path
