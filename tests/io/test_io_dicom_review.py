"""The review tool on RTSTRUCT / SEG proposals, corrections saved as DICOM SEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from _dicom import index_to_patient, write_rtstruct, write_series
from _helpers import write_nii
from thyromics.io import read_mask
from thyromics.review.state import ReaderState
from thyromics.review.cases import load_study
from conftest import need_module  # noqa: E402

SPACING = (0.8, 0.8, 2.0)


def _study(tmp_path: Path) -> tuple[Path, list]:
    vol = (np.arange(4 * 16 * 16) % 40).astype(np.int16).reshape(4, 16, 16)
    series = write_series(tmp_path / "ct", vol, spacing=SPACING)
    ij = np.array([[2.5, 3.5, 1], [9.5, 3.5, 1], [9.5, 10.5, 1], [2.5, 10.5, 1]], float)
    write_rtstruct(tmp_path / "rs.dcm", series,
                   {"Body": [index_to_patient(series, SPACING, ij + [[-2.0, -3.0, 0.0]])],
                    "GTV": [index_to_patient(series, SPACING, ij)]})
    (tmp_path / "cases.csv").write_text("case_id,patient_id,image,mask,roi\nc1,p1,ct,rs.dcm,gtv\n")
    return tmp_path / "cases.csv", series


def test_rtstruct_proposal_corrected_and_saved_as_seg(tmp_path: Path) -> None:
    manifest, series = _study(tmp_path)
    study = load_study(manifest)
    proposed = study.mask("c1", "proposed").array
    assert proposed.sum() == 7 * 7 and proposed[1].sum() == 49
    state = ReaderState(study, tmp_path / "review", "anna")
    corrected = proposed.copy()
    corrected[2, 4:8, 4:8] = 1
    row = state.record("c1", "correct", mask=corrected)
    saved = state.folder / row["mask"]
    assert saved.name.endswith(".seg.dcm")
    ds = pydicom.dcmread(saved)
    assert ds.Modality == "SEG" and ds.FrameOfReferenceUID == series[0].FrameOfReferenceUID
    back = read_mask(saved, image=tmp_path / "ct")
    np.testing.assert_array_equal(back.array, corrected)
    np.testing.assert_array_equal(state.current_mask("c1")[0], corrected)
    assert row["changed_voxels"] == "16"


def test_reader_cases_csv_keeps_the_roi_and_reads_back_as_a_manifest(tmp_path: Path) -> None:
    """Two ROIs of one RTSTRUCT under review: a correction, a rejection. The reader's
    cases.csv is a manifest again (the case as reviewed, its roi), and its reviewed SEG
    is read with the same roi."""
    from thyromics.io import load_case, read_manifest
    from thyromics.review.run_agreement import run_agreement

    _study(tmp_path)
    (tmp_path / "two.csv").write_text("case_id,patient_id,image,mask,roi,label\n"
                                      "c1,p1,ct,rs.dcm,gtv,1\nc2,p1,ct,rs.dcm,BODY,0\n")
    state = ReaderState(load_study(tmp_path / "two.csv"), tmp_path / "review", "anna")
    proposed = state.study.mask("c1", "proposed").array
    corrected = proposed.copy()
    corrected[2, 4:8, 4:8] = 1
    state.record("c1", "correct", mask=corrected)
    state.record("c2", "reject", reason="not a lesion")
    manifest = read_manifest(state.manifest_path)
    assert [(c.case_id, c.roi, c.mask.name, c.patient_id, c.label) for c in manifest.cases] == \
        [("c1", "gtv", "rs.dcm", "p1", 1), ("c2", "BODY", "rs.dcm", "p1", 0)]
    frame = manifest.frame.set_index("case_id")
    assert frame.loc["c2", "decision"] == "rejected"
    assert pd.isna(frame.loc["c2", "reviewed_mask"])  # rejected: no reviewed mask
    np.testing.assert_array_equal(load_case(manifest.cases[0])[1].array, proposed)
    reviewed = Path(frame.loc["c1", "reviewed_mask"])
    np.testing.assert_array_equal(read_mask(reviewed, roi="GTV", image=tmp_path / "ct").array,
                                  corrected)
    res = run_agreement(state.manifest_path, ["mask", "reviewed_mask"], tmp_path / "agr",
                        preset=None)
    assert res.n_ok == 1 and [e["case_id"] for e in res.errors] == ["c2"]
    assert res.summary["dice_mean"].iloc[0] == pytest.approx(2 * 49 / (49 + 65))


def test_roi_option_for_rows_without_one_and_a_nifti_reference(tmp_path: Path) -> None:
    """``--roi`` names the RTSTRUCT structure; the NIfTI reference of the same case is a
    voxel mask, to which no roi applies."""
    _study(tmp_path)
    gtv = load_study(tmp_path / "cases.csv").mask("c1", "proposed")
    write_nii(tmp_path / "ref.nii.gz", gtv.array, spacing=gtv.spacing, origin=gtv.origin)
    (tmp_path / "opt.csv").write_text("case_id,image,mask,ref\nc1,ct,rs.dcm,ref.nii.gz\n")
    study = load_study(tmp_path / "opt.csv", reference="ref", roi="GTV")
    np.testing.assert_array_equal(study.mask("c1", "proposed").array, gtv.array)
    np.testing.assert_array_equal(study.mask("c1", "reference").array, gtv.array)
    state = ReaderState(study, tmp_path / "review", "ben")
    state.record("c1", "accept")
    from thyromics.io import read_manifest

    assert [c.roi for c in read_manifest(state.manifest_path).cases] == ["GTV"]


def test_save_as_seg_for_a_nifti_proposal_on_a_dicom_image(tmp_path: Path) -> None:
    _, series = _study(tmp_path)
    m = np.zeros((4, 16, 16), np.uint8)
    m[1:3, 5:9, 5:9] = 1
    from thyromics.io import read_image

    img = read_image(tmp_path / "ct")
    write_nii(tmp_path / "m.nii.gz", m, spacing=img.spacing, origin=img.origin)
    (tmp_path / "n.csv").write_text("case_id,image,mask\nc1,ct,m.nii.gz\n")
    state = ReaderState(load_study(tmp_path / "n.csv"), tmp_path / "r", "ben", save_as="seg")
    row = state.record("c1", "correct", mask=m[::-1].copy())
    assert row["mask"].endswith(".seg.dcm")
    np.testing.assert_array_equal(read_mask(state.folder / row["mask"], image=tmp_path / "ct").array,
                                  m[::-1])
    with pytest.raises(Exception, match="save_as"):
        ReaderState(load_study(tmp_path / "n.csv"), tmp_path / "r", "ben", save_as="png")


@pytest.mark.slow
def test_segment_predict_writes_dicom_seg_for_a_series(tmp_path: Path) -> None:
    """An untrained 3D CBAM U-Net: this test is about the file written, not the mask."""
    need_module("torch")
    from thyromics.deep._loop import save_model
    from thyromics.deep.nets import build_network
    from thyromics.deep.segment import predict_segmentation
    from thyromics.deep.settings import SegmentSettings, settings_to_dict

    _, series = _study(tmp_path)
    (tmp_path / "p.csv").write_text("case_id,patient_id,image,mask\nc1,p1,ct,none.nii.gz\n")
    s = SegmentSettings(network="cbam_unet", network_options={"channels": (4, 8)},
                        spatial_dims=3, patch_3d=(4, 16, 16), spacing_3d=SPACING, epochs=1)
    net_dir = tmp_path / "model"
    net_dir.mkdir()
    net = build_network("cbam_unet", spatial_dims=3, out_channels=1, channels=(4, 8))
    save_model(net_dir / "model.pt", net, {"network": "cbam_unet", "task": "segment",
                                           "spatial_dims": 3, "in_channels": 1,
                                           "out_channels": 1, "img_size": None,
                                           "options": {"channels": (4, 8)},
                                           "settings": settings_to_dict(s)})
    df, errors = predict_segmentation(net_dir, tmp_path / "p.csv", tmp_path / "out",
                                      device="cpu", progress=False)
    assert errors == [] and df["mask_path"][0].endswith("c1.dcm")
    ds = pydicom.dcmread(df["mask_path"][0])
    assert ds.Modality == "SEG" and ds.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    assert {i.ReferencedSOPInstanceUID for r in ds.ReferencedSeriesSequence
            for i in r.ReferencedInstanceSequence} == {x.SOPInstanceUID for x in series}
    back = read_mask(df["mask_path"][0], image=tmp_path / "ct")
    assert back.size == (16, 16, 4)
