"""DICOM series checks (gaps, uneven spacing, tilt, mixed planes, duplicates), per-slice
rescale, series listing, and ultrasound pixel size from the calibrated regions."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _dicom import shared_dicom, write_rtstruct, write_series
from thyromics.errors import CaseError
from thyromics.io import read_image
from thyromics.io.dicom_series import DicomWarning, UncalibratedSpacingWarning


def _vol(n: int = 5) -> np.ndarray:
    return (np.arange(n * 6 * 4) % 31).astype(np.int16).reshape(n, 6, 4)


def _z(steps) -> list:
    z = np.concatenate([[0.0], np.cumsum(steps)])
    return [(0.0, 0.0, float(v)) for v in z]


def test_regular_series_geometry(tmp_path: Path) -> None:
    vol = _vol()
    write_series(tmp_path, vol, spacing=(0.5, 0.75, 2.0), origin=(-10, 20, 30))
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.array, vol)
    assert img.spacing == pytest.approx((0.5, 0.75, 2.0))
    assert img.origin == pytest.approx((-10, 20, 30))


def test_oblique_series_geometry(tmp_path: Path) -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    orient = (c, s, 0.0, 0.0, 0.0, -1.0)  # a rotated coronal plane: normal = (-s, c, 0)
    write_series(tmp_path, _vol(), spacing=(0.5, 0.75, 2.0), origin=(1, 2, 3), orientation=orient)
    img = read_image(tmp_path)
    d = np.asarray(img.direction).reshape(3, 3)
    np.testing.assert_allclose(d[:, 0], orient[:3], atol=1e-6)
    np.testing.assert_allclose(d[:, 2], np.cross(orient[:3], orient[3:]), atol=1e-6)
    assert img.spacing[2] == pytest.approx(2.0)


def test_missing_slice_is_named(tmp_path: Path) -> None:
    write_series(tmp_path, _vol(), positions=_z([2.0, 2.0, 4.0, 2.0]))
    with pytest.raises(CaseError, match=r"missing slices: 1 slice\(s\) missing from a series of 5 "
                                        r"at a 2 mm step \(between s003.dcm \(4.00 mm\) and "
                                        r"s002.dcm \(8.00 mm\)"):
        read_image(tmp_path)


def test_uneven_spacing_is_named(tmp_path: Path) -> None:
    write_series(tmp_path, _vol(), positions=_z([2.0, 2.0, 2.6, 2.0]))
    with pytest.raises(CaseError, match=r"uneven slice spacing: steps between slices range from "
                                        r"2.000 to 2.600 mm"):
        read_image(tmp_path)


def test_gantry_tilt_is_named(tmp_path: Path) -> None:
    pos = [(0.0, 0.35 * k, 2.0 * k) for k in range(5)]  # y drifts: the stack is sheared
    series = write_series(tmp_path, _vol(), positions=pos)
    for k, ds in enumerate(series):
        ds.GantryDetectorTilt = 10.0
        ds.save_as(tmp_path / f"s{5 - k:03d}.dcm", enforce_file_format=True)
    with pytest.raises(CaseError, match=r"gantry tilt: slice positions drift 1.40 mm in-plane .*"
                                        r"GantryDetectorTilt = 10 degrees"):
        read_image(tmp_path)


def test_mixed_orientations_are_named(tmp_path: Path) -> None:
    orients = [(1, 0, 0, 0, 1, 0)] * 4 + [(1, 0, 0, 0, 0, -1)]
    write_series(tmp_path, _vol(), orientations=orients)
    with pytest.raises(CaseError, match=r"mixes 2 slice orientation \(ImageOrientationPatient\)s: "
                                        r"\(1.0, 0.0, 0.0, 0.0, 1.0, 0.0\) in 4 file"):
        read_image(tmp_path)


def test_duplicate_positions_are_named(tmp_path: Path) -> None:
    write_series(tmp_path, _vol(4), positions=_z([2.0, 0.0, 2.0]))
    with pytest.raises(CaseError, match="1 pair.s. of slices share a position"):
        read_image(tmp_path)


def test_per_slice_rescale_is_applied_in_floating_point(tmp_path: Path) -> None:
    """ITK keeps the first slice's integer type: with slope 1 there, the others' fractional
    slopes were truncated. The reference is stored value x slope + intercept per slice."""
    vol = _vol(3)
    rescale = [(1.0, 0.0), (0.5, -10.0), (2.25, 3.0)]
    write_series(tmp_path, vol, rescale=rescale)
    img = read_image(tmp_path)
    expected = np.stack([vol[k] * s + i for k, (s, i) in enumerate(rescale)])
    np.testing.assert_array_equal(img.array, expected)
    assert img.array.dtype == np.float64


def test_integer_rescale_keeps_integers(tmp_path: Path) -> None:
    vol = _vol(3)
    write_series(tmp_path, vol, rescale=[(1.0, -1024.0)] * 3)
    img = read_image(tmp_path)
    np.testing.assert_array_equal(img.array, vol.astype(np.int32) - 1024)
    assert np.issubdtype(img.array.dtype, np.integer)


def test_rtstruct_beside_the_series_is_not_a_series(tmp_path: Path) -> None:
    vol = _vol()
    series = write_series(tmp_path, vol)
    pts = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0]], float) + series[-1].ImagePositionPatient
    write_rtstruct(tmp_path / "rs.dcm", series, {"a": [pts]})
    np.testing.assert_array_equal(read_image(tmp_path).array, vol)


def test_two_series_are_listed_with_modality_and_description(tmp_path: Path) -> None:
    a = write_series(tmp_path, _vol(), description="axial 2 mm", prefix="a")
    b = write_series(tmp_path, _vol(3), description="coronal MPR", prefix="b")
    with pytest.raises(CaseError) as err:
        read_image(tmp_path)
    msg = str(err.value)
    assert f"{a[0].SeriesInstanceUID} (5 files) [CT, 'axial 2 mm']" in msg
    assert f"{b[0].SeriesInstanceUID} (3 files) [CT, 'coronal MPR']" in msg
    assert read_image(tmp_path, series_uid=b[0].SeriesInstanceUID).array.shape[0] == 3


# ------------------------------------------------------------------ ultrasound

@pytest.fixture(scope="module")
def us(shared_data: Path) -> Path:
    return shared_dicom("ultrasound")


def _luma_of_palette(path: Path) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    ds = pydicom.dcmread(path)
    rgb = apply_color_lut(ds.pixel_array, ds).astype(np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


@pytest.mark.realdata
def test_ultrasound_spacing_from_the_tissue_region(us: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DicomWarning)  # one tissue region: nothing to say
        img = read_image(us / "OBXXXX1A.dcm")
    assert img.spacing == pytest.approx((0.2622878766, 0.2622878766))  # 0.026229 cm
    np.testing.assert_allclose(img.array, _luma_of_palette(us / "OBXXXX1A.dcm"), atol=1e-9)


@pytest.mark.realdata
def test_ultrasound_with_two_tissue_regions_says_which(us: Path) -> None:
    with pytest.warns(DicomWarning, match=r"2 calibrated 2D tissue regions; the pixel size of "
                                          r"the largest, region 1"):
        img = read_image(us / "gdcm-US-ALOKA-16.dcm")
    assert img.spacing == pytest.approx((0.3826530650, 0.3826530650))
    np.testing.assert_allclose(img.array, _luma_of_palette(us / "gdcm-US-ALOKA-16.dcm"),
                               atol=1e-9)


@pytest.mark.realdata
def test_ultrasound_without_regions_says_the_spacing_is_pixels(us: Path) -> None:
    path = us / "US1_UNCR.dcm"
    with pytest.warns(UncalibratedSpacingWarning) as record:
        img = read_image(path)
    assert len(record) == 1
    text = str(record[0].message)
    assert f"file {path}: ultrasound image without a physical pixel size (no PixelSpacing, " \
           "no SequenceOfUltrasoundRegions): its spacing 1 x 1 is in pixels, not mm" in text
    assert img.spacing == (1.0, 1.0)
    rgb = pydicom.dcmread(path).pixel_array.astype(np.float64)
    np.testing.assert_allclose(img.array, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-9)


@pytest.mark.realdata
def test_uncalibrated_ultrasound_names_the_case_and_goes_into_provenance(
        us: Path, tmp_path: Path) -> None:
    from PIL import Image as PILImage

    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.features.presets import get_preset
    from thyromics.io import load_case
    from thyromics.io.manifest import Case

    rows, cols = pydicom.dcmread(us / "US1_UNCR.dcm").pixel_array.shape[:2]
    m = np.zeros((rows, cols), np.uint8)
    m[rows // 3:rows // 2, cols // 3:cols // 2] = 255
    PILImage.fromarray(m).save(tmp_path / "m.png")
    with pytest.warns(UncalibratedSpacingWarning, match=r"^case 'us1': file .*US1_UNCR.dcm: "):
        load_case(Case("us1", us / "US1_UNCR.dcm", tmp_path / "m.png", 2, "p"))
    with warnings.catch_warnings():  # a calibrated one says nothing of the kind
        warnings.simplefilter("error", UncalibratedSpacingWarning)
        read_image(us / "OBXXXX1A.dcm")
    (tmp_path / "cases.csv").write_text(f"case_id,image,mask\nus1,{us / 'US1_UNCR.dcm'},m.png\n")
    settings = get_preset("us").replace(log_sigmas=(), wavelet=False)
    for run in range(2):  # computed, then from the cache: the note stays
        with pytest.warns(UncalibratedSpacingWarning, match=r"1 case\(s\) have an image whose "
                                                            r"spacing is not physical \('us1'\)"):
            summary = extract_cohort(tmp_path / "cases.csv", settings, tmp_path / "f.parquet")
        assert summary.n_ok == 1 and summary.n_cached == run, summary.errors
        notes = read_features(tmp_path / "f.parquet")[1]["cases"]["us1"]["notes"]
        assert len(notes) == 1 and notes[0].startswith(f"file {us / 'US1_UNCR.dcm'}: ultrasound")
