"""``roi`` wherever a mask is read: ``thyromics agreement`` and the deep-learning loader take
the manifest's ``roi`` column and ``--roi`` as extraction does (through the same reader).
Expected voxels are built by hand (``rtstruct_study``), Dice from their counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from _dicom import rtstruct_study
from _helpers import write_nii
from thyromics.io import read_image
from conftest import need_module  # noqa: E402

SPACING = (0.5, 0.75, 2.0)


def _study(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """c1: ROI 'GTV 1' named in its row, edited (one slice of three removed);
    c2: no roi cell (the option's: 'node'), edited (three voxels added)."""
    ct, rs, expected = rtstruct_study(tmp_path, SPACING)
    image = read_image(ct)
    gtv = expected["GTV 1"].copy()
    gtv[3] = 0
    node = expected["node"].copy()
    node[4, 14, 11:14] = 1
    for name, arr in (("gtv_edit", gtv), ("node_edit", node)):
        write_nii(tmp_path / f"{name}.nii.gz", arr, spacing=image.spacing, origin=image.origin)
    (tmp_path / "cases.csv").write_text(
        "case_id,patient_id,image,mask,roi,edited\n"
        "c1,p1,ct,rs.dcm,GTV 1,gtv_edit.nii.gz\nc2,p1,ct,rs.dcm,,node_edit.nii.gz\n")
    return tmp_path / "cases.csv", expected


def test_agreement_takes_the_roi_column_and_option(tmp_path: Path) -> None:
    from thyromics.review.run_agreement import run_agreement

    manifest, _ = _study(tmp_path)
    res = run_agreement(manifest, ["mask", "edited"], tmp_path / "a", preset=None, roi="node")
    assert res.n_ok == 2, res.errors
    per_case = pd.read_csv(tmp_path / "a" / "per_case.csv")
    # GTV 1: 189 voxels vs 126 of them; node: 9 voxels vs those 9 and 3 more
    np.testing.assert_allclose(per_case["dice"], [2 * 126 / (189 + 126), 2 * 9 / (9 + 12)])
    res = run_agreement(manifest, ["mask", "edited"], tmp_path / "b", preset=None)  # no option
    assert res.n_ok == 1 and res.errors[0]["case_id"] == "c2"
    assert "holds 3 ROIs ('GTV 1', 'Marker', 'node'): choose one" in res.errors[0]["error"]


def test_agreement_source_table_brings_its_own_roi(tmp_path: Path) -> None:
    from thyromics.review.run_agreement import run_agreement

    manifest, _ = _study(tmp_path)
    (tmp_path / "reader.csv").write_text("case_id,mask,roi\nc1,rs.dcm,GTV 1\nc2,rs.dcm,node\n")
    res = run_agreement(manifest, ["edited", f"{tmp_path / 'reader.csv'}:mask"], tmp_path / "a",
                        preset=None)
    assert res.n_ok == 2, res.errors  # c2's structure comes from reader.csv, not an option
    per_case = pd.read_csv(tmp_path / "a" / "per_case.csv")
    np.testing.assert_allclose(per_case["dice"], [2 * 126 / (189 + 126), 2 * 9 / (9 + 12)])


def test_deep_loader_takes_the_roi_column_and_option(tmp_path: Path) -> None:
    need_module("torch")
    from thyromics.deep._io import load_case_images, read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.settings import DataSettings

    manifest, expected = _study(tmp_path)
    cases = read_cases(manifest, roi="node")
    masks = [load_case_images(c)[1].array for c in cases]
    np.testing.assert_array_equal(masks[0], expected["GTV 1"])  # the row's roi first
    np.testing.assert_array_equal(masks[1], expected["node"])
    settings = DataSettings(spatial_dims=3, spacing_3d=SPACING, patch_3d=(4, 12, 10))
    samples = build_samples(cases, settings)
    assert samples.case_ids == ["c1", "c2"] and samples.errors == []
    assert samples.masks.reshape(2, -1).sum(axis=1).tolist() == [189, 9]
    samples = build_samples(read_cases(manifest), settings)  # no option: c2 names no ROI
    assert samples.case_ids == ["c1"]
    assert "holds 3 ROIs" in dict(samples.errors)["c2"]
