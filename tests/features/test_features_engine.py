"""The single-case engine, presets, settings and the catalogue."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from thyromics.errors import CaseError, InputError
from thyromics.features.catalogue import FAMILIES, catalogue, parse_column
from thyromics.features.engine import (FeatureResult, expected_columns, extract_features,
                                       image_type_names)
from thyromics.features.fractal import box_counting_dimension
from thyromics.features.presets import PRESETS, get_preset
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image

SMALL = ExtractionSettings(log_sigmas=(1.0, 5.0), wavelet=False, feature_classes=("firstorder",))


def _blob_case(shape=(12, 24, 24), spacing=(0.8, 0.8, 2.0), seed=0, value=1):
    """A noisy ellipsoid lesion (deterministic)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.indices(shape)
    c = [(n - 1) / 2 for n in shape]
    r = ((z - c[0]) / (shape[0] / 3)) ** 2 + ((y - c[1]) / (shape[1] / 3)) ** 2 \
        + ((x - c[2]) / (shape[2] / 3)) ** 2
    mask = (r <= 1).astype(np.uint8) * value
    img = rng.normal(40, 30, size=shape) + 60 * (r <= 1)
    return Image(img.astype(np.float32), spacing), Image(mask, spacing)


def _pyradiomics(image: Image, mask: Image, params: dict) -> dict:
    """Direct PyRadiomics run: the independent oracle for the engine."""
    import radiomics
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    radiomics.setVerbosity(logging.ERROR)
    ex = RadiomicsFeatureExtractor(params)
    out = ex.execute(image.to_sitk(), mask.to_sitk())
    return {k: float(v) for k, v in out.items() if not k.startswith("diagnostics_")}


# ---------------------------------------------------------------- engine vs PyRadiomics
def test_ct_preset_matches_direct_pyradiomics(lidc_dir: Path) -> None:
    import SimpleITK as sitk

    cid = "LIDC-IDRI-0004_R_1"
    image = Image.from_sitk(sitk.ReadImage(str(lidc_dir / "images" / f"{cid}.nii.gz")))
    mask = Image.from_sitk(sitk.ReadImage(str(lidc_dir / "masks" / f"{cid}.nii.gz")))
    settings = get_preset("ct")
    result = extract_features(image, mask, settings, case_id=cid)
    assert isinstance(result, FeatureResult)
    assert list(result.values) == expected_columns(settings, 3)
    assert len(result.values) >= 1300
    direct = _pyradiomics(image, mask, settings.to_pyradiomics_params())
    assert set(direct) == set(result.values)
    for k, v in direct.items():
        assert result.values[k] == pytest.approx(v, rel=1e-12, nan_ok=True), k
    assert result.diagnostics["diagnostics_Mask-original_VoxelNum"] == int(mask.array.sum())
    assert "diagnostics_Versions_PyRadiomics" in result.diagnostics
    json.dumps(result.diagnostics)  # provenance must be JSON-able


def test_2d_image_matches_direct_pyradiomics() -> None:
    img3, m3 = _blob_case(shape=(3, 40, 40), spacing=(1.0, 1.0, 1.0))
    image, mask = Image(img3.array[1], (1.0, 1.0)), Image(m3.array[1], (1.0, 1.0))
    settings = get_preset("us")
    result = extract_features(image, mask, settings)
    assert list(result.values) == expected_columns(settings, 2)
    assert len(result.values) == 9 + 10 * 93 and not result.missing
    params = settings.to_pyradiomics_params()
    params["setting"]["force2D"] = False  # a 2D image is handled natively in 2D
    params["featureClass"] = {("shape2D" if c == "shape" else c): v
                              for c, v in params["featureClass"].items()}
    direct = _pyradiomics(image, mask, params)
    assert set(direct) == set(result.values)
    for k, v in direct.items():
        assert result.values[k] == pytest.approx(v, rel=1e-12), k
    # a single-slice 3D image is handled as the same 2D image
    as3d = extract_features(Image(image.array[None], (1.0, 1.0, 1.0)),
                            Image(mask.array[None], (1.0, 1.0, 1.0)), settings)
    assert list(as3d.values) == list(result.values)
    np.testing.assert_allclose(list(as3d.values.values()), list(result.values.values()))


