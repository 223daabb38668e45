"""Masks, image checks, load_case and write_image.

Expected masks are built by hand from the arrays written; error tests check the
stage, the case, the file and the content of the message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _helpers import write_nii as _nii
from PIL import Image as PILImage

from thyromics.errors import CaseError, InputError
from thyromics.io import (Case, Image, check_finite, check_geometry, load_case, read_image,
                          read_mask, write_image)



def _case(image: Path, mask: Path, case_id: str = "c1") -> Case:
    return Case(case_id, image, mask, 2, case_id)


# ------------------------------------------------------------------ masks

def test_mask_0_255_gif_is_binary(tmp_path: Path) -> None:
    m = np.zeros((5, 6), np.uint8)
    m[1:3, 2:5] = 255
    PILImage.fromarray(m).save(tmp_path / "m.gif")
    out = read_mask(tmp_path / "m.gif")
    assert out.array.dtype == np.uint8
    np.testing.assert_array_equal(out.array, (m == 255).astype(np.uint8))


def test_mask_0_1_nifti(tmp_path: Path) -> None:
    m = np.zeros((3, 4, 5), np.uint8)
    m[1, 1:3, 2] = 1
    out = read_mask(_nii(tmp_path / "m.nii.gz", m, spacing=(0.5, 0.5, 2.0)))
    np.testing.assert_array_equal(out.array, m)
    assert out.spacing == (0.5, 0.5, 2.0)


def test_float_mask_with_integer_values_accepted(tmp_path: Path) -> None:
    m = np.zeros((2, 3, 4), np.float32)
    m[0, 1, 1] = 1.0
    np.testing.assert_array_equal(read_mask(_nii(tmp_path / "m.nrrd", m)).array, m.astype(np.uint8))


def _multilabel() -> np.ndarray:
    m = np.zeros((2, 4, 4), np.int16)
    m[0, 0, :2] = 1
    m[1, 2:, 2:] = 11
    m[0, 3, 0] = 2
    return m


def test_multilabel_needs_label(tmp_path: Path) -> None:
    path = _nii(tmp_path / "ml.nii.gz", _multilabel())
    with pytest.raises(CaseError, match=r"found labels 1, 2, 11 .*--label") as err:
        read_mask(path)
    assert err.value.stage == "validate" and err.value.file == str(path)


def test_multilabel_with_label(tmp_path: Path) -> None:
    m = _multilabel()
    path = _nii(tmp_path / "ml.nii.gz", m)
    out = read_mask(path, label=11)
    np.testing.assert_array_equal(out.array, (m == 11).astype(np.uint8))
    assert out.array.sum() == 4


def test_label_absent_lists_values(tmp_path: Path) -> None:
    path = _nii(tmp_path / "ml.nii.gz", _multilabel())
    with pytest.raises(CaseError, match=r"label 5 not found.*values present are 0, 1, 2, 11"):
        read_mask(path, label=5)


def test_non_integer_mask_refused(tmp_path: Path) -> None:
    m = np.zeros((2, 3, 3), np.float32)
    m[0, 0, 0], m[1, 1, 1] = 0.5, 1.0
    with pytest.raises(CaseError, match="non-integer values.*0.5"):
        read_mask(_nii(tmp_path / "p.nii.gz", m))


def test_grey_values_mask_refused(tmp_path: Path) -> None:
    m = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)  # an image passed as mask
    PILImage.fromarray(m).save(tmp_path / "m.png")
    with pytest.raises(CaseError, match="not binary"):
        read_mask(tmp_path / "m.png")


def test_binary_mask_stored_as_rgb(tmp_path: Path) -> None:
    m = np.zeros((4, 4), np.uint8)
    m[1:3, 1:3] = 255
    PILImage.fromarray(np.stack([m] * 3, -1), mode="RGB").save(tmp_path / "g.png")
    red = np.zeros((4, 4, 3), np.uint8)
    red[1:3, 1:3, 0] = 255
    PILImage.fromarray(red, mode="RGB").save(tmp_path / "r.png")
    pal = PILImage.fromarray((m > 0).astype(np.uint8), mode="L").convert("P")
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    pal.save(tmp_path / "p.gif")
    expected = (m > 0).astype(np.uint8)
    for name in ("g.png", "r.png", "p.gif"):
        np.testing.assert_array_equal(read_mask(tmp_path / name).array, expected, err_msg=name)


def test_many_colour_mask_refused(tmp_path: Path) -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    PILImage.fromarray(rgb, mode="RGB").save(tmp_path / "c.png")
    with pytest.raises(CaseError, match="3 distinct colours"):
        read_mask(tmp_path / "c.png")


# ------------------------------------------------------------------ checks

def test_check_finite_counts_nan() -> None:
    a = np.zeros((3, 4, 5), np.float32)
    a[0, 0, :3] = np.nan
    a[2, 2, 2] = np.inf
    with pytest.raises(CaseError, match="3 NaN voxels and 1 infinite voxels out of 60") as err:
        check_finite(Image(a, (1.0, 1.0, 1.0), source="x.nii"), case_id="c9")
    assert err.value.case_id == "c9" and err.value.stage == "validate"
    check_finite(Image(np.zeros((2, 2)), (1.0, 1.0)))  # finite: no error


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".nrrd", ".mha"])
def test_nan_survives_reading(tmp_path: Path, ext: str) -> None:
    # ITK's NIfTI reader turns NaN into 0; the reader must put them back.
    a = np.ones((2, 3, 4), np.float32)
    a[0, 0, 0] = a[1, 2, 3] = np.nan
    a[1, 0, 0] = -np.inf
    image = read_image(_nii(tmp_path / f"n{ext}", a))
    assert np.isnan(image.array[0, 0, 0]) and np.isnan(image.array[1, 2, 3])
    assert image.array[1, 0, 0] == -np.inf and np.isfinite(image.array).sum() == 21
    with pytest.raises(CaseError, match="2 NaN voxels and 1 infinite voxels"):
        check_finite(image)


def _img(shape=(3, 4, 5), spacing=(1.0, 1.0, 2.0), origin=(0.0, 0.0, 0.0)) -> Image:
    return Image(np.zeros(shape, np.int16), spacing, origin)


def test_check_geometry_size_mismatch() -> None:
    with pytest.raises(CaseError) as err:
        check_geometry(_img(), _img(shape=(3, 4, 6)), case_id="c2")
    msg = str(err.value)
    assert "size" in msg and "(5, 4, 3)" in msg and "(6, 4, 3)" in msg and "<-- differs" in msg
    assert "--geometry-tolerance" in msg and "resample_mask" in msg
    assert err.value.case_id == "c2" and err.value.stage == "validate"


def test_check_geometry_tolerance() -> None:
    image = _img(spacing=(0.7, 0.7, 2.5), origin=(10.0, 20.0, 30.0))
    check_geometry(image, _img(spacing=(0.7005, 0.7, 2.5), origin=(10.0, 20.0009, 30.0)))
    with pytest.raises(CaseError, match=r"differ \(origin; tolerance 0.001\)"):
        check_geometry(image, _img(spacing=(0.7, 0.7, 2.5), origin=(10.0, 20.01, 30.0)))
    check_geometry(image, _img(spacing=(0.7, 0.7, 2.5), origin=(10.0, 20.01, 30.0)), tolerance=0.05)
    with pytest.raises(CaseError, match=r"spacing, origin"):
        check_geometry(image, _img(spacing=(0.8, 0.7, 2.5), origin=(0.0, 0.0, 0.0)))


def test_check_geometry_2d_vs_3d() -> None:
    with pytest.raises(CaseError, match="size"):
        check_geometry(_img(shape=(1, 4, 5)), Image(np.zeros((4, 5)), (1.0, 1.0)))


# ------------------------------------------------------------------ load_case

def test_load_case_ok_and_one_voxel_lesion(tmp_path: Path) -> None:
    img = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    m = np.zeros((3, 4, 5), np.uint8)
    m[1, 2, 3] = 1
    case = _case(_nii(tmp_path / "i.nii.gz", img), _nii(tmp_path / "m.nii.gz", m))
    image, mask = load_case(case)
    np.testing.assert_array_equal(image.array, img)
    assert int(mask.array.sum()) == 1 and mask.array[1, 2, 3] == 1


def test_load_case_empty_mask(tmp_path: Path) -> None:
    case = _case(_nii(tmp_path / "i.nii.gz", np.ones((2, 3, 4), np.int16)),
                 _nii(tmp_path / "m.nii.gz", np.zeros((2, 3, 4), np.uint8)), "empty1")
    with pytest.raises(CaseError, match=r"mask is empty \(0 voxels with value") as err:
        load_case(case)
    assert (err.value.case_id, err.value.stage, err.value.file) == ("empty1", "validate",
                                                                    str(case.mask))


def test_load_case_size_mismatch(tmp_path: Path) -> None:
    case = _case(_nii(tmp_path / "i.nii.gz", np.ones((2, 3, 4), np.int16)),
                 _nii(tmp_path / "m.nii.gz", np.ones((2, 3, 5), np.uint8)), "sz")
    with pytest.raises(CaseError, match="geometries differ") as err:
        load_case(case)
    assert err.value.case_id == "sz" and err.value.file == str(case.mask)


def test_load_case_nan_image(tmp_path: Path) -> None:
    a = np.ones((2, 3, 4), np.float32)
    a[0, 0, 0] = np.nan
    case = _case(_nii(tmp_path / "i.nii.gz", a), _nii(tmp_path / "m.nii.gz", np.ones((2, 3, 4), np.uint8)), "n")
    with pytest.raises(CaseError, match="1 NaN voxels") as err:
        load_case(case)
    assert err.value.case_id == "n" and err.value.file == str(case.image)


def test_load_case_corrupt_and_missing(tmp_path: Path) -> None:
    (tmp_path / "i.nii.gz").write_bytes(b"\x00garbage" * 20)
    m = _nii(tmp_path / "m.nii.gz", np.ones((2, 3, 4), np.uint8))
    with pytest.raises(CaseError, match="cannot read") as err:
        load_case(_case(tmp_path / "i.nii.gz", m, "bad"))
    assert (err.value.case_id, err.value.stage, err.value.file) == ("bad", "read",
                                                                    str(tmp_path / "i.nii.gz"))
    with pytest.raises(CaseError, match="not found") as err:
        load_case(_case(m, tmp_path / "nope.nii.gz", "gone"))
    assert err.value.case_id == "gone" and err.value.file == str(tmp_path / "nope.nii.gz")


def test_load_case_multilabel_with_label(tmp_path: Path) -> None:
    m = np.zeros((2, 3, 4), np.uint8)
    m[0, 0, 0], m[1, 1, 1] = 3, 7
    case = _case(_nii(tmp_path / "i.nii.gz", np.ones((2, 3, 4), np.int16)), _nii(tmp_path / "m.nii.gz", m))
    with pytest.raises(CaseError, match="--label"):
        load_case(case)
    _, mask = load_case(case, label=7)
    assert mask.array.sum() == 1 and mask.array[1, 1, 1] == 1


# ------------------------------------------------------------------ write_image

def test_write_nifti_roundtrip_geometry(tmp_path: Path) -> None:
    img = Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (0.75, 0.5, 2.5), (1.5, -2.0, 3.0),
                (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0))
    for ext in (".nii.gz", ".nrrd", ".mha"):
        out = read_image(write_image(img, tmp_path / f"w{ext}"))
        np.testing.assert_array_equal(out.array, img.array)
        assert (out.spacing, out.origin, out.direction) == (img.spacing, img.origin, img.direction)
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_write_png_2d(tmp_path: Path) -> None:
    for dtype, top in ((np.uint8, 255), (np.uint16, 65535)):
        a = np.array([[0, 1, top]], dtype)
        write_image(Image(a, (1.0, 1.0)), tmp_path / "w.png")
        back = np.array(PILImage.open(tmp_path / "w.png"))  # read independently
        np.testing.assert_array_equal(back, a)
    m = Image(np.array([[0, 1], [1, 0]], np.uint8), (1.0, 1.0))
    np.testing.assert_array_equal(read_mask(write_image(m, tmp_path / "m.gif")).array, m.array)


def test_write_refusals(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2D"):
        write_image(_img(), tmp_path / "v.png")
    with pytest.raises(InputError, match="float64"):
        write_image(Image(np.zeros((2, 2)), (1.0, 1.0)), tmp_path / "f.png")
    with pytest.raises(InputError, match="unknown extension"):
        write_image(Image(np.zeros((2, 2), np.uint8), (1.0, 1.0)), tmp_path / "f.xyz")


def test_load_case_frame_applies_to_image_and_mask(tmp_path: Path) -> None:
    imgs = [PILImage.fromarray(np.full((4, 5), v, np.uint8)) for v in (10, 20)]
    imgs[0].save(tmp_path / "i.gif", save_all=True, append_images=imgs[1:])
    m0, m1 = np.zeros((4, 5), np.uint8), np.zeros((4, 5), np.uint8)
    m1[1, 1] = 255
    masks = [PILImage.fromarray(a) for a in (m0, m1)]
    masks[0].save(tmp_path / "m.tif", save_all=True, append_images=masks[1:])
    case = _case(tmp_path / "i.gif", tmp_path / "m.tif", "cine")
    with pytest.raises(CaseError, match="2 frames") as err:
        load_case(case)
    assert err.value.case_id == "cine"
    image, mask = load_case(case, frame=1)
    assert np.all(image.array == 20) and mask.array.sum() == 1 and mask.array[1, 1] == 1
    with pytest.raises(CaseError, match="mask is empty"):
        load_case(case, frame=0)


def test_label_one_on_a_0_255_mask_is_its_foreground(tmp_path):
    from PIL import Image as PILImage

    from thyromics.io import read_mask

    arr = np.zeros((6, 6), np.uint8)
    arr[2:4, 1:5] = 255
    PILImage.fromarray(arr).save(tmp_path / "m.png")
    m = read_mask(tmp_path / "m.png", label=1)
    assert m.array.sum() == 8 and set(np.unique(m.array)) == {0, 1}
