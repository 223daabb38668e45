"""3D Slicer ``.seg.nrrd``: segments by name, overlapping segments in layers, cropped
segmentations placed onto the image grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _dicom import shared_dicom
from thyromics.errors import CaseError
from thyromics.io import load_case, read_image, read_mask
from thyromics.io.manifest import Case
from thyromics.io.slicer_seg import slicer_segments


@pytest.fixture(scope="module")
def slicer(shared_data: Path) -> Path:
    return shared_dicom("slicer_seg")


@pytest.mark.realdata
def test_seven_segments_by_name_match_the_label_values(slicer: Path) -> None:
    import SimpleITK as sitk

    seg = slicer / "Segmentation.seg.nrrd"
    segments = slicer_segments(seg)
    assert [s.name for s in segments] == ["ribs", "cervical vertebral column",
                                          "thoracic vertebral column", "lumbar vertebral column",
                                          "right lung", "left lung", "tissue"]
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(seg)))  # ITK's own NRRD reader
    ct = read_image(slicer / "CTChest4.nrrd")
    for s in segments:
        mask = read_mask(seg, roi=s.name.upper())
        np.testing.assert_array_equal(mask.array, (labels == s.label_value).astype(np.uint8))
        assert mask.size == ct.size
        np.testing.assert_allclose(mask.origin, ct.origin, atol=1e-6)
        np.testing.assert_allclose(mask.direction, ct.direction, atol=1e-9)
    with pytest.raises(CaseError, match=r"segment 'lung' not found; the file holds 7: "
                                        r"'left lung', 'right lung'"):
        read_mask(seg, roi="lung")
    with pytest.raises(CaseError, match="holds 7 segments"):
        read_mask(seg)
    assert read_mask(seg, label=5).array.sum() == (labels == 5).sum()  # by label value


@pytest.mark.realdata
def test_overlapping_segment_in_its_own_layer(slicer: Path) -> None:
    import nrrd

    flat = slicer / "Segmentation.seg.nrrd"
    layered = slicer / "SegmentationOverlapping.seg.nrrd"
    sphere = read_mask(layered, roi="overlapping sphere").array
    header = nrrd.read_header(str(layered))
    x0, x1, y0, y1, z0, z1 = map(int, header["Segment7_Extent"].split())
    nz = np.argwhere(sphere)
    assert tuple(nz.min(0)) == (z0, y0, x0) and tuple(nz.max(0)) == (z1, y1, x1)
    ribs = read_mask(layered, roi="ribs").array  # layer 0, label 1 -- as the sphere's value
    np.testing.assert_array_equal(ribs, read_mask(flat, roi="ribs").array)
    tissue = read_mask(layered, roi="tissue").array
    assert (sphere & tissue).any()  # it does overlap another segment
    with pytest.raises(CaseError, match="2 segment.s. with label value 1"):
        read_mask(layered, label=1)


@pytest.mark.realdata
def test_cropped_segmentation_is_placed_on_the_image(slicer: Path, tmp_path: Path) -> None:
    import nrrd

    data, header = nrrd.read(str(slicer / "Segmentation.seg.nrrd"))  # Fortran order x, y, z
    nz = np.argwhere(data == 5)  # right lung, cropped as Slicer may save it: to its extent
    lo, hi = nz.min(0), nz.max(0) + 1
    crop = np.where(data == 5, 5, 0).astype(np.uint8)[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    header = dict(header)
    header["space origin"] = header["space origin"] + header["space directions"].T @ lo
    header["sizes"] = np.array(crop.shape)
    out = tmp_path / "cropped.seg.nrrd"
    nrrd.write(str(out), crop, header)
    assert crop.shape != data.shape
    case = Case("c", slicer / "CTChest4.nrrd", out, 2, "p", roi="right lung")
    image, mask = load_case(case)
    full = read_mask(slicer / "Segmentation.seg.nrrd", roi="right lung")
    np.testing.assert_array_equal(mask.array, full.array)
    assert mask.size == image.size
