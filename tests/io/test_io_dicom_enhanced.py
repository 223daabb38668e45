"""Enhanced multi-frame CT / MR read as a volume: equal to the same slices as a classic
series (files written by pydicom, the multi-frame file by highdicom's legacy converter),
with the series' geometry checks, RTSTRUCT and SEG placed on it, and clear refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _dicom import square_contour, write_enhanced, write_rtstruct, write_series
from thyromics.errors import CaseError
from thyromics.io import load_case, read_image, read_mask, validate_readable, write_seg
from thyromics.io._formats import read_header
from thyromics.io.manifest import Case, read_manifest

SPACING = (0.5, 0.75, 2.0)
ORIGIN = (1.0, 2.0, 3.0)
C, S = np.cos(0.3), np.sin(0.3)


def _vol() -> np.ndarray:
    return (np.arange(5 * 6 * 4) % 31).astype(np.int16).reshape(5, 6, 4)


def _pair(tmp_path: Path, modality: str = "CT", **kw) -> tuple[Path, Path, list]:
    series = write_series(tmp_path / "ct", _vol(), spacing=SPACING, origin=ORIGIN, **kw)
    return tmp_path / "ct", write_enhanced(tmp_path / "enh.dcm", tmp_path / "ct", modality), series


@pytest.mark.parametrize("modality, options", [
    ("CT", {}),
    ("CT", {"rescale": [(1.0, -1024.0)] * 5}),
    ("CT", {"rescale": [(1.0, 0.0), (0.5, -10.0), (2.25, 3.0), (1.0, 0.0), (1.0, 0.0)]}),
    ("CT", {"orientation": (C, S, 0.0, 0.0, 0.0, -1.0)}),  # oblique coronal
    ("MR", {}),
])
def test_enhanced_equals_its_classic_series(tmp_path: Path, modality: str, options: dict) -> None:
    folder, enhanced, _ = _pair(tmp_path, modality, **options)
    frames = pydicom.dcmread(enhanced).PerFrameFunctionalGroupsSequence
    z = [float(f.PlanePositionSequence[0].ImagePositionPatient[2]) for f in frames]
    assert z != sorted(z) or options.get("orientation")  # stored out of volume order
    classic, volume = read_image(folder), read_image(enhanced)
    np.testing.assert_array_equal(volume.array, classic.array)
    assert volume.array.dtype == classic.array.dtype
    assert volume.spacing == pytest.approx(SPACING) and volume.origin == pytest.approx(ORIGIN)
    np.testing.assert_allclose(volume.direction, classic.direction, atol=1e-9)
    rows = np.asarray(options.get("orientation", (1, 0, 0, 0, 1, 0)), float)
    np.testing.assert_allclose(np.reshape(volume.direction, (3, 3))[:, 2],
                               np.cross(rows[:3], rows[3:]), atol=1e-9)  # hand-computed normal
    header = read_header(enhanced)
    assert header.size == (4, 6, 5) and header.n_frames == 1
    alone = tmp_path / "alone"  # a folder holding just the file reads the same
    alone.mkdir()
    shutil.copy(enhanced, alone / "enh.dcm")
    np.testing.assert_array_equal(read_image(alone).array, classic.array)


def test_rtstruct_and_seg_on_an_enhanced_image(tmp_path: Path) -> None:
    folder, enhanced, series = _pair(tmp_path)
    contours = [square_contour(series, SPACING, (0.5, 1.5, 2.5, 4.5), k) for k in (1, 2)]
    rs = write_rtstruct(tmp_path / "rs.dcm", series, {"GTV": contours})
    expected = np.zeros((5, 6, 4), np.uint8)
    expected[1:3, 2:5, 1:3] = 1  # centres 1..2 in x, 2..4 in y
    image, mask = load_case(Case("e", enhanced, rs, 2, "p"))
    np.testing.assert_array_equal(mask.array, expected)
    assert mask.origin == pytest.approx(image.origin)
    seg = write_seg(image.with_array(expected), enhanced, tmp_path / "seg.dcm")
    np.testing.assert_array_equal(read_mask(seg, image=enhanced).array, expected)
    np.testing.assert_array_equal(read_mask(seg, image=folder).array, expected)  # by position
    (tmp_path / "cases.csv").write_text("case_id,image,mask\ne,enh.dcm,rs.dcm\n")
    assert validate_readable(read_manifest(tmp_path / "cases.csv")) == []


def _edit(path: Path, change) -> Path:
    ds = pydicom.dcmread(path)
    change(ds.PerFrameFunctionalGroupsSequence)
    ds.save_as(path)
    return path


def _move(frames, k: int, z: float) -> None:
    pos = frames[k].PlanePositionSequence[0]
    pos.ImagePositionPatient = [pos.ImagePositionPatient[0], pos.ImagePositionPatient[1], z]


@pytest.mark.parametrize("change, match", [
    (lambda fr: _move(fr, 0, float(fr[1].PlanePositionSequence[0].ImagePositionPatient[2])),
     r"1 pair\(s\) of slices share a position, e\.g\. frame \d and frame \d .*holds several "
     r"stacks .*dcm2niix"),
    (lambda fr: _move(fr, 0, 13.6), r"uneven slice spacing: .*between frame"),
    (lambda fr: delattr(fr[2], "PlanePositionSequence"),
     r"frame 3 has no ImagePositionPatient \(PlanePositionSequence, neither per frame nor "
     r"shared\).*dcm2niix"),
])
def test_enhanced_refusals_name_the_file_the_frames_and_the_fix(tmp_path: Path, change,
                                                                 match: str) -> None:
    _, enhanced, _ = _pair(tmp_path)
    _edit(enhanced, change)
    with pytest.raises(CaseError, match=match) as e:
        read_image(enhanced)
    assert e.value.file == str(enhanced) and e.value.stage == "read"
    assert e.value.reason.startswith("Legacy Converted Enhanced CT file: ")
    assert "dcm2niix" in e.value.reason


def test_a_frame_of_an_enhanced_volume_is_refused(tmp_path: Path) -> None:
    _, enhanced, _ = _pair(tmp_path)
    with pytest.raises(CaseError, match="frame 2 requested, but this enhanced multi-frame file "
                                        "is one volume"):
        read_image(enhanced, frame=2)
