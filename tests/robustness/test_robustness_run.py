"""`thyromics robustness` end to end on a small synthetic CT cohort, and the robust step.

The stage reuses the extraction worker, cache and executor; its outputs are the same bytes
whatever the number of workers and whether the cases came from the cache.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thyromics.features.presets import get_preset
from thyromics.robustness.run import PERTURBED_TABLE, run_robustness
from thyromics.robustness.select import RobustFilter
from thyromics.robustness.settings import get_chain
from thyromics.study.synthetic import SyntheticSettings, make_cohort


def _light():
    return get_preset("ct").replace(log_sigmas=(), wavelet=False,
                                    feature_classes=("shape", "firstorder", "glcm"))


@pytest.fixture(scope="module")
def ct_manifest(tmp_path_factory):
    return make_cohort(tmp_path_factory.mktemp("ct"), "ct", SyntheticSettings(n_patients=3, seed=3))


@pytest.mark.slow
def test_outputs_reproducible_across_jobs_and_cache(ct_manifest, tmp_path):
    chain = get_chain("ntvc", repetitions=2, seed=2)
    a = run_robustness(ct_manifest, _light(), chain, tmp_path / "a", jobs=1,
                       kinds=("icc1", "icc3"))
    run_robustness(ct_manifest, _light(), chain, tmp_path / "b", jobs=2,
                   kinds=("icc1", "icc3"))
    for name in (PERTURBED_TABLE, "icc.csv", "perturbation_parameters.csv", "icc_by_family.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    again = run_robustness(ct_manifest, _light(), chain, tmp_path / "a", jobs=1,
                           kinds=("icc1", "icc3"))  # every case from the cache now
    assert again.extraction_seconds < a.extraction_seconds
    icc = pd.read_csv(tmp_path / "a" / "icc.csv")
    assert a.n_features == len(icc) > 50 and {"icc1", "icc1_lower", "icc3", "stable"} <= set(icc)
    assert icc["stable"].sum() == a.n_stable > 0
    long = pd.read_parquet(tmp_path / "a" / PERTURBED_TABLE)
    assert sorted(long["perturbation"].unique()) == [0, 1]
    assert len(long) == a.n_cases * 2
    params = pd.read_csv(tmp_path / "a" / "perturbation_parameters.csv")
    assert {"noise_sd", "translation_x", "volume_fraction", "voxels_after"} <= set(params)
    summary = json.loads((tmp_path / "a" / "robustness.json").read_text())
    assert summary["chain_code"] == "NTVC" and summary["seed"] == 2
    assert summary["n_stable"] == a.n_stable


@pytest.mark.slow
def test_cli(ct_manifest, tmp_path):
    import yaml

    from thyromics.cli import app

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"setting": {"binWidth": 25}, "imageType": {"Original": {}},
                                      "featureClass": {"firstorder": [], "shape": []}}))
    res = CliRunner().invoke(app, ["robustness", str(ct_manifest), "-o", str(tmp_path / "o"),
                                   "--chain", "volume", "-n", "2", "--params", str(params),
                                   "--jobs", "1", "--threshold", "0.8"])
    assert res.exit_code == 0, res.output
    assert "features stable" in res.output and (tmp_path / "o" / "icc.csv").exists()
    bad = CliRunner().invoke(app, ["robustness", str(ct_manifest), "-o", str(tmp_path / "p"),
                                   "--chain", "nosuch"])
    assert bad.exit_code == 2 and "unknown perturbation chain" in bad.output


def _long_table(tmp_path):
    """Feature 'good' stable on every case; 'fragile' stable on c00-c19 only."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        base = rng.normal(0, 10)
        for r in range(4):
            noise = 0.5 if i < 20 else 30.0
            rows.append({"case_id": f"c{i:02d}", "patient_id": f"c{i:02d}", "label": i % 2,
                         "split": None, "perturbation": r,
                         "original_firstorder_good": base + rng.normal(0, 0.5),
                         "original_firstorder_fragile": base + rng.normal(0, noise)})
    path = tmp_path / PERTURBED_TABLE
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_robust_filter_sees_the_training_cases_only(tmp_path):
    _long_table(tmp_path)
    X = pd.DataFrame({"case_id": [f"c{i:02d}" for i in range(40)],
                      "original_firstorder_good": 0.0, "original_firstorder_fragile": 0.0,
                      "age": 1.0})
    feats = ["original_firstorder_good", "original_firstorder_fragile"]
    first = RobustFilter(perturbed=str(tmp_path), features=feats).fit(X.iloc[:20])
    second = RobustFilter(perturbed=str(tmp_path), features=feats).fit(X.iloc[20:])
    assert first.removed_ == [] and second.removed_ == ["original_firstorder_fragile"]
    assert second.n_cases_ == 20 and second.n_judged_ == 2
    assert list(second.transform(X).columns) == ["case_id", "original_firstorder_good", "age"]


@pytest.mark.slow
def test_robust_step_in_the_model_stage(tmp_path):
    from thyromics.models.api import fit_and_compare
    from thyromics.models.pipeline import PipelineSettings

    _long_table(tmp_path)
    rng = np.random.default_rng(1)
    y = np.tile([0, 1], 20)
    table = pd.DataFrame({"case_id": [f"c{i:02d}" for i in range(40)],
                          "patient_id": [f"c{i:02d}" for i in range(40)], "label": y,
                          "original_firstorder_good": y + rng.normal(0, 1, 40),
                          "original_firstorder_fragile": y + rng.normal(0, 1, 40)})
    settings = PipelineSettings(selector="none", tune=False, robust=str(tmp_path),
                                near_zero_variance=False, correlation_threshold=None)
    res = fit_and_compare(table, label="label", group="patient_id", models=["lr"], cv=3,
                          settings=settings, importance=())
    robust = res.models["lr"].training["robust"]
    assert robust["n_judged"] == 2 and robust["n_removed"] == 1
    assert robust["removed"] == ["original_firstorder_fragile"]
    assert res.models["lr"].passengers == ["case_id"]
