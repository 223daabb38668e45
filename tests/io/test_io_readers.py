"""Reading images in every supported format: geometry, colour, frames, series, errors.

Files are written with SimpleITK, Pillow and pydicom (not with thyromics' writer), and
expected values are hand-computed (BT.601 luma on chosen pixels) or come from the
arrays written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from thyromics.errors import CaseError
from thyromics.io import Image, read_image
from thyromics.io._filetypes import fail

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"


def write_dicom(path: Path, arr: np.ndarray, *, series_uid: str | None = None,
                study_uid: str | None = None, instance: int = 1,
                pixel_spacing: tuple[float, float] = (1.0, 1.0), z: float = 0.0,
                frames: bool = False) -> Path:
    """One DICOM file. ``arr`` is (rows, cols) int16, or (frames, rows, cols) uint8 with
    ``frames=True``. ``pixel_spacing`` is DICOM order: (row spacing = y, column spacing = x)."""
    sop_class = US_MULTIFRAME_STORAGE if frames else CT_STORAGE
    sop_uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = "US" if frames else "CT"
    ds.PatientID = "synthetic"
    ds.PatientName = "synthetic"
    ds.InstanceNumber = instance
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape[-2], arr.shape[-1]
    ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
    if frames:
        ds.NumberOfFrames = arr.shape[0]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImagePositionPatient = [0.0, 0.0, float(z)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceThickness = 2.0
        ds.PixelData = np.ascontiguousarray(arr, dtype="<i2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------ volumes

# Values exactly representable in float32 (NIfTI stores geometry in float32) and a
# direction made of axis flips/permutation, so "exactly preserved" is a fair demand.
SPACING = (0.75, 0.5, 2.5)
ORIGIN = (-12.5, 30.25, -100.0)
DIRECTION = (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0)


def _volume(shape=(4, 5, 6), dtype=np.int16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(-1000, 1000, size=shape).astype(dtype)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd"])
def test_volume_geometry_preserved_exactly(tmp_path: Path, ext: str) -> None:
    arr = _volume()
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(SPACING)
    img.SetOrigin(ORIGIN)
    img.SetDirection(DIRECTION)
    path = tmp_path / f"ct{ext}"
    sitk.WriteImage(img, str(path))
    out = read_image(path)
    assert isinstance(out, Image) and out.ndim == 3
    np.testing.assert_array_equal(out.array, arr)
    assert out.array.dtype == np.int16
    assert out.spacing == SPACING
    assert out.origin == ORIGIN
    assert out.direction == DIRECTION
    assert out.size == (6, 5, 4)


def test_single_slice_volume_stays_3d(tmp_path: Path) -> None:
    arr = _volume((1, 5, 6))
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "one.nii.gz"))
    out = read_image(tmp_path / "one.nii.gz")
    assert out.ndim == 3 and out.array.shape == (1, 5, 6)


def test_4d_nifti_needs_a_frame(tmp_path: Path) -> None:
    import nibabel as nib

    data = np.arange(2 * 3 * 4 * 3, dtype=np.float32).reshape(2, 3, 4, 3)  # x, y, z, t
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "t.nii.gz"))
    with pytest.raises(CaseError, match="3 frames"):
        read_image(tmp_path / "t.nii.gz")
    out = read_image(tmp_path / "t.nii.gz", frame=1)
    np.testing.assert_array_equal(out.array, data[..., 1].transpose(2, 1, 0))


# ------------------------------------------------------------------ 2D raster

def test_png_grey_8_and_16_bit(tmp_path: Path) -> None:
    a8 = np.array([[0, 10, 255], [7, 128, 3]], np.uint8)
    a16 = np.array([[0, 1000, 65535], [7, 300, 3]], np.uint16)
    PILImage.fromarray(a8).save(tmp_path / "a8.png")
    PILImage.fromarray(a16).save(tmp_path / "a16.png")
    o8, o16 = read_image(tmp_path / "a8.png"), read_image(tmp_path / "a16.png")
    np.testing.assert_array_equal(o8.array, a8)
    np.testing.assert_array_equal(o16.array, a16)
    assert o8.ndim == 2 and o8.spacing == (1.0, 1.0) and o8.size == (3, 2)
    assert o16.array.dtype == np.uint16


@pytest.mark.parametrize("ext", [".bmp", ".tif", ".tiff", ".gif"])
def test_lossless_grey_formats(tmp_path: Path, ext: str) -> None:
    a = np.array([[0, 10, 255], [7, 128, 3]], np.uint8)
    PILImage.fromarray(a).save(tmp_path / f"a{ext}")
    np.testing.assert_array_equal(read_image(tmp_path / f"a{ext}").array, a)


def test_float_and_16_bit_tiff(tmp_path: Path) -> None:
    f = np.array([[-1.5, 0.25], [3.0, 1e6]], np.float32)
    u = np.array([[0, 40000], [1, 65535]], np.uint16)
    PILImage.fromarray(f).save(tmp_path / "f.tif")
    PILImage.fromarray(u).save(tmp_path / "u.tiff")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif").array, f)
    np.testing.assert_array_equal(read_image(tmp_path / "u.tiff").array, u)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg"])
def test_jpeg_grey(tmp_path: Path, ext: str) -> None:
    a = np.full((16, 16), 100, np.uint8)
    PILImage.fromarray(a).save(tmp_path / f"a{ext}", quality=100)
    out = read_image(tmp_path / f"a{ext}")
    assert out.ndim == 2 and np.abs(out.array.astype(int) - 100).max() <= 1


# Hand-computed ITU-R BT.601 luma: Y = 0.299 R + 0.587 G + 0.114 B
LUMA_CASES = [((255, 0, 0), 76.245), ((0, 255, 0), 149.685), ((0, 0, 255), 29.07),
              ((10, 20, 30), 18.15), ((200, 100, 50), 124.2)]


def _rgb_row() -> np.ndarray:
    return np.array([[c for c, _ in LUMA_CASES]], np.uint8)


def test_rgb_to_grey_by_bt601(tmp_path: Path) -> None:
    PILImage.fromarray(_rgb_row(), mode="RGB").save(tmp_path / "c.png")
    out = read_image(tmp_path / "c.png")
    assert out.ndim == 2 and out.array.shape == (1, len(LUMA_CASES))
    np.testing.assert_allclose(out.array[0], [y for _, y in LUMA_CASES], atol=1e-9)


def test_rgba_alpha_is_ignored(tmp_path: Path) -> None:
    rgba = np.concatenate([_rgb_row(), np.array([[[0], [50], [255], [1], [128]]], np.uint8)], axis=-1)
    PILImage.fromarray(rgba, mode="RGBA").save(tmp_path / "c.png")
    np.testing.assert_allclose(read_image(tmp_path / "c.png").array[0],
                               [y for _, y in LUMA_CASES], atol=1e-9)


def test_palette_image_converted_first(tmp_path: Path) -> None:
    pal = PILImage.new("P", (3, 1))
    pal.putpalette([255, 0, 0, 10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 9))
    pal.putdata([0, 1, 2])
    pal.save(tmp_path / "p.png")
    np.testing.assert_allclose(read_image(tmp_path / "p.png").array[0], [76.245, 18.15, 124.2],
                               atol=1e-9)


def test_grey_stored_as_rgb_keeps_values(tmp_path: Path) -> None:
    g = np.array([[0, 17, 255]], np.uint8)
    PILImage.fromarray(np.stack([g] * 3, axis=-1), mode="RGB").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.array.dtype == np.uint8
    np.testing.assert_array_equal(out.array, g)


def _frames(n: int = 3) -> list[np.ndarray]:
    return [np.full((4, 5), 40 * (k + 1), np.uint8) for k in range(n)]


@pytest.mark.parametrize("ext", [".gif", ".tif"])
def test_multiframe_refused_unless_frame_chosen(tmp_path: Path, ext: str) -> None:
    frames = [PILImage.fromarray(f) for f in _frames()]
    path = tmp_path / f"cine{ext}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(CaseError, match=r"3 frames.*frame=0\.\.2") as err:
        read_image(path)
    assert err.value.stage == "read" and err.value.file == str(path)
    np.testing.assert_array_equal(read_image(path, frame=2).array, _frames()[2])
    np.testing.assert_array_equal(read_image(path, frame=0).array, _frames()[0])
    with pytest.raises(CaseError, match="frame 3 requested"):
        read_image(path, frame=3)


# ------------------------------------------------------------------ DICOM

def test_single_frame_dicom_is_2d_with_pixel_spacing(tmp_path: Path) -> None:
    a = (np.arange(20, dtype=np.int16).reshape(4, 5) - 7) * 3
    path = write_dicom(tmp_path / "one.dcm", a, pixel_spacing=(0.7, 0.5))
    out = read_image(path)
    assert out.ndim == 2
    np.testing.assert_array_equal(out.array, a)
    # DICOM PixelSpacing is (row spacing = y, column spacing = x); ITK order is (x, y).
    assert out.spacing == pytest.approx((0.5, 0.7))


def test_rgb_dicom_to_grey_by_bt601(tmp_path: Path) -> None:
    from pydicom import dcmread

    path = write_dicom(tmp_path / "rgb.dcm", np.zeros((1, 5), np.int16))
    ds = dcmread(path)
    rgb = _rgb_row()
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    ds.save_as(path, enforce_file_format=True)
    out = read_image(path)
    assert out.ndim == 2
    np.testing.assert_allclose(out.array[0], [y for _, y in LUMA_CASES], atol=1e-9)


def test_dicom_without_extension_detected_by_preamble(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.int16).reshape(2, 3)
    path = write_dicom(tmp_path / "IM0001", a)
    np.testing.assert_array_equal(read_image(path).array, a)


def test_multiframe_dicom_refused_unless_frame_chosen(tmp_path: Path) -> None:
    a = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    path = write_dicom(tmp_path / "cine.dcm", a, frames=True)
    with pytest.raises(CaseError, match="3 frames"):
        read_image(path)
    out = read_image(path, frame=1)
    assert out.ndim == 2
    np.testing.assert_array_equal(out.array, a[1])


def _series(folder: Path, uid: str, n: int, offset: int) -> np.ndarray:
    folder.mkdir(exist_ok=True)
    study = "1.2.826.0.1.3680043.8.498.1"
    vol = (np.arange(n * 4 * 5, dtype=np.int16).reshape(n, 4, 5) + offset)
    for k in range(n):  # written in reverse order: the reader must sort by position
        write_dicom(folder / f"{uid[-3:]}_{n - k}.dcm", vol[n - 1 - k], series_uid=uid,
                    study_uid=study, instance=n - k, z=2.0 * (n - 1 - k),
                    pixel_spacing=(0.8, 0.6))
    return vol


def test_dicom_series_folder(tmp_path: Path) -> None:
    vol = _series(tmp_path / "s", "1.2.826.0.1.3680043.8.498.101", 4, 0)
    out = read_image(tmp_path / "s")
    assert out.ndim == 3
    np.testing.assert_array_equal(out.array, vol)
    assert out.spacing == pytest.approx((0.6, 0.8, 2.0))


def test_dicom_folder_with_two_series(tmp_path: Path) -> None:
    uid_a, uid_b = "1.2.826.0.1.3680043.8.498.201", "1.2.826.0.1.3680043.8.498.202"
    vol_a = _series(tmp_path / "s", uid_a, 3, 0)
    vol_b = _series(tmp_path / "s", uid_b, 2, 500)
    with pytest.raises(CaseError) as err:
        read_image(tmp_path / "s")
    msg = str(err.value)
    assert f"{uid_a} (3 files)" in msg and f"{uid_b} (2 files)" in msg and "series_uid" in msg
    np.testing.assert_array_equal(read_image(tmp_path / "s", series_uid=uid_b).array, vol_b)
    np.testing.assert_array_equal(read_image(tmp_path / "s", series_uid=uid_a).array, vol_a)
    with pytest.raises(CaseError, match="not found"):
        read_image(tmp_path / "s", series_uid="1.2.3")


def test_empty_folder_is_not_a_series(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match="no DICOM series"):
        read_image(tmp_path / "empty")


# ------------------------------------------------------------------ bad input

def test_missing_file(tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "case_01.png")
    with pytest.raises(CaseError, match="not found.*Did you mean 'case_01.png'") as err:
        read_image(tmp_path / "case_1.png")
    assert err.value.stage == "read" and err.value.file == str(tmp_path / "case_1.png")


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    (tmp_path / "x.xyz").write_bytes(b"hello")
    with pytest.raises(CaseError, match=r"unknown file type '\.xyz'.*\.nii\.gz.*\.png.*\.dcm"):
        read_image(tmp_path / "x.xyz")


@pytest.mark.parametrize("name", ["bad.nii.gz", "bad.nrrd", "bad.png", "bad.gif", "bad.dcm",
                                  "bad.mha"])
def test_corrupt_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(1).bytes(300))
    with pytest.raises(CaseError, match="cannot read the file as") as err:
        read_image(path)
    assert err.value.stage == "read" and err.value.file == str(path)
    assert "300 bytes" in str(err.value)


def test_truncated_png(tmp_path: Path) -> None:
    PILImage.fromarray(np.random.default_rng(2).integers(0, 255, (64, 64), dtype=np.uint8)).save(
        tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(CaseError, match=r"the file is truncated: the PNG pixel data stops "
                                        r"before the end of the image \(the file holds 2,114 "
                                        r"bytes.*re-export or re-copy it"):
        read_image(tmp_path / "t.png")


# ------------------------------------------------------------------ real data

@pytest.mark.realdata
@pytest.mark.parametrize("case_id", ["100_1(1)", "101_1(2)"])
def test_real_ddti_png_and_gif(ddti_dir: Path, case_id: str) -> None:
    from thyromics.io import read_mask

    img = read_image(ddti_dir / "images" / f"{case_id}.png")
    mask = read_mask(ddti_dir / "masks" / f"{case_id}.gif")
    expected = np.array(PILImage.open(ddti_dir / "images" / f"{case_id}.png"))
    np.testing.assert_array_equal(img.array, expected)
    raw_mask = np.array(PILImage.open(ddti_dir / "masks" / f"{case_id}.gif"))
    assert set(np.unique(raw_mask)) <= {0, 255}
    np.testing.assert_array_equal(mask.array, (raw_mask == 255).astype(np.uint8))
    assert img.ndim == 2 and img.spacing == (1.0, 1.0) and img.size == mask.size == (300, 300)


@pytest.mark.realdata
def test_real_lidc_nifti_matches_nibabel(lidc_dir: Path) -> None:
    import nibabel as nib

    for name in sorted(p.name for p in (lidc_dir / "images").glob("*.nii.gz"))[:3]:
        img = read_image(lidc_dir / "images" / name)
        ref = nib.load(str(lidc_dir / "images" / name))
        np.testing.assert_array_equal(img.array, np.asarray(ref.dataobj).transpose(2, 1, 0))
        np.testing.assert_allclose(img.spacing, ref.header.get_zooms()[:3], rtol=1e-6)
        assert img.ndim == 3


def test_fail_names_the_file_and_the_stage():
    e = fail(Path("a") / "rs.dcm", "cannot read it")
    assert isinstance(e, CaseError)
    assert (e.file, e.stage, e.reason, e.case_id) == (str(Path("a") / "rs.dcm"), "read",
                                                      "cannot read it", None)
    assert str(e) == f"file {Path('a') / 'rs.dcm'}: cannot read it"
    assert fail("seg.dcm", "no segment 'x'", stage="validate").stage == "validate"
