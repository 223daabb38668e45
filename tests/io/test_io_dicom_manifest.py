"""``thyromics manifest``: a DICOM tree -> cases.csv -> extract; and one row per lesion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from _dicom import square_contour, write_rtstruct, write_series
from _helpers import write_nii
from thyromics.cli import app
from thyromics.io import read_image, read_manifest, validate_readable
from thyromics.io.dicom_seg import write_seg
from thyromics.io.scan import scan_dicom

SPACING = (0.7, 0.7, 2.0)


def _square(series, x0, y0, x1, y1, k):
    return square_contour(series, SPACING, (x0, y0, x1, y1), k)


def _tree(root: Path) -> Path:
    rng = np.random.default_rng(0)
    vol = rng.integers(-100, 100, (5, 24, 20)).astype(np.int16)
    a = write_series(root / "A" / "study1" / "CT", vol, spacing=SPACING, patient_id="A")
    write_rtstruct(root / "A" / "study1" / "RT" / "rs.dcm", a,
                   {"GTV_1": [_square(a, 3.5, 4.5, 9.5, 12.5, k) for k in (1, 2, 3)],
                    "Body": [_square(a, 0, 0, 19, 23, k) for k in range(5)]})
    write_series(root / "B" / "CT", vol[::-1].copy(), spacing=SPACING, patient_id="B")
    image = read_image(root / "B" / "CT")
    m = np.zeros(vol.shape, np.uint8)
    m[2:4, 5:12, 6:13] = 1
    write_seg({"Nodule left": image.with_array(m)}, root / "B" / "CT", root / "B" / "seg.dcm")
    # anonymised: the referenced series is gone; a PET in the same frame of reference
    # lies further away in the tree than the CT beside it
    c = write_series(root / "C" / "exam" / "CT", vol, spacing=SPACING, patient_id="C")
    write_series(root / "C" / "other" / "PET", vol, spacing=SPACING, patient_id="C",
                 frame_uid=c[0].FrameOfReferenceUID, study_uid=c[0].StudyInstanceUID)
    rs = write_rtstruct(root / "C" / "exam" / "rt.dcm", c,
                        {"gtv": [_square(c, 2.5, 2.5, 8.5, 8.5, 2)]}, reference_instances=False)
    import pydicom

    ds = pydicom.dcmread(rs)
    ser = ds.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    ser.RTReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.999"
    ds.save_as(rs)
    return root


def test_scan_finds_every_structure_and_its_series(tmp_path: Path) -> None:
    root = _tree(tmp_path / "pacs")
    result = scan_dicom(root)
    got = {(r["patient_id"], r["roi"], r["image"].relative_to(root).as_posix())
           for r in result.rows}
    assert got == {("A", "GTV_1", "A/study1/CT"), ("A", "Body", "A/study1/CT"),
                   ("B", "Nodule left", "B/CT"), ("C", "gtv", "C/exam/CT")}
    assert result.problems == []
    only = scan_dicom(root, roi_pattern="GTV*")
    assert sorted(r["case_id"] for r in only.rows) == ["A_GTV_1", "C_gtv"]
    assert "Body (rs.dcm)" in only.skipped_rois


def test_manifest_command_then_validate_and_extract(tmp_path: Path) -> None:
    root = _tree(tmp_path / "pacs")
    out = tmp_path / "study" / "cases.csv"
    runner = CliRunner()
    res = runner.invoke(app, ["manifest", str(root), "-o", str(out), "--roi-pattern", "*n*"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["case_id", "patient_id", "study_uid", "series_uid", "image",
                                   "mask", "roi", "label"]
    assert set(table["roi"]) == {"Nodule left"}  # the only name with an 'n'
    assert table["image"].iloc[0] == "../pacs/B/CT"
    manifest = read_manifest(out)
    assert manifest.clinical_columns == []
    assert validate_readable(manifest) == []
    assert runner.invoke(app, ["manifest", str(root), "-o", str(out)]).exit_code == 2  # exists
    res = runner.invoke(app, ["manifest", str(root), "-o", str(out), "--force"])
    assert res.exit_code == 0 and len(pd.read_csv(out)) == 4

    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.features.presets import get_preset

    settings = get_preset("ct").replace(log_sigmas=(), wavelet=False)
    summary = extract_cohort(out, settings, tmp_path / "f.parquet", jobs=1)
    assert summary.n_ok == 4, summary.errors
    features, _ = read_features(tmp_path / "f.parquet")
    by_id = features.set_index("case_id")
    assert by_id.loc["A_GTV_1", "original_shape_VoxelVolume"] == pytest.approx(
        3 * 8 * 6 * np.prod(SPACING))


# ------------------------------------------------------------------ one row per lesion

def _cohort(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    img = rng.normal(100, 20, (10, 30, 30)).round()
    lab = np.zeros(img.shape, np.int16)
    lab[1:5, 2:10, 2:10] = 1   # 256 voxels
    lab[6:9, 15:25, 14:22] = 3  # 240 voxels
    lab[9, 0, 29] = 2           # a 1-voxel speck (a third component, label 2)
    write_nii(tmp_path / "img.nii.gz", img, spacing=(0.8, 0.8, 2.0))
    write_nii(tmp_path / "lab.nii.gz", lab, spacing=(0.8, 0.8, 2.0))
    write_nii(tmp_path / "bin.nii.gz", (lab > 0).astype(np.uint8), spacing=(0.8, 0.8, 2.0))
    for name, sel in (("m1", lab == 1), ("m3", lab == 3)):
        write_nii(tmp_path / f"{name}.nii.gz", sel.astype(np.uint8), spacing=(0.8, 0.8, 2.0))
    (tmp_path / "cases.csv").write_text("case_id,patient_id,image,mask,label,age\n"
                                        "c1,p1,img.nii.gz,bin.nii.gz,1,61\n")
    (tmp_path / "labels.csv").write_text("case_id,patient_id,image,mask,label,age\n"
                                         "c1,p1,img.nii.gz,lab.nii.gz,1,61\n")
    (tmp_path / "single.csv").write_text("case_id,patient_id,image,mask,label,age\n"
                                         "a,p1,img.nii.gz,m1.nii.gz,1,61\n"
                                         "b,p1,img.nii.gz,m3.nii.gz,1,61\n")
    return tmp_path, img, lab


@pytest.mark.parametrize("mode", ["components", "labels"])
def test_one_row_per_lesion_equals_one_mask_per_lesion(tmp_path: Path, mode: str) -> None:
    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.features.presets import get_preset

    folder, _, _ = _cohort(tmp_path)
    settings = get_preset("ct").replace(log_sigmas=(), wavelet=False)
    csv = folder / ("cases.csv" if mode == "components" else "labels.csv")
    summary = extract_cohort(csv, settings, folder / f"{mode}.parquet", jobs=1, lesions=mode,
                             min_lesion_voxels=2)
    assert summary.n_ok == 1, summary.errors
    table, prov = read_features(folder / f"{mode}.parquet")
    ids = ["c1_L1", "c1_L2"] if mode == "components" else ["c1_L1", "c1_L3"]
    assert table["case_id"].tolist() == ids
    assert table["parent_case_id"].tolist() == ["c1", "c1"]
    assert table["patient_id"].tolist() == ["p1", "p1"] and table["age"].tolist() == [61, 61]
    assert prov["cases"]["c1"]["lesions"]["dropped"] == 1  # the 1-voxel speck
    assert prov["columns"]["id"][-2:] == ["parent_case_id", "lesion_id"]
    extract_cohort(folder / "single.csv", settings, folder / "single.parquet", jobs=1)
    single, _ = read_features(folder / "single.parquet")
    feats = [c for c in single.columns if c.startswith("original_")]
    np.testing.assert_array_equal(table[feats].to_numpy(), single[feats].to_numpy())


def test_lesion_id_columns_are_not_predictors() -> None:
    from thyromics.models.blocks import block_columns

    table = pd.DataFrame({"case_id": ["a_L1"], "patient_id": ["p"], "label": [1],
                          "parent_case_id": ["a"], "lesion_id": ["1"], "age": [3.0],
                          "original_firstorder_Mean": [1.0]})
    assert block_columns(table)["clinical"] == ["age"]


def test_too_small_lesions_are_an_error_with_reason(tmp_path: Path) -> None:
    from thyromics.features.extract import extract_cohort
    from thyromics.features.presets import get_preset

    folder, _, _ = _cohort(tmp_path)
    summary = extract_cohort(folder / "cases.csv", get_preset("ct").replace(
        log_sigmas=(), wavelet=False), folder / "x.parquet", jobs=1, lesions="components",
        min_lesion_voxels=10_000)
    assert summary.n_failed == 1
    assert "no lesion of at least 10000 voxel(s): the mask holds 3 component(s)" in \
        summary.errors[0]["error"]