# ---------------------------------------------------------------- fixed columns
def test_log_too_small_gives_nan_with_reason() -> None:
    # z = 5 slices of 1 mm: sigma 1 fits, sigma 5 needs ceil(5/1) + 1 = 6 slices
    image, mask = _blob_case(shape=(5, 24, 24), spacing=(1.0, 1.0, 1.0))
    result = extract_features(image, mask, SMALL)
    assert list(result.values) == expected_columns(SMALL, 3)
    s1 = "log-sigma-1-0-mm-3D_firstorder_Mean"
    s5 = "log-sigma-5-0-mm-3D_firstorder_Mean"
    assert np.isfinite(result.values[s1]) and np.isnan(result.values[s5])
    assert "log-sigma-5-0-mm-3D" in result.missing
    assert "sigma(5)" in result.missing["log-sigma-5-0-mm-3D"]
    assert "log-sigma-1-0-mm-3D" not in result.missing
    # z = 3 slices: PyRadiomics skips every LoG image ("Image too small")
    thin_img, thin_mask = _blob_case(shape=(3, 24, 24), spacing=(1.0, 1.0, 1.0))
    thin = extract_features(thin_img, thin_mask, SMALL)
    assert list(thin.values) == list(result.values)
    assert all("too small" in thin.missing[p] for p in ("log-sigma-1-0-mm-3D",
                                                        "log-sigma-5-0-mm-3D"))
    nan_cols = [c for c, v in thin.values.items() if np.isnan(v)]
    assert nan_cols and all(c.startswith("log-sigma") for c in nan_cols)


def test_image_type_names() -> None:
    s = get_preset("ct")
    names3 = image_type_names(s, 3)
    assert names3[:2] == ["original", "log-sigma-1-0-mm-3D"]
    assert [n for n in names3 if n.startswith("wavelet")] == [
        "wavelet-LLH", "wavelet-LHL", "wavelet-LHH", "wavelet-HLL", "wavelet-HLH", "wavelet-HHL",
        "wavelet-HHH", "wavelet-LLL"]
    assert [n for n in image_type_names(s, 2) if n.startswith("wavelet")] == [
        "wavelet-LH", "wavelet-HL", "wavelet-HH", "wavelet-LL"]


# ---------------------------------------------------------------- errors
def test_empty_mask_is_a_case_error() -> None:
    image, mask = _blob_case()
    with pytest.raises(CaseError) as e:
        extract_features(image, mask.with_array(np.zeros_like(mask.array)), SMALL, case_id="c1")
    assert e.value.stage == "extract" and e.value.case_id == "c1"
    assert "label 1" in str(e.value) and "found only the values [0]" in str(e.value)


def test_small_and_one_voxel_lesions_are_case_errors() -> None:
    image, mask = _blob_case()
    n = int(mask.array.sum())
    with pytest.raises(CaseError, match=f"{n} voxel.*minimum is {n + 1}"):
        extract_features(image, mask, SMALL.replace(min_roi_size=n + 1), case_id="c2")
    one = np.zeros_like(mask.array)
    one[5, 10, 10] = 1
    with pytest.raises(CaseError, match="1 voxel") as e:
        extract_features(image, mask.with_array(one), SMALL, case_id="c3")
    assert e.value.stage == "extract"


def test_nan_voxels_are_a_case_error() -> None:
    image, mask = _blob_case()
    arr = image.array.copy()
    arr[0, 0, 0] = np.nan
    with pytest.raises(CaseError, match="1 NaN"):
        extract_features(image.with_array(arr), mask, SMALL, case_id="c4")


def test_multilabel_mask_selects_label() -> None:
    image, lesion = _blob_case(value=11)
    multi = lesion.array.copy()
    multi[0:2] = np.where(multi[0:2] == 0, 3, multi[0:2])  # another structure (label 3)
    settings = get_preset("seed003_ct")
    result = extract_features(image, lesion.with_array(multi), settings)
    assert len(result.values) == 107
    voxel_mm3 = float(np.prod(image.spacing))
    assert result.values["original_shape_VoxelVolume"] == pytest.approx(
        (multi == 11).sum() * voxel_mm3)
    # a 0/1 mask (the reader already chose label 11) gives the same features
    binary = extract_features(image, lesion.with_array((multi == 11).astype(np.uint8)), settings)
    assert binary.values == pytest.approx(result.values)
    with pytest.raises(CaseError, match="label 11"):
        extract_features(image, lesion.with_array((multi == 3).astype(np.uint8) * 3), settings)


