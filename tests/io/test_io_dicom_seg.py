"""DICOM SEG: the bit-packed phantom, segments by name, fractional frames, frames matched
by position when their source instances are gone, and writing masks as SEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from _dicom import shared_dicom, write_highdicom_seg, write_series
from thyromics.errors import CaseError, InputError
from thyromics.io import Image, load_case, read_image, read_mask
from thyromics.io.dicom_seg import seg_segments, write_seg
from thyromics.io.manifest import Case

SPACING = (0.6, 0.9, 2.5)


def _seg(tmp_path: Path, pixels: np.ndarray, names: list[str], **kw) -> tuple[Path, Path]:
    """A SEG made by highdicom on a synthetic series; ``pixels`` (z, y, x, segments)."""
    return write_highdicom_seg(tmp_path, pixels, names, spacing=SPACING, **kw)


def _pixels() -> np.ndarray:
    px = np.zeros((5, 12, 10, 2), np.uint8)
    px[1:4, 2:7, 3:8, 0] = 1  # "nodule"
    px[2, 8:11, 1:4, 1] = 1   # "node", one slice
    return px


def test_segments_by_name_with_frames_in_another_order(tmp_path: Path) -> None:
    px = _pixels()
    ct, seg = _seg(tmp_path, px, ["Nodule", "Lymph node"])
    assert [(s.name, s.n_frames) for s in seg_segments(seg)] == [("Nodule", 3), ("Lymph node", 1)]
    nodule = read_mask(seg, roi="nodule", image=ct)
    node = read_mask(seg, roi="LYMPH NODE", image=ct)
    np.testing.assert_array_equal(nodule.array, px[..., 0])
    np.testing.assert_array_equal(node.array, px[..., 1])
    assert nodule.spacing == pytest.approx(SPACING)
    with pytest.raises(CaseError, match=r"segment 'lymph' not found; the file holds 2: "
                                        r"'Lymph node', 'Nodule'"):
        read_mask(seg, roi="lymph", image=ct)
    with pytest.raises(CaseError, match="holds 2 segments"):
        read_mask(seg, image=ct)


def test_frames_matched_by_position_when_sources_are_gone(tmp_path: Path) -> None:
    px = _pixels()
    ct, seg = _seg(tmp_path, px, ["Nodule", "node"])
    ds = pydicom.dcmread(seg)  # anonymised: the source instance UIDs no longer exist
    for item in ds.PerFrameFunctionalGroupsSequence:
        for der in item.get("DerivationImageSequence", []):
            for src in der.SourceImageSequence:
                src.ReferencedSOPInstanceUID = generate_uid()
    ds.save_as(seg)
    np.testing.assert_array_equal(read_mask(seg, roi="Nodule", image=ct).array, px[..., 0])


def test_fractional_is_thresholded_at_one_half(tmp_path: Path) -> None:
    px = np.zeros((3, 6, 6, 1), np.float32)
    px[1, 1:5, 1:5, 0] = 0.3
    px[1, 2:4, 2:4, 0] = 0.7
    ct, seg = _seg(tmp_path, px, ["p"], fractional=True)
    expected = np.zeros((3, 6, 6), np.uint8)
    expected[1, 2:4, 2:4] = 1
    np.testing.assert_array_equal(read_mask(seg, image=ct).array, expected)


def test_seg_on_another_series_is_refused(tmp_path: Path) -> None:
    ct, seg = _seg(tmp_path, _pixels(), ["a", "b"])
    other = tmp_path / "other"
    write_series(other, np.zeros((5, 12, 10), np.int16), spacing=SPACING,
                 origin=(-10.0, 20.0, 101.2))  # the same plane grid, other slice positions
    with pytest.raises(CaseError, match="frame of reference"):
        read_mask(seg, roi="a", image=other)
    ds = pydicom.dcmread(seg)
    ds.FrameOfReferenceUID = pydicom.dcmread(next(other.glob("*.dcm"))).FrameOfReferenceUID
    for item in ds.PerFrameFunctionalGroupsSequence:
        for der in item.get("DerivationImageSequence", []):
            for src in der.SourceImageSequence:
                src.ReferencedSOPInstanceUID = generate_uid()
    ds.save_as(seg)
    with pytest.raises(CaseError, match="matches no slice of this series"):
        read_mask(seg, roi="a", image=other)
    shifted = tmp_path / "shifted"
    write_series(shifted, np.zeros((5, 12, 10), np.int16), spacing=SPACING, origin=(0, 0, 30),
                 frame_uid=ds.FrameOfReferenceUID)
    with pytest.raises(CaseError, match="pixels off the image slices' first pixel"):
        read_mask(seg, roi="a", image=shifted)


@pytest.mark.realdata
def test_bit_packed_phantom(shared_data: Path) -> None:
    """23 x 38 frames (not a multiple of 8 bits): the image's 1-pixels are the segment's
    round region; the segment also toggles the 4 corners of every slice (info.txt)."""
    root = shared_dicom("seg_bitpacking_phantom")
    image, mask = load_case(Case("phantom", root / "image", root / "mask" / "mask.dcm", 2,
                                 "phantom", roi="Liver"))
    expected = image.array.astype(bool)
    expected[:, [0, 0, -1, -1], [0, -1, 0, -1]] = True
    np.testing.assert_array_equal(mask.array.astype(bool), expected)
    assert mask.array[1].sum() > 300 and mask.array[0].sum() == 4


# ------------------------------------------------------------------ writing

def test_write_seg_round_trip_references_the_series(tmp_path: Path) -> None:
    vol = (np.arange(4 * 9 * 7) % 50).astype(np.int16).reshape(4, 9, 7)
    series = write_series(tmp_path / "ct", vol, spacing=SPACING)
    image = read_image(tmp_path / "ct")
    a = np.zeros(vol.shape, np.uint8)
    a[1:3, 2:6, 1:5] = 1
    b = np.zeros(vol.shape, np.uint8)
    b[3, 0:2, 0:2] = 1
    out = write_seg({"corrected nodule": image.with_array(a), "second": image.with_array(b)},
                    tmp_path / "ct", tmp_path / "out" / "seg.dcm", algorithm="unet")
    np.testing.assert_array_equal(read_mask(out, roi="corrected nodule", image=tmp_path / "ct").array, a)
    np.testing.assert_array_equal(read_mask(out, roi="second", image=tmp_path / "ct").array, b)
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    referenced = {i.ReferencedSOPInstanceUID
                  for s in ds.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence}
    assert referenced == {s.SOPInstanceUID for s in series}
    assert ds.FrameOfReferenceUID == series[0].FrameOfReferenceUID
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    with pytest.raises(InputError, match="differ from the series"):
        write_seg(Image(a[:, :, :5], SPACING), tmp_path / "ct", tmp_path / "bad.dcm")
