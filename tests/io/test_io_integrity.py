"""Inputs are what they claim to be: cut files, multi-label masks, odd manifests, twins.

Every file is real, written in ``tmp_path`` with SimpleITK, Pillow, tifffile or pydicom
and then cut or altered byte by byte; byte counts in the expected messages are computed
from the arrays written (e.g. 32 x 64 x 64 int16 voxels = 262,144 bytes).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _helpers import write_nii as _nii
from PIL import Image as PILImage
from PIL import ImageFile
from typer.testing import CliRunner

from test_io_readers import write_dicom  # noqa: E402  (same tests folder)
from thyromics.errors import CaseError
from thyromics.io import (Case, load_case, read_image, read_manifest, read_mask, summarize,
                          validate_readable)

SHAPE = (32, 64, 64)  # z, y, x
VOXEL_BYTES = 32 * 64 * 64 * 2  # int16


def _volume() -> np.ndarray:
    return (np.random.default_rng(0).normal(0, 300, SHAPE)).astype(np.int16)



def _cut(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# ------------------------------------------------------------------ NIfTI

def test_truncated_nii_gz_is_refused_not_zero_padded(tmp_path: Path) -> None:
    path = _cut(_nii(tmp_path / "ct.nii.gz", _volume()))
    with pytest.raises(CaseError) as err:
        read_image(path)
    msg = str(err.value)
    assert err.value.stage == "read" and err.value.file == str(path)
    assert msg.startswith(f"file {path}: the file is truncated: the header promises 262,144 "
                          "bytes of voxel data (64 x 64 x 32 voxels x 2 bytes), its gzip stream "
                          "stops before the end marker, after ")
    held = int(re.search(r"after ([\d,]+) bytes", msg).group(1).replace(",", ""))
    assert 0 < held < VOXEL_BYTES and msg.endswith("bytes; re-export or re-copy it.")


def test_truncated_nii_holds_the_bytes_left(tmp_path: Path) -> None:
    path = _nii(tmp_path / "ct.nii", _volume())
    offset = path.stat().st_size - VOXEL_BYTES  # 352: header + extension flag
    path.write_bytes(path.read_bytes()[: offset + 100_000])
    with pytest.raises(CaseError, match=r"the header promises 262,144 bytes of voxel data "
                                        r"\(64 x 64 x 32 voxels x 2 bytes\), the file holds "
                                        r"100,000 bytes; re-export or re-copy it\."):
        read_image(path)


def test_nii_gz_with_a_bad_crc_is_corrupt(tmp_path: Path) -> None:
    path = _nii(tmp_path / "ct.nii.gz", _volume())
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the gzip trailer
    path.write_bytes(bytes(data))
    with pytest.raises(CaseError, match=r"the file is corrupt: the gzip data fails its check "
                                        r"after [\d,]+ decompressed bytes \(CRC check failed"):
        read_image(path)


def test_truncated_mask_is_refused_too(tmp_path: Path) -> None:
    m = np.zeros(SHAPE, np.uint8)
    m[10:20, 20:40, 20:40] = 1
    path = _cut(_nii(tmp_path / "m.nii", m), 0.6)
    with pytest.raises(CaseError, match="the file is truncated: the header promises 131,072 "
                                        "bytes of voxel data"):
        read_mask(path)


def test_whole_files_still_read(tmp_path: Path) -> None:
    arr = _volume()
    for name in ("a.nii", "a.nii.gz"):
        np.testing.assert_array_equal(read_image(_nii(tmp_path / name, arr)).array, arr)


# ------------------------------------------------------------------ DICOM

def test_truncated_dicom_file(tmp_path: Path) -> None:
    arr = np.arange(128 * 128, dtype=np.int16).reshape(128, 128)
    path = write_dicom(tmp_path / "a.dcm", arr)
    path.write_bytes(path.read_bytes()[:-10_000])
    with pytest.raises(CaseError, match=r"the file is truncated: the header promises 32,768 bytes "
                                        r"of pixel data \(Rows x Columns x SamplesPerPixel x "
                                        r"NumberOfFrames x BitsAllocated/8 = 128 x 128 x 1 x 1 x "
                                        r"16/8\), the file holds 22,768 bytes") as err:
        read_image(path)
    assert err.value.file == str(path) and err.value.stage == "read"


def test_dicom_with_short_pixel_data_element(tmp_path: Path) -> None:
    """GDCM pads a PixelData element shorter than Rows x Columns with zeros."""
    from pydicom import dcmread

    path = write_dicom(tmp_path / "a.dcm", np.ones((128, 128), np.int16))
    ds = dcmread(path)
    ds.PixelData = ds.PixelData[: 128 * 64 * 2]
    ds.save_as(path)
    with pytest.raises(CaseError, match="promises 32,768 bytes of pixel data .* the file holds "
                                        "16,384 bytes"):
        read_image(path)


def test_truncated_compressed_dicom(tmp_path: Path) -> None:
    from pydicom import dcmread
    from pydicom.uid import RLELossless

    path = write_dicom(tmp_path / "a.dcm", np.arange(128 * 128, dtype=np.int16).reshape(128, 128))
    ds = dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(path)
    _cut(path, 0.9)
    with pytest.raises(CaseError, match=rf"the file is truncated: its compressed \(encapsulated\) "
                                        rf"pixel data stops before the end-of-sequence marker "
                                        rf"\(the file holds {path.stat().st_size:,} bytes\)"):
        read_image(path)


def test_dicom_series_with_a_cut_slice_names_that_file(tmp_path: Path) -> None:
    from pydicom.uid import generate_uid

    uid = generate_uid()
    files = [write_dicom(tmp_path / f"s{k}.dcm", np.full((16, 16), k, np.int16), series_uid=uid,
                         instance=k + 1, z=2.0 * k) for k in range(4)]
    files[2].write_bytes(files[2].read_bytes()[:-100])
    with pytest.raises(CaseError, match=r"the file is truncated: the header promises 512 bytes "
                                        r"of pixel data .* the file holds 412 bytes") as err:
        read_image(tmp_path)
    assert err.value.file == str(files[2])


# ------------------------------------------------------------------ raster

def test_truncated_tiff_counts_strip_bytes(tmp_path: Path) -> None:
    import tifffile

    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.arange(128 * 128, dtype=np.uint16).reshape(128, 128))
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    offset = size - 32_768  # tifffile writes the IFD first, then the one strip
    with pytest.raises(CaseError, match=rf"the file is truncated: the header promises 32,768 "
                                        rf"bytes of pixel data \(1 strip\(s\) or tile\(s\)\), "
                                        rf"the file holds {size // 2 - offset:,} bytes"):
        read_image(path)


def test_truncated_png_refused_even_if_pillow_was_told_to_pad(tmp_path: Path,
                                                               monkeypatch) -> None:
    """``tiffslide.deepzoom`` sets LOAD_TRUNCATED_IMAGES = True for the whole process."""
    path = tmp_path / "us.png"
    PILImage.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64), np.uint8)).save(path)
    _cut(path)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(CaseError, match=r"the file is truncated: the PNG pixel data stops before "
                                        r"the end of the image"):
        read_image(path)
    with pytest.raises(CaseError, match="the file is truncated"):
        read_mask(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is put back


# ------------------------------------------------------------------ batches

def _tiny_settings():
    from thyromics.features.presets import get_preset

    return get_preset("ct").replace(wavelet=False, log_sigmas=(), feature_classes=("firstorder",))


def _lesion_mask(labels=(1,)) -> np.ndarray:
    m = np.zeros((12, 20, 20), np.uint8)
    for k, lab in enumerate(labels):
        m[3:9, 5 + 5 * k:10 + 5 * k, 5:15] = lab
    return m


def test_truncated_case_lands_in_the_errors_table(tmp_path: Path) -> None:
    from thyromics.features.extract import extract_cohort

    img = np.random.default_rng(0).normal(0, 50, (12, 20, 20)).astype(np.int16)
    _nii(tmp_path / "good.nii.gz", img)
    _cut(_nii(tmp_path / "cut.nii.gz", img))
    _nii(tmp_path / "m.nii.gz", _lesion_mask())
    (tmp_path / "cases.csv").write_text("case_id,image,mask\ngood,good.nii.gz,m.nii.gz\n"
                                        "cut,cut.nii.gz,m.nii.gz\n")
    out = extract_cohort(tmp_path / "cases.csv", _tiny_settings(), tmp_path / "f.parquet", jobs=1)
    assert (out.n_ok, out.n_failed) == (1, 1)
    errors = pd.read_csv(out.errors_path)
    row = errors.set_index("case_id").loc["cut"]
    assert row["stage"] == "read" and row["file"] == str(tmp_path / "cut.nii.gz")
    assert "the file is truncated: the header promises 9,600 bytes of voxel data" in row["error"]
    assert list(pd.read_parquet(out.output)["case_id"]) == ["good"]


def test_multilabel_mask_without_label_refused_by_load_case(tmp_path: Path) -> None:
    img = _nii(tmp_path / "i.nii.gz", np.zeros((12, 20, 20), np.int16))
    mask = _nii(tmp_path / "m.nii.gz", _lesion_mask((1, 2)))
    with pytest.raises(CaseError, match=r"mask is not binary: found labels 1, 2 besides 0; "
                                        r"expected values 0/1 or 0/255\. For a multi-label mask "
                                        r"choose the lesion's value with --label"):
        load_case(Case("c1", img, mask, 2, "c1"))
    assert load_case(Case("c1", img, mask, 2, "c1"), label=2)[1].array.sum() == 6 * 5 * 10


def test_multilabel_mask_without_label_is_a_case_error_in_extraction(tmp_path: Path) -> None:
    from thyromics.features.extract import extract_cohort

    img = np.random.default_rng(0).normal(0, 50, (12, 20, 20)).astype(np.int16)
    _nii(tmp_path / "i.nii.gz", img)
    _nii(tmp_path / "m.nii.gz", _lesion_mask((1, 2)))
    (tmp_path / "cases.csv").write_text("case_id,image,mask\nml,i.nii.gz,m.nii.gz\n")
    out = extract_cohort(tmp_path / "cases.csv", _tiny_settings(), tmp_path / "f.parquet", jobs=1)
    errors = pd.read_csv(out.errors_path)
    assert out.n_failed == 1 and "found labels 1, 2 besides 0" in errors.loc[0, "error"]


# ------------------------------------------------------------------ validate --read

def _row(folder: Path, files: dict[str, np.ndarray], spacing=(1.0, 1.0, 1.0),
         origin=(0.0, 0.0, 0.0)) -> None:
    for name, arr in files.items():
        _nii(folder / name, arr, spacing if name.startswith("m") else (1.0, 1.0, 1.0),
             origin if name.startswith("m") else (0.0, 0.0, 0.0))


def test_validate_readable_reports_every_problem_of_every_row(tmp_path: Path) -> None:
    vol, m = _volume(), (_volume() > 0).astype(np.uint8)
    _row(tmp_path, {"i1.nii.gz": vol, "m1.nii.gz": m})
    _row(tmp_path, {"i2.nii.gz": vol, "m2.nii.gz": m}, spacing=(1.0, 1.0, 2.5))
    _row(tmp_path, {"i3.nii.gz": vol, "m3.nii.gz": m}, origin=(0.0, 0.5, 0.0))
    _cut(tmp_path / "i3.nii.gz")
    _cut(tmp_path / "m3.nii.gz")
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id,image,mask\n" + "".join(f"c{k},i{k}.nii.gz,m{k}.nii.gz\n"
                                                    for k in (1, 2, 3)))
    probs = validate_readable(read_manifest(csv))
    assert len(probs) == 4, probs
    assert probs[0] == ("row 3 (case c2): image spacing (1, 1, 1) differs from mask spacing "
                        "(1, 1, 2.5) (tolerance 0.001). Resample the mask onto the image "
                        "(thyromics.preprocess.resample_mask), or raise --geometry-tolerance "
                        "if the difference is rounding noise.")
    assert probs[1].startswith("row 4 (case c3): image: the file is truncated: the header "
                               "promises 262,144 bytes")
    assert probs[2].startswith("row 4 (case c3): mask: the file is truncated: the header "
                               "promises 131,072 bytes")
    assert probs[3].startswith("row 4 (case c3): image origin (0, 0, 0) differs from mask "
                               "origin (0, 0.5, 0)")
    assert validate_readable(read_manifest(csv).cases[:2], geometry_tolerance=2.0) == []


def test_validate_command_lists_manifest_and_file_problems_together(tmp_path: Path) -> None:
    from thyromics.cli import app

    vol, m = _volume(), (_volume() > 0).astype(np.uint8)
    _row(tmp_path, {"i1.nii.gz": vol, "m1.nii.gz": m, "i2.nii": vol, "m2.nii.gz": m})
    _cut(tmp_path / "i2.nii")
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id,image,mask\nc1,i1.nii.gz,missing.nii.gz\nc2,i2.nii,m2.nii.gz\n")
    res = CliRunner().invoke(app, ["validate", str(csv)])
    assert res.exit_code == 1 and "mask file not found" in res.output
    assert "truncated" not in res.output
    res = CliRunner().invoke(app, ["validate", str(csv), "--read"])
    assert res.exit_code == 1
    assert res.output.count("row 2 (case c1): mask file not found") == 1
    assert "1 problem(s) reading the files" in res.output
    assert "row 3 (case c2): image: the file is truncated: the header promises 262,144" \
        in res.output


def test_validate_command_geometry_tolerance(tmp_path: Path) -> None:
    from thyromics.cli import app

    vol, m = _volume(), (_volume() > 0).astype(np.uint8)
    _row(tmp_path, {"i1.nii.gz": vol, "m1.nii.gz": m}, origin=(0.0, 0.0, 0.01))
    (tmp_path / "cases.csv").write_text("case_id,image,mask\nc1,i1.nii.gz,m1.nii.gz\n")
    res = CliRunner().invoke(app, ["validate", str(tmp_path / "cases.csv"), "--read"])
    assert res.exit_code == 1 and "image origin (0, 0, 0) differs from mask origin " \
                                  "(0, 0, 0.01) (tolerance 0.001)" in res.output
    res = CliRunner().invoke(app, ["validate", str(tmp_path / "cases.csv"), "--read",
                                   "--geometry-tolerance", "0.1"])
    assert res.exit_code == 0, res.output
    assert "OK: every image and mask is readable and whole." in res.output


# ------------------------------------------------------------------ manifests

def _pngs(folder: Path, n: int = 2) -> None:
    for k in range(1, n + 1):
        PILImage.fromarray(np.full((6, 7), 10 * k, np.uint8)).save(folder / f"i{k}.png")
        mask = np.zeros((6, 7), np.uint8)
        mask[2:4, 1:2 + k] = 255  # a different mask for every case
        PILImage.fromarray(mask).save(folder / f"m{k}.png")


def test_semicolon_manifest_is_read(tmp_path: Path) -> None:
    _pngs(tmp_path)
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id;patient_id;image;mask;label;age\n"
                   "c1;p1;i1.png;m1.png;1;61,5\nc2;p2;i2.png;m2.png;0;48\n")
    m = read_manifest(csv)
    assert [c.case_id for c in m.cases] == ["c1", "c2"] and [c.label for c in m.cases] == [1, 0]
    assert m.delimiter == ";" and m.clinical_frame()["age"].tolist() == [61.5, 48.0]
    assert summarize(m).splitlines()[0] == f"manifest {csv} (semicolon-separated)"
    tab = tmp_path / "tab.csv"
    tab.write_text("case_id\timage\tmask\nc1\ti1.png\tm1.png\n")
    assert read_manifest(tab).cases[0].mask == (tmp_path / "m1.png").resolve()


def test_semicolon_manifest_missing_a_column_lists_the_columns(tmp_path: Path) -> None:
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id;patient_id;image\nc1;p1;i1.png\n")
    with pytest.raises(Exception, match=r"missing required column\(s\) mask; found columns "
                                        r"case_id, patient_id, image \(semicolon-separated\)"):
        read_manifest(csv)


def test_rows_that_are_the_same_case_twice(tmp_path: Path) -> None:
    from thyromics.cli import app
    from thyromics.io.manifest import duplicate_cases

    _pngs(tmp_path, 3)
    (tmp_path / "i9.png").write_bytes((tmp_path / "i2.png").read_bytes())
    (tmp_path / "m9.png").write_bytes((tmp_path / "m2.png").read_bytes())
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id,image,mask\nc1,i1.png,m1.png\nc2,i2.png,m2.png\nc3,i3.png,m3.png\n"
                   "c1b,./i1.png,m1.png\nc9,i9.png,m9.png\nc3b,i3.png,m1.png\n")
    warnings = duplicate_cases(read_manifest(csv))
    assert warnings == [
        f"rows 2, 5 (cases c1, c1b) share the same image {tmp_path / 'i1.png'} and mask "
        f"{tmp_path / 'm1.png'}: the same case twice? Remove the extra rows, or fix their paths.",
        "rows 3, 6 (cases c2, c9) have identical image and mask contents under different paths "
        "(images i2.png, i9.png; masks m2.png, m9.png): the same case twice? Remove the extra "
        "rows, or fix their files."]
    res = CliRunner().invoke(app, ["validate", str(csv)])
    assert res.exit_code == 0, res.output
    assert res.output.count("warning: rows") == 2 and "cases: 6" in res.output
