"""``--lesions labels`` on RTSTRUCT, DICOM SEG and Slicer masks: each structure / segment
one lesion, named; hand-built expected voxels, ITK's label map and MIRP's mask as
references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _dicom import rtstruct_study, shared_dicom, write_highdicom_seg
from thyromics.errors import CaseError
from thyromics.io import load_lesions, read_mask
from thyromics.io.manifest import Case

SPACING = (0.5, 0.75, 2.0)


def _rtstruct_case(tmp_path: Path, roi: str | None = None) -> tuple[Case, np.ndarray, np.ndarray]:
    ct, rs, expected = rtstruct_study(tmp_path, SPACING)
    return Case("c1", ct, rs, 2, "p1", roi=roi), expected["GTV 1"], expected["node"]


def test_each_rtstruct_roi_is_a_lesion_and_markers_are_named(tmp_path: Path) -> None:
    case, first, second = _rtstruct_case(tmp_path)
    image, lesions, info = load_lesions(case, "labels")
    assert [name for name, _ in lesions] == ["GTV 1", "node"]
    np.testing.assert_array_equal(lesions[0][1].array, first)
    np.testing.assert_array_equal(lesions[1][1].array, second)
    assert lesions[0][1].spacing == pytest.approx(SPACING) and image.size == (16, 20, 6)
    assert info == {"n_found": 2, "dropped": 0, "min_voxels": 1,
                    "skipped": ["Marker (POINT contours only)"]}
    _, kept, info = load_lesions(case, "labels", min_voxels=10)  # node has 9 voxels
    assert [name for name, _ in kept] == ["GTV 1"] and info["dropped"] == 1
    with pytest.raises(CaseError, match=r"holds 2 structure\(s\), all smaller .*left out: "
                                        r"Marker \(POINT contours only\)") as e:
        load_lesions(case, "labels", min_voxels=1000)
    assert e.value.case_id == "c1"


def test_a_chosen_roi_is_refused_in_labels_mode(tmp_path: Path) -> None:
    case, first, _ = _rtstruct_case(tmp_path, roi="gtv 1")
    with pytest.raises(CaseError, match="roi 'gtv 1' chooses one") as e:
        load_lesions(case, "labels")
    assert e.value.case_id == "c1" and e.value.file == str(case.mask)
    _, parts, _ = load_lesions(case, "components")  # the one structure, split
    assert len(parts) == 1
    np.testing.assert_array_equal(parts[0][1].array, first)


def test_each_seg_segment_is_a_lesion(tmp_path: Path) -> None:
    px = np.zeros((5, 12, 10, 3), np.uint8)
    px[1:4, 2:7, 3:8, 0] = 1
    px[2, 8:11, 1:4, 1] = 1
    px[2:4, 3:5, 4:6, 2] = 1  # overlaps the first: a label image could not hold both
    ct, seg = write_highdicom_seg(tmp_path, px, ["Nodule", "Lymph node", "Core"])
    _, lesions, info = load_lesions(Case("s", ct, seg, 2, "p"), "labels")
    assert [name for name, _ in lesions] == ["Nodule", "Lymph node", "Core"]
    for k, (_, mask) in enumerate(lesions):
        np.testing.assert_array_equal(mask.array, px[..., k])
    assert info["n_found"] == 3 and info["skipped"] == []


@pytest.mark.realdata
def test_slicer_segments_are_lesions_even_when_they_overlap(shared_data: Path) -> None:
    import SimpleITK as sitk

    slicer = shared_dicom("slicer_seg")
    flat = slicer / "Segmentation.seg.nrrd"
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(flat)))  # ITK's own NRRD reader
    _, lesions, info = load_lesions(Case("chest", slicer / "CTChest4.nrrd", flat, 2, "p"), "labels")
    assert [name for name, _ in lesions] == [
        "ribs", "cervical vertebral column", "thoracic vertebral column",
        "lumbar vertebral column", "right lung", "left lung", "tissue"]
    for value, (_, mask) in enumerate(lesions, start=1):  # label values 1..7 in file order
        np.testing.assert_array_equal(mask.array, (labels == value).astype(np.uint8))
    layered = slicer / "SegmentationOverlapping.seg.nrrd"
    _, lesions, info = load_lesions(Case("chest", slicer / "CTChest4.nrrd", layered, 2, "p"),
                                    "labels")
    by_name = dict(lesions)
    assert len(lesions) == 8 and info["dropped"] == 0
    sphere = by_name["overlapping sphere"].array
    assert (sphere & by_name["tissue"].array).any()  # kept whole, overlap and all
    np.testing.assert_array_equal(sphere, read_mask(layered, roi="overlapping sphere").array)


@pytest.mark.realdata
def test_sts_rtstruct_labels_equals_mirp(shared_data: Path) -> None:
    sts = shared_dicom("sts_001")
    _, lesions, _ = load_lesions(Case("sts", sts / "CT" / "image", sts / "CT" / "mask" / "RS.dcm",
                                      2, "sts"), "labels")
    ref = read_mask(sts / "CT_nifti" / "mask" / "mask.nii.gz")  # MIRP's rasterisation
    assert [name for name, _ in lesions] == ["GTV_Mass_CT"]
    np.testing.assert_array_equal(lesions[0][1].array, ref.array)


def test_extract_labels_rows_equal_one_row_per_roi(tmp_path: Path) -> None:
    """One row per structure from ``--lesions labels`` = the same structures chosen by
    name one per manifest row (the single-lesion path)."""
    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.features.presets import get_preset

    _rtstruct_case(tmp_path)
    (tmp_path / "one.csv").write_text("case_id,patient_id,image,mask,age\nc1,p1,ct,rs.dcm,61\n")
    (tmp_path / "rows.csv").write_text("case_id,patient_id,image,mask,roi,age\n"
                                       "a,p1,ct,rs.dcm,GTV 1,61\nb,p1,ct,rs.dcm,node,61\n")
    settings = get_preset("ct").replace(log_sigmas=(), wavelet=False)
    summary = extract_cohort(tmp_path / "one.csv", settings, tmp_path / "l.parquet", jobs=1,
                             lesions="labels")
    assert summary.n_ok == 1, summary.errors
    table, prov = read_features(tmp_path / "l.parquet")
    assert table["case_id"].tolist() == ["c1_LGTV 1", "c1_Lnode"]
    assert table["lesion_id"].tolist() == ["GTV 1", "node"]
    assert table["parent_case_id"].tolist() == ["c1", "c1"] and table["age"].tolist() == [61, 61]
    assert prov["cases"]["c1"]["lesions"]["skipped"] == ["Marker (POINT contours only)"]
    assert extract_cohort(tmp_path / "rows.csv", settings, tmp_path / "r.parquet",
                          jobs=1).n_ok == 2
    rows, _ = read_features(tmp_path / "r.parquet")
    feats = [c for c in rows.columns if c.startswith("original_")]
    np.testing.assert_array_equal(table[feats].to_numpy(), rows[feats].to_numpy())
    assert rows["original_shape_VoxelVolume"].tolist() == pytest.approx(
        [3 * 9 * 7 * np.prod(SPACING), 9 * np.prod(SPACING)])
