"""The case manifest: parsing, every problem reported at once with its row, real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from thyromics.errors import CaseError, InputError
from thyromics.io import ManifestError, load_case, read_manifest, validate_readable


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(arr).save(path)
    return path


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    """Three good cases: images/ and masks/ beside cases.csv."""
    for k in range(1, 4):
        _png(tmp_path / "images" / f"c{k}.png", np.full((6, 7), 10 * k, np.uint8))
        m = np.zeros((6, 7), np.uint8)
        m[2:4, 2:5] = 255
        _png(tmp_path / "masks" / f"c{k}.png", m)
    return tmp_path


def _write(folder: Path, text: str) -> Path:
    (folder / "cases.csv").write_text(text)
    return folder / "cases.csv"


def test_good_manifest(cohort: Path) -> None:
    csv = _write(cohort, "case_id,patient_id,image,mask,label,split,age,sex\n"
                         "c1,p1,images/c1.png,masks/c1.png,1,train,61,F\n"
                         "c2,p1,images/c2.png,masks/c2.png,0,Test,,M\n"
                         "c3,p2,images/c3.png,masks/c3.png,,external,45,F\n")
    m = read_manifest(csv)
    assert [c.case_id for c in m.cases] == ["c1", "c2", "c3"]
    assert [c.row for c in m.cases] == [2, 3, 4]
    assert [c.label for c in m.cases] == [1, 0, None]
    assert [c.split for c in m.cases] == ["train", "test", "external"]
    assert [c.patient_id for c in m.cases] == ["p1", "p1", "p2"]
    assert m.cases[0].image == (cohort / "images" / "c1.png").resolve()
    assert m.cases[0].image.is_absolute()
    assert m.clinical_columns == ["age", "sex"]
    clin = m.clinical_frame()
    assert list(clin.index) == ["c1", "c2", "c3"]
    assert clin.loc["c1", "age"] == 61 and np.isnan(clin.loc["c2", "age"])
    assert pd.api.types.is_numeric_dtype(clin["age"])
    assert m.cases[2].clinical == {"age": 45, "sex": "F"}
    assert "case_id" in m.frame.columns and m.frame["image_path"].iloc[1] == str(m.cases[1].image)
    assert str(m.frame["label"].dtype) == "Int64"


def test_patient_id_defaults_and_true_false(cohort: Path) -> None:
    csv = _write(cohort, "case_id,image,mask,label\n"
                         "c1,images/c1.png,masks/c1.png,True\n"
                         "c2,images/c2.png,masks/c2.png,false\n"
                         "c3,images/c3.png,masks/c3.png,1.0\n")
    m = read_manifest(csv)
    assert [c.patient_id for c in m.cases] == ["c1", "c2", "c3"]
    assert [c.label for c in m.cases] == [1, 0, 1]
    assert m.clinical_columns == [] and m.cases[0].split is None


def test_every_problem_reported_with_rows(cohort: Path) -> None:
    csv = _write(cohort, "case_id,image,mask,label,split\n"
                         "c1,images/c1.png,masks/c1.png,1,train\n"         # row 2: fine
                         "c2,images/nope.png,masks/c2.png,2,train\n"       # row 3: file, label
                         ",images/c3.png,masks/c3.png,0,trian\n"           # row 4: id, split
                         "c1,images/c1.png,masks/gone.png,yes,test\n"      # row 5: dup, file, label
                         "c5,images/c3.png,,0,holdout\n")                  # row 6: mask, split
    with pytest.raises(ManifestError) as err:
        read_manifest(csv)
    e = err.value
    assert isinstance(e, InputError)
    assert "header as row 1" in str(e)
    probs = e.problems
    assert len(probs) == 9, probs

    def has(*parts: str) -> bool:
        return any(all(p in line for p in parts) for line in probs)

    assert has("row 3 (case c2)", "image file not found", "nope.png")
    assert has("row 3 (case c2)", "label '2' is not binary")
    assert has("row 4:", "case_id is empty")
    assert has("row 4", "unknown split 'trian'", "Did you mean 'train'")
    assert has("case_id 'c1' is duplicated on rows 2, 5")
    assert has("row 5 (case c1)", "mask file not found", "gone.png")
    assert has("row 5 (case c1)", "label 'yes'")
    assert has("row 6 (case c5)", "mask path is empty")
    assert has("row 6 (case c5)", "unknown split 'holdout'", "train, test, validation")
    assert not has("row 2")


def test_missing_required_columns_and_other_problems_together(cohort: Path) -> None:
    csv = _write(cohort, "case_id,img,mask,patient_id\n"
                         "c1,images/c1.png,masks/c1.png,p1\n"
                         "c1,images/c2.png,masks/nope.png,\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(csv)
    probs = err.value.problems
    assert any("missing required column(s) image" in p and "row 1" in p for p in probs)
    assert any("duplicated on rows 2, 3" in p for p in probs)
    assert any("row 3" in p and "mask file not found" in p for p in probs)
    assert any("row 3" in p and "patient_id is empty" in p for p in probs)
    assert len(probs) == 4, probs


def test_check_files_false_and_allowed_splits(cohort: Path) -> None:
    csv = _write(cohort, "case_id,image,mask,split\nc1,a.png,b.png,discovery\n")
    m = read_manifest(csv, check_files=False, allowed_splits=("discovery", "replication"))
    assert m.cases[0].split == "discovery"


def test_not_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "cases.csv")
    with pytest.raises(ManifestError, match="no case rows"):
        read_manifest(_write(tmp_path, "case_id,image,mask\n"))


def test_validate_readable(cohort: Path) -> None:
    (cohort / "images" / "c2.png").write_bytes(b"not a png at all" * 10)
    _png(cohort / "masks" / "c3.png", np.zeros((6, 8), np.uint8))
    frames = [PILImage.fromarray(np.full((6, 7), v, np.uint8)) for v in (0, 255)]
    frames[0].save(cohort / "masks" / "c1.gif", save_all=True, append_images=frames[1:])
    csv = _write(cohort, "case_id,image,mask\n"
                         "c1,images/c1.png,masks/c1.gif\n"
                         "c2,images/c2.png,masks/c2.png\n"
                         "c3,images/c3.png,masks/c3.png\n")
    probs = validate_readable(read_manifest(csv))
    assert len(probs) == 3, probs
    assert "row 2 (case c1): mask has 2 frames" in probs[0]
    assert probs[1].startswith("row 3 (case c2): image: cannot read the file as PNG")
    assert probs[2].startswith("row 4 (case c3)") and "(7, 6) differs from mask size (8, 6)" in probs[2]


def test_validate_command(cohort: Path) -> None:
    from typer.testing import CliRunner

    from thyromics.cli import app

    good = _write(cohort, "case_id,image,mask,label\nc1,images/c1.png,masks/c1.png,1\n"
                          "c2,images/c2.png,masks/c2.png,\n")
    res = CliRunner().invoke(app, ["validate", str(good), "--read"])
    assert res.exit_code == 0, res.output
    assert "cases: 2" in res.output and "1: 1, unlabelled: 1" in res.output
    _write(cohort, "case_id,image,mask,label\nc1,images/c1.png,masks/x.png,3\n")
    res = CliRunner().invoke(app, ["validate", str(good)])
    assert res.exit_code == 1
    assert "row 2 (case c1): mask file not found" in res.output and "label '3'" in res.output


# ------------------------------------------------------------------ real data

@pytest.mark.realdata
def test_real_ddti_manifest(ddti_dir: Path) -> None:
    m = read_manifest(ddti_dir / "cases.csv")
    raw = pd.read_csv(ddti_dir / "cases.csv", dtype=str, keep_default_na=False)
    assert len(m.cases) == 525 == len(raw)
    assert m.frame["patient_id"].nunique() == raw["patient_id"].nunique()
    n_empty = int((raw["label"] == "").sum())
    assert n_empty > 0 and sum(c.label is None for c in m.cases) == n_empty
    assert sum(c.label == 1 for c in m.cases) == int((raw["label"] == "1").sum())
    assert m.clinical_columns == ["tirads"]
    case = next(c for c in m.cases if c.case_id == "384_1(2)")
    with pytest.raises(CaseError, match=r"mask is empty \(0 voxels with value") as err:
        load_case(case)
    assert err.value.case_id == "384_1(2)" and err.value.stage == "validate"
    assert err.value.file == str(case.mask)
    image, mask = load_case(m.cases[0])
    assert image.size == mask.size == (300, 300) and mask.array.any()


@pytest.mark.realdata
def test_real_lidc_manifest(lidc_dir: Path) -> None:
    m = read_manifest(lidc_dir / "cases.csv")
    assert len(m.cases) == 788
    assert m.frame["patient_id"].nunique() == 438
    assert {c.label for c in m.cases} == {0, 1}
    assert "diameter_mm" in m.clinical_columns and "case_id" not in m.clinical_columns
    assert pd.api.types.is_float_dtype(m.clinical_frame()["diameter_mm"])
    image, mask = load_case(m.cases[0])
    assert image.ndim == 3 and mask.array.dtype == np.uint8 and mask.array.any()


def test_excel_bom_and_duplicate_header(cohort: Path) -> None:
    (cohort / "cases.csv").write_bytes("\ufeffcase_id,image,mask\nc1,images/c1.png,masks/c1.png\n"
                                       .encode("utf-8"))
    assert read_manifest(cohort / "cases.csv").cases[0].case_id == "c1"
    csv = _write(cohort, "case_id,image,mask,age,age\nc1,images/c1.png,masks/c1.png,1,2\n")
    with pytest.raises(ManifestError, match=r"row 1 \(header\): duplicate column name\(s\) age"):
        read_manifest(csv)