def test_fractal_and_moments_columns() -> None:
    image, mask = _blob_case()
    s = SMALL.replace(fractal=True, moments=True, log_sigmas=())
    result = extract_features(image, mask, s)
    assert list(result.values)[-3:] == ["original_fractal_BoxCountingDimension",
                                        "original_moment_Invariant1", "original_moment_Invariant2"]
    assert result.values["original_fractal_BoxCountingDimension"] == pytest.approx(
        box_counting_dimension(mask.array))
    assert all(np.isfinite(list(result.values.values())))


# ---------------------------------------------------------------- presets
def test_preset_counts() -> None:
    counts = {n: len(expected_columns(s, 2 if n.endswith("us") else 3)) for n, s in PRESETS.items()}
    assert counts["ct"] >= 1300 and counts["ct_iso1mm"] == counts["ct"]
    assert counts["seed003_ct"] == 107
    assert counts["us"] == 9 + 10 * 93
    assert counts["seed000_ct"] == 17 + 18 + 24 + 16 + 16 + 14 + 5 + 1 + 2
    assert 1300 <= counts["seed002_us"] <= 1400


def test_seed003_settings() -> None:
    s = get_preset("seed003_ct")
    p = s.to_pyradiomics_params()
    assert p["imageType"] == {"Original": {}}
    assert p["setting"]["binCount"] == 32 and "binWidth" not in p["setting"]
    assert p["setting"]["normalize"] and p["setting"]["normalizeScale"] == 100
    assert p["setting"]["correctMask"] and p["setting"]["geometryTolerance"] == 1e-5
    assert p["setting"]["label"] == 11 and "resampledPixelSpacing" not in p["setting"]


def test_get_preset_did_you_mean() -> None:
    assert get_preset("ct") is PRESETS["ct"]
    with pytest.raises(InputError, match="Did you mean 'seed003_ct'"):
        get_preset("seed03_ct")
    with pytest.raises(InputError, match="Valid presets"):
        get_preset("zzzzzz")


# ---------------------------------------------------------------- settings
def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="exactly one of bin_width and bin_count"):
        ExtractionSettings(bin_width=25, bin_count=32)
    with pytest.raises(ValueError, match="Did you mean 'glcm'"):
        ExtractionSettings(feature_classes=("glcmm",))
    with pytest.raises(ValueError, match="sigmas must be > 0"):
        ExtractionSettings(log_sigmas=(0.0,))
    with pytest.raises(InputError, match="bin_count"):
        get_preset("ct").replace(bin_count=16)  # bin_width still set
    with pytest.raises(InputError, match="unknown extraction setting"):
        get_preset("ct").replace(bin_widht=5)
    s = get_preset("ct").replace(bin_width=10.0)
    assert s.bin_width == 10.0 and get_preset("ct").bin_width == 25.0
    with pytest.raises(Exception):
        s.bin_width = 3.0  # frozen
    assert json.loads(json.dumps(s.to_dict())) == s.to_dict()


PARAMS_YAML = """\
imageType:
  Original: {}
  LoG:
    sigma: [1.0, 3.0]
  Wavelet: {start_level: 0, level: 1}
featureClass:
  shape:
  firstorder: [Mean, Entropy]
  glcm:
setting:
  binWidth: 10
  label: 2
  interpolator: sitkLinear
  resampledPixelSpacing: [1, 1, 1]
  normalize: true
  normalizeScale: 100
  force2D: true
  correctMask: true
  geometryTolerance: 0.0001
voxelSetting:
  kernelRadius: 2
"""


