"""The demo runs the whole study on both synthetic cohorts and ends with the reports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from thyromics.study.demo import run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end_and_resumes(tmp_path):
    lines: list[str] = []
    reports = run_demo(tmp_path, n_patients=20, jobs=2, models=("lr", "rfq"), log=lines.append)
    assert set(reports) == {"ct", "us"}
    for modality, report in reports.items():
        html = report.read_text()
        for section in ("cohort-flow", "table1", "features", "models", "roc", "calibration", "provenance"):
            assert f'id="{section}"' in html, (modality, section)
        comparison = pd.read_csv(tmp_path / modality / "models" / "radiomics_clinical" / "comparison.csv")
        assert set(comparison.model) == {"lr", "rfq"}  # one combined block, not two
        assert set(comparison.cohort) == {"cv", "test", "external"}
        # the threshold chosen on training predictions is carried unchanged
        assert comparison.groupby("model").threshold.nunique().eq(1).all()
        study = json.loads((tmp_path / modality / "study.json").read_text())
        assert study["seed"] == 7 and study["versions"]["thyromics"]
    # the ultrasound study trains a small network: held-out results, Grad-CAM, deep block
    deep = tmp_path / "us" / "deep"
    assert list((deep / "gradcam").glob("*.png"))
    assert pd.read_parquet(deep / "deep_features.parquet").filter(like="deep_pca_").shape[1] >= 1
    fused = pd.read_csv(tmp_path / "us" / "models" / "radiomics_deep" / "comparison.csv")
    assert set(fused.model) == {"lr", "rfq"}
    cnn = pd.read_csv(tmp_path / "us" / "models" / "network" / "comparison.csv")
    assert set(cnn.cohort) <= {"test", "external"} and cnn.threshold.nunique() == 1
    # a rerun resumes: every step is skipped
    again: list[str] = []
    run_demo(tmp_path, n_patients=20, jobs=2, models=("lr", "rfq"), log=again.append)
    assert sum("already done" in line for line in again) >= 7
