"""RTSTRUCT: the even-odd inside rule on hand-drawn polygons, slice matching, MIRP and
rt-utils as independent references, and features equal to the same case as NIfTI."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from _dicom import (index_to_patient, shared_dicom, square_contour, write_rtstruct,
                    write_series)
from thyromics.errors import CaseError
from thyromics.io import load_case, read_mask
from thyromics.io.dicom_rt import rasterize_polygons, rtstruct_rois
from thyromics.io.manifest import Case

SPACING = (0.5, 0.75, 2.0)


def _square(x0, y0, x1, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)


# ------------------------------------------------------------------ the inside rule

def test_square_inside_rule_counts_centres() -> None:
    out = rasterize_polygons([_square(1.5, 1.5, 5.5, 5.5)], (8, 8))
    expected = np.zeros((8, 8), bool)
    expected[2:6, 2:6] = True  # centres 2..5 lie inside 1.5..5.5
    np.testing.assert_array_equal(out, expected)


def test_hole_and_island_by_even_odd() -> None:
    # outer 0.5..10.5 (centres 1..10), hole 2.5..8.5 (3..8), island 4.5..6.5 (5..6)
    polys = [_square(0.5, 0.5, 10.5, 10.5), _square(2.5, 2.5, 8.5, 8.5)[::-1],
             _square(4.5, 4.5, 6.5, 6.5)]
    out = rasterize_polygons(polys, (12, 12))
    expected = np.zeros((12, 12), bool)
    expected[1:11, 1:11] = True
    expected[3:9, 3:9] = False
    expected[5:7, 5:7] = True
    np.testing.assert_array_equal(out, expected)
    assert out.sum() == 100 - 36 + 4


def test_overlapping_contours_xor() -> None:
    out = rasterize_polygons([_square(0.5, 0.5, 4.5, 4.5), _square(2.5, 0.5, 6.5, 4.5)], (5, 8))
    expected = np.zeros((5, 8), bool)
    expected[1:5, 1:3] = True  # only the first
    expected[1:5, 5:7] = True  # only the second; 3..4 in both -> outside
    np.testing.assert_array_equal(out, expected)


def test_centres_on_edges_follow_pnpoly_and_shared_edges_split() -> None:
    # edges exactly through centres 1 and 4: low-index edges in, high-index edges out
    out = rasterize_polygons([_square(1, 1, 4, 4)], (6, 6))
    expected = np.zeros((6, 6), bool)
    expected[1:4, 1:4] = True
    np.testing.assert_array_equal(out, expected)
    a = rasterize_polygons([_square(1, 1, 3, 4)], (6, 6))
    b = rasterize_polygons([_square(3, 1, 5, 4)], (6, 6))
    assert not (a & b).any()  # the shared edge x = 3 goes to one side only
    np.testing.assert_array_equal(a | b, rasterize_polygons([_square(1, 1, 5, 4)], (6, 6)))


def test_random_and_self_crossing_polygons_match_matplotlib() -> None:
    from matplotlib.path import Path as MplPath

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:40, 0:50]
    centres = np.column_stack([xx.ravel(), yy.ravel()]).astype(float)
    star = np.array([[25 + 15 * np.cos(a), 20 + 15 * np.sin(a)]
                     for a in np.pi / 2 + np.arange(5) * 4 * np.pi / 5]) + 0.123
    shapes = [star]  # a pentagram: its centre pentagon is crossed twice -> a hole
    for _ in range(6):
        n = int(rng.integers(5, 30))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(4, 18, n)
        shapes.append(np.column_stack([24.37 + r * np.cos(ang), 19.71 + r * np.sin(ang)]))
    for poly in shapes:
        ours = rasterize_polygons([poly], (40, 50))
        ref = MplPath(poly).contains_points(centres).reshape(40, 50)  # crossing-number test
        np.testing.assert_array_equal(ours, ref)
    assert not rasterize_polygons([star], (40, 50))[20, 25]


# ------------------------------------------------------------------ synthetic RTSTRUCT

def _ct(tmp_path: Path, n: int = 6, frame_uid="auto"):
    vol = np.arange(n * 20 * 16, dtype=np.int16).reshape(n, 20, 16) % 97
    series = write_series(tmp_path / "ct", vol, spacing=SPACING, frame_uid=frame_uid)
    return vol, series


def _contour(series, square_ijk, k):
    return square_contour(series, SPACING, square_ijk, k)


@pytest.mark.parametrize("references", [True, False])
def test_rtstruct_onto_its_series(tmp_path: Path, references: bool) -> None:
    _, series = _ct(tmp_path)
    contours = [_contour(series, (2.5, 3.5, 9.5, 12.5), k) for k in (1, 2, 3)] + \
        [_contour(series, (4.5, 5.5, 6.5, 8.5), 2)]  # a hole in slice 2
    rs = write_rtstruct(tmp_path / "rs.dcm", series, {"Body": [_contour(series, (0, 0, 15, 19), 0)],
                                                     "GTV nodule": contours},
                        reference_instances=references)
    assert [r.name for r in rtstruct_rois(rs)] == ["Body", "GTV nodule"]
    mask = read_mask(rs, roi="gtv NODULE", image=tmp_path / "ct")
    expected = np.zeros((6, 20, 16), np.uint8)
    expected[1:4, 4:13, 3:10] = 1  # rows 3.5..12.5 -> 4..12, columns 2.5..9.5 -> 3..9
    expected[2, 6:9, 5:7] = 0
    np.testing.assert_array_equal(mask.array, expected)
    assert mask.spacing == pytest.approx(SPACING)


def test_unknown_roi_lists_names_closest_first(tmp_path: Path) -> None:
    _, series = _ct(tmp_path)
    rois = {n: [_contour(series, (2.5, 3.5, 9.5, 12.5), 1)] for n in ("Body", "GTV_1", "Spinal")}
    rs = write_rtstruct(tmp_path / "rs.dcm", series, rois)
    with pytest.raises(CaseError, match=r"ROI 'gtv' not found; the file holds 3: 'GTV_1', ") as e:
        read_mask(rs, roi="gtv", image=tmp_path / "ct")
    assert e.value.file == str(rs) and e.value.stage == "validate"
    with pytest.raises(CaseError, match=r"holds 3 ROIs \('Body', 'GTV_1', 'Spinal'\): choose one"):
        read_mask(rs, image=tmp_path / "ct")


@pytest.mark.parametrize("square, k, options, match", [
    ((2.5, 3.5, 9.5, 12.5), 1.5, {"reference_instances": False},
     "0.50 slices from the nearest slice centre"),
    ((2, 3, 9, 12), 1, {"frame_uid": "1.2.3.4"}, "frame of reference 1.2.3.4"),
    ((-3.5, 3.5, 9.5, 12.5), 1, {}, "reaches outside the image"),
    ((2, 3, 9, 12), 9, {"reference_instances": False}, "outside the image's 6 slices"),
    ((2, 3, 9, 12), 1, {"geometric_type": "POINT"}, "expected CLOSED_PLANAR"),
])
def test_rtstruct_refusals(tmp_path: Path, square, k, options, match) -> None:
    _, series = _ct(tmp_path)
    rs = write_rtstruct(tmp_path / "rs.dcm", series, {"x": [_contour(series, square, k)]},
                        **options)
    with pytest.raises(CaseError, match=match):
        read_mask(rs, image=tmp_path / "ct")


def test_rtstruct_on_a_nifti_image_is_refused(tmp_path: Path) -> None:
    from _helpers import write_nii

    _, series = _ct(tmp_path)
    rs = write_rtstruct(tmp_path / "rs.dcm", series, {"x": [_contour(series, (2, 3, 9, 12), 1)]})
    with pytest.raises(CaseError, match="only a DICOM image carries"):
        read_mask(rs, image=write_nii(tmp_path / "i.nii.gz", np.zeros((6, 20, 16), np.int16)))


def test_load_case_with_roi_column_and_option(tmp_path: Path) -> None:
    _, series = _ct(tmp_path)
    rs = write_rtstruct(tmp_path / "rs.dcm", series,
                        {"A": [_contour(series, (2.5, 3.5, 5.5, 6.5), 1)],
                         "B": [_contour(series, (2.5, 3.5, 9.5, 12.5), 2)]})
    _, a = load_case(Case("c", tmp_path / "ct", rs, 2, "p", roi="a"))
    _, b = load_case(Case("c", tmp_path / "ct", rs, 2, "p"), roi="B")
    assert a.array.sum() == 3 * 3 and b.array.sum() == 7 * 9
    _, a2 = load_case(Case("c", tmp_path / "ct", rs, 2, "p", roi="A"), roi="B")  # column first
    assert a2.array.sum() == 9


def test_same_as_rt_utils_on_a_square_series(tmp_path: Path) -> None:
    """rt-utils (cv2.fillPoly on rounded vertices) as an independent rasteriser: the two
    may differ only on voxels whose centre is within one voxel of a contour edge."""
    try:
        import rt_utils.rtstruct_builder as builder
        from rt_utils import RTStructBuilder
    except ImportError:
        pytest.skip("rt-utils is not installed (optional reference: pip install rt-utils)")
    builder.warnings = warnings  # rt-utils 1.2.7 forgets this import on its warning path
    vol = np.zeros((4, 48, 48), np.int16)
    spacing = (0.8, 0.8, 2.5)
    series = write_series(tmp_path / "ct", vol, spacing=spacing)
    rng = np.random.default_rng(7)
    contours, polys = [], {}
    for k in (1, 2):
        ang = np.sort(rng.uniform(0, 2 * np.pi, 24))
        r = rng.uniform(8, 20, 24)
        ij = np.column_stack([23.3 + r * np.cos(ang), 24.1 + r * np.sin(ang), np.full(24, k)])
        contours.append(index_to_patient(series, spacing, ij))
        polys[k] = ij[:, :2]
    rs = write_rtstruct(tmp_path / "rs.dcm", series, {"tumour": contours})
    ours = read_mask(rs, image=tmp_path / "ct").array.astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rt = RTStructBuilder.create_from(str(tmp_path / "ct"), str(rs))
    theirs = np.transpose(rt.get_roi_mask_by_name("tumour"), (2, 0, 1))
    assert theirs.shape == ours.shape
    dice = 2 * (ours & theirs).sum() / (ours.sum() + theirs.sum())
    assert dice > 0.93  # cv2 also fills the pixels its rounded edges pass through
    yy, xx = np.mgrid[0:48, 0:48]
    for k, poly in polys.items():
        diff = np.argwhere(ours[k] != theirs[k])
        q = np.roll(poly, -1, axis=0)
        for j, i in diff:  # distance from the centre to the nearest edge
            p = np.array([i, j], float)
            t = np.clip(np.einsum("ij,ij->i", p - poly, q - poly) /
                        np.einsum("ij,ij->i", q - poly, q - poly), 0, 1)
            dist = np.linalg.norm(poly + t[:, None] * (q - poly) - p, axis=1).min()
            assert dist <= 1.0, (k, i, j, dist)


# ------------------------------------------------------------------ real data

@pytest.fixture(scope="module")
def sts(shared_data: Path) -> Path:
    return shared_dicom("sts_001")


@pytest.mark.realdata
def test_sts_ct_rtstruct_equals_mirp_rasterisation(sts: Path) -> None:
    """MIRP's own NIfTI of the same GTV is the reference; the RTSTRUCT's slice references
    point to instances that are not there, so slices are matched by position."""
    from thyromics.io import read_image

    image, mask = load_case(Case("sts", sts / "CT" / "image", sts / "CT" / "mask" / "RS.dcm",
                                 2, "sts", roi="gtv_mass_ct"))
    ref = read_mask(sts / "CT_nifti" / "mask" / "mask.nii.gz")
    ref_image = read_image(sts / "CT_nifti" / "image" / "image.nii.gz")
    assert mask.size == ref.size
    np.testing.assert_allclose(mask.origin, ref.origin, atol=1e-4)
    np.testing.assert_allclose(mask.spacing, ref.spacing, atol=1e-5)
    np.testing.assert_array_equal(mask.array, ref.array)
    np.testing.assert_array_equal(image.array, ref_image.array)
    assert int(mask.array.sum()) == 117145


@pytest.mark.realdata
@pytest.mark.parametrize("modality", ["MR_T1", "PET"])
def test_sts_other_modalities_read(sts: Path, modality: str) -> None:
    image, mask = load_case(Case("sts", sts / modality / "image",
                                 sts / modality / "mask" / "RS.dcm", 2, "sts"))
    assert mask.array.any() and image.size == mask.size
    if modality == "PET":  # SUV through a per-slice RescaleSlope: read in floating point
        assert image.array.dtype == np.float64 and 0 < float(image.array.max()) < 100


@pytest.mark.realdata
@pytest.mark.slow
def test_features_from_dicom_rtstruct_equal_nifti(sts: Path, tmp_path: Path) -> None:
    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.features.presets import get_preset

    settings = get_preset("ct").replace(log_sigmas=(), wavelet=False)
    rows = {"dicom": f"sts,sts,{sts / 'CT' / 'image'},{sts / 'CT' / 'mask' / 'RS.dcm'},GTV_Mass_CT",
            "nifti": f"sts,sts,{sts / 'CT_nifti' / 'image' / 'image.nii.gz'},"
                     f"{sts / 'CT_nifti' / 'mask' / 'mask.nii.gz'},"}
    tables = {}
    for name, row in rows.items():
        csv = tmp_path / f"{name}.csv"
        csv.write_text("case_id,patient_id,image,mask,roi\n" + row + "\n")
        summary = extract_cohort(csv, settings, tmp_path / f"{name}.parquet", jobs=1,
                                 cache_dir=tmp_path / f"cache_{name}")
        assert summary.n_ok == 1, summary.errors
        tables[name] = read_features(tmp_path / f"{name}.parquet")[0]
    a, b = tables["dicom"], tables["nifti"]
    features = [c for c in a.columns if c.startswith("original_")]
    assert len(features) > 90
    # MIRP's NIfTI stores the spacing as float32 (0.9765620231628418 for DICOM's 0.976562
    # mm), which moves the features scaled by the voxel size (shape, TotalEnergy) by ~4e-8
    # relative; every other feature is exactly equal
    shape = [c for c in features if "_shape_" in c or c.endswith("TotalEnergy")]
    np.testing.assert_allclose(a[shape].to_numpy(), b[shape].to_numpy(), rtol=1e-6)
    rest = [c for c in features if c not in shape]
    np.testing.assert_array_equal(a[rest].to_numpy(), b[rest].to_numpy())


def test_roi_on_a_voxel_mask(tmp_path: Path) -> None:
    from _helpers import write_nii

    img = write_nii(tmp_path / "i.nii.gz", np.zeros((3, 4, 4), np.int16))
    m = np.zeros((3, 4, 4), np.uint8)
    m[1, 1:3, 1:3] = 1
    msk = write_nii(tmp_path / "m.nii.gz", m)
    with pytest.raises(CaseError, match="names no structures"):  # the row's own roi
        load_case(Case("c", img, msk, 2, "p", roi="GTV"))
    _, mask = load_case(Case("c", img, msk, 2, "p"), roi="GTV")  # the option: not applied
    assert mask.array.sum() == 4