def test_params_file_round_trip(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_YAML)
    s = ExtractionSettings.from_params_file(path)
    assert s.log_sigmas == (1.0, 3.0) and s.wavelet and s.original
    assert s.dimensionality == "2d" and s.label == 2 and s.bin_width == 10
    assert s.feature_subsets == {"firstorder": ("Mean", "Entropy")}
    assert s.pyradiomics_params == yaml.safe_load(PARAMS_YAML)
    p = s.to_pyradiomics_params()
    raw = yaml.safe_load(PARAMS_YAML)
    for k, v in raw["setting"].items():
        assert p["setting"][k] == v, k
    assert p["featureClass"] == {"shape": None, "firstorder": ["Mean", "Entropy"], "glcm": None}
    assert p["imageType"]["LoG"] == {"sigma": [1.0, 3.0]}
    again = ExtractionSettings.from_pyradiomics_params(p, preset=s.preset)
    assert again.model_dump(exclude={"pyradiomics_params"}) == s.model_dump(
        exclude={"pyradiomics_params"})
    js = tmp_path / "params.json"
    js.write_text(json.dumps(raw))
    assert ExtractionSettings.from_params_file(js).to_pyradiomics_params() == p


@pytest.mark.parametrize("text, message", [
    ("setting:\n  binWidht: 25\n", "Did you mean 'binWidth'"),
    ("imageType:\n  Wavlet: {}\n", "Did you mean 'Wavelet'"),
    ("featureClass:\n  glcmm:\n", "Did you mean 'glcm'"),
    ("imageTypes:\n  Original: {}\n", "Did you mean 'imageType'"),
    ("imageType:\n  LoG: {binWidth: 5, sigma: [1]}\n", "only"),
    ("setting:\n  binWidth: -1\n", "bin_width"),
])
def test_params_file_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as e:
        ExtractionSettings.from_params_file(path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- catalogue
def test_parse_column() -> None:
    assert parse_column("original_glcm_Contrast") == ("original", "glcm", "Contrast")
    assert parse_column("log-sigma-1-0-mm-3D_firstorder_Mean") == (
        "log-sigma-1-0-mm-3D", "firstorder", "Mean")
    assert parse_column("wavelet-LLH_glrlm_RunEntropy") == ("wavelet-LLH", "glrlm", "RunEntropy")
    assert parse_column("original_fractal_BoxCountingDimension")[1] == "fractal"
    assert parse_column("original_shape2D_Perimeter") == ("original", "shape2D", "Perimeter")
    assert parse_column("original_moment_Invariant1")[1] == "moment"
    assert parse_column("age") == ("", "other", "age")
    assert parse_column("case_id") == ("", "other", "case_id")
    assert parse_column("x_unknownfamily_y") == ("", "other", "x_unknownfamily_y")
    assert {"ith", "deep", "clinical"} <= set(FAMILIES)


def test_catalogue_covers_every_preset_column() -> None:
    cols = expected_columns(get_preset("seed000_ct"), 3) + ["age", "weird__name", ""]
    cat = catalogue(cols)
    assert list(cat.columns) == ["column", "filter", "family", "feature"]
    assert len(cat) == len(cols)
    assert (cat.family == "other").sum() == 3
    counts = cat.family.value_counts()
    assert counts["shape"] == 17 and counts["glcm"] == 24 and counts["fractal"] == 1
    assert counts["moment"] == 2
    assert set(catalogue(expected_columns(get_preset("ct"), 3)).family) <= set(FAMILIES)


@pytest.mark.parametrize("ndim", [2, 3])
def test_every_engine_column_reaches_the_radiomics_block(ndim) -> None:
    """IBSI extras and texture variants are radiomics columns, never dropped as 'other'."""
    from thyromics.models.blocks import RADIOMICS_FAMILIES, parse_feature_column

    settings = ExtractionSettings(convention="ibsi", ibsi_features=True, fractal=True,
                                  moments=True, texture_aggregations=("2D_avg", "3D_comb"),
                                  log_sigmas=(1.0,), wavelet=True)
    cols = expected_columns(settings, ndim)
    assert any("_gldzm_" in c for c in cols) and any(c.endswith("_2D_avg") for c in cols)
    families = {c: (parse_feature_column(c) or ("", "", ""))[1] for c in cols}
    assert {c for c, f in families.items() if f not in RADIOMICS_FAMILIES} == set()


def test_catalogue_maps_block_prefixes():
    from thyromics.features.catalogue import parse_column

    assert parse_column("iTED_glcm_Contrast") == ("iTED", "ith", "glcm_Contrast")
    assert parse_column("ith_ITHscore3D_seed003")[1] == "ith"
    assert parse_column("deep_pca_12") == ("deep", "deep", "pca_12")
    assert parse_column("ith") == ("", "other", "ith")
    assert parse_column("deep_") == ("", "other", "deep_")
