"""Cohort extraction: same columns for every case, failures recorded, cache, parallel,
provenance, and values identical to a direct PyRadiomics run."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thyromics.features.extract import errors_path_for, extract_cohort, read_features
from thyromics.features.presets import get_preset
from thyromics.study.synthetic import SyntheticSettings, make_cohort


@pytest.fixture(scope="module")
def us_cohort(tmp_path_factory):
    """Six synthetic ultrasound cases, one with a missing mask and one with an empty mask."""
    root = tmp_path_factory.mktemp("us")
    manifest = make_cohort(root, "us", SyntheticSettings(n_patients=5, seed=1))
    frame = pd.read_csv(manifest)
    frame.loc[0, "mask"] = "masks/does_not_exist.png"
    from PIL import Image as PILImage

    empty = np.zeros((128, 128), np.uint8)
    PILImage.fromarray(empty).save(root / "masks" / "empty.png")
    frame.loc[1, "mask"] = "masks/empty.png"
    frame.to_csv(manifest, index=False)
    return manifest, frame


def _settings():
    return get_preset("us")


def test_failures_recorded_and_others_go_on(us_cohort, tmp_path):
    manifest, frame = us_cohort
    out = tmp_path / "f.parquet"
    s = extract_cohort(manifest, _settings(), out, jobs=1)
    assert s.n_cases == len(frame) and s.n_failed == 2 and s.n_ok == len(frame) - 2
    errors = pd.read_csv(errors_path_for(out))
    assert set(errors["case_id"]) == {frame.case_id[0], frame.case_id[1]}
    missing = errors.set_index("case_id").loc[frame.case_id[0]]
    assert "does_not_exist.png" in missing["file"]
    assert "empty" in errors.set_index("case_id").loc[frame.case_id[1], "error"]
    table, prov = read_features(out)
    assert list(table["case_id"]) == list(frame.case_id[2:])
    assert {"case_id", "patient_id", "label", "split", "age", "sex"} <= set(table.columns)
    assert prov["n_failed"] == 2 and prov["settings"] == _settings().to_dict()
    assert set(prov["cases"]) == set(table["case_id"])
    feats = prov["columns"]["features"]
    assert len(feats) == s.n_features > 100
    assert table[feats].notna().all().all()  # synthetic lesions are large: nothing missing
    assert not list(tmp_path.glob(".*.tmp"))


def test_rerun_uses_cache_and_parallel_is_identical(us_cohort, tmp_path):
    manifest, _ = us_cohort
    cache = tmp_path / "cache"
    a = extract_cohort(manifest, _settings(), tmp_path / "a.parquet", jobs=1, cache_dir=cache)
    b = extract_cohort(manifest, _settings(), tmp_path / "b.parquet", jobs=2, cache_dir=cache)
    assert a.n_cached == 0 and b.n_cached == b.n_ok == a.n_ok
    c = extract_cohort(manifest, _settings(), tmp_path / "c.parquet", jobs=2,
                       cache_dir=tmp_path / "fresh")
    assert c.n_cached == 0 and c.n_ok == a.n_ok
    ta, tc = read_features(tmp_path / "a.parquet")[0], read_features(tmp_path / "c.parquet")[0]
    pd.testing.assert_frame_equal(ta, tc)
    # another setting is another cache key
    d = extract_cohort(manifest, _settings().replace(bin_count=16), tmp_path / "d.parquet",
                       jobs=1, cache_dir=cache)
    assert d.n_cached == 0


def test_cli_exit_codes(us_cohort, tmp_path):
    from thyromics.cli import app

    manifest, frame = us_cohort
    runner = CliRunner()
    res = runner.invoke(app, ["extract", str(manifest), "--preset", "us", "-o",
                              str(tmp_path / "f.parquet"), "--jobs", "1", "--csv"])
    assert res.exit_code == 0, res.output
    assert f"{len(frame) - 2} of {len(frame)} cases succeeded" in res.output
    assert (tmp_path / "f.csv").exists()
    bad = tmp_path / "bad.csv"
    frame.assign(mask="masks/nothing.png").to_csv(bad, index=False)
    shutil.copytree(manifest.parent / "images", tmp_path / "images")
    res = runner.invoke(app, ["extract", str(bad), "--preset", "us", "-o",
                              str(tmp_path / "g.parquet"), "--jobs", "1"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["extract", str(manifest), "--preset", "cT", "-o",
                              str(tmp_path / "h.parquet")])
    assert res.exit_code == 2 and "ct" in res.output


def _direct_pyradiomics(image_path, mask_path, settings):
    import SimpleITK as sitk
    from radiomics import featureextractor

    ex = featureextractor.RadiomicsFeatureExtractor(settings.to_pyradiomics_params())
    img, msk = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path))
    out = ex.execute(img, msk, label=1)
    return {k: float(v) for k, v in out.items() if not k.startswith("diagnostics")}


@pytest.mark.slow
@pytest.mark.realdata
def test_lidc_subset_matches_direct_pyradiomics(lidc_dir, tmp_path):
    frame = pd.read_csv(lidc_dir / "cases.csv").head(4)
    for col in ("image", "mask"):
        frame[col] = [str(lidc_dir / p) for p in frame[col]]
    manifest = tmp_path / "cases.csv"
    frame.to_csv(manifest, index=False)
    settings = get_preset("ct")
    s = extract_cohort(manifest, settings, tmp_path / "f.parquet", jobs=2)
    assert s.n_ok == 4, s.errors
    assert s.n_features >= 1300
    table, _ = read_features(tmp_path / "f.parquet")
    row = table.iloc[0]
    direct = _direct_pyradiomics(frame.image[0], frame["mask"][0], settings)
    shared = [k for k in direct if k in table.columns]
    assert len(shared) >= 0.9 * len(direct)
    for k in shared:
        if np.isnan(row[k]):
            continue
        assert row[k] == pytest.approx(direct[k], rel=1e-9, abs=1e-12), k


@pytest.mark.realdata
def test_ddti_subset_with_empty_mask(ddti_dir, tmp_path):
    frame = pd.read_csv(ddti_dir / "cases.csv")
    pick = pd.concat([frame[frame.case_id == "384_1(2)"], frame.head(3)])
    for col in ("image", "mask"):
        pick[col] = [str(ddti_dir / p) for p in pick[col]]
    manifest = tmp_path / "cases.csv"
    pick.to_csv(manifest, index=False)
    s = extract_cohort(manifest, get_preset("us"), tmp_path / "f.parquet", jobs=1)
    assert s.n_ok == 3 and s.n_failed == 1
    err = pd.read_csv(errors_path_for(tmp_path / "f.parquet"))
    assert err.case_id.tolist() == ["384_1(2)"] and "empty" in err.error[0]


def test_multiframe_case_needs_a_frame(tmp_path):
    from PIL import Image as PILImage

    rng = np.random.default_rng(0)
    frames = [PILImage.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "cine.tif", save_all=True, append_images=frames[1:])
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 12:28] = 255
    PILImage.fromarray(mask).save(tmp_path / "m.png")
    pd.DataFrame({"case_id": ["c1"], "image": ["cine.tif"], "mask": ["m.png"]}).to_csv(
        tmp_path / "cases.csv", index=False)
    settings = get_preset("us").replace(log_sigmas=(), wavelet=False)
    refused = extract_cohort(tmp_path / "cases.csv", settings, tmp_path / "a.parquet", jobs=1)
    assert refused.n_failed == 1 and "frame" in refused.errors[0]["error"]
    chosen = extract_cohort(tmp_path / "cases.csv", settings, tmp_path / "b.parquet", jobs=1,
                            frame=1)
    assert chosen.n_ok == 1
