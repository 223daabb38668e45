"""The demo, as a new user runs it: both synthetic studies, every report section filled,
and main models whose external AUCs fall in the stated band (a first report that says the
method works when the data carry a signal)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from thyromics.report.sections import SECTIONS
from thyromics.study.demo import DEMO_AUC_BAND, DEMO_MODELS, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    reports = run_demo(out, jobs=2, log=lines.append)  # the defaults of `thyromics demo`
    return out, reports, lines


def main_model_aucs(out) -> pd.DataFrame:
    """External AUC of every main model: the radiomics block's classifiers and the network."""
    rows = []
    for modality in ("ct", "us"):
        for block in ("radiomics", "network"):
            path = out / modality / "models" / block / "comparison.csv"
            if path.is_file():
                comp = pd.read_csv(path)
                rows.append(comp[comp.cohort == "external"].assign(modality=modality, block=block))
    return pd.concat(rows, ignore_index=True)[["modality", "block", "model", "n", "auc"]]


@pytest.mark.slow
def test_every_report_section_is_filled(demo):
    out, reports, _ = demo
    assert set(reports) == {"ct", "us"}
    for modality, report in reports.items():
        html = report.read_text()
        status = dict(re.findall(r'<section id="([^"]+)" class="report-section" data-status="([^"]+)"', html))
        expected = {sid: "ok" for sid, _, _ in SECTIONS}
        # the demo runs neither the robustness stage nor ComBat (single-centre cohorts)
        expected["robustness"] = expected["harmonization"] = "not run"
        assert status == expected, (modality, status)
        assert (report.parent / "reporting_checklist.csv").is_file()
        study = json.loads((out / modality / "study.json").read_text())
        assert study["seed"] == 7 and study["versions"]["thyromics"]


@pytest.mark.slow
def test_main_models_generalise_to_the_external_cohort(demo):
    out, _, _ = demo
    aucs = main_model_aucs(out)
    assert set(aucs.model) == {*DEMO_MODELS, "cnn"}
    low, high = DEMO_AUC_BAND
    assert aucs.auc.between(low, high).all(), aucs.to_string()
    assert (aucs.n >= 15).all()  # external cohorts large enough for the band to mean something


@pytest.mark.slow
def test_layout_thresholds_and_resume(demo):
    out, _, _ = demo
    for modality in ("ct", "us"):
        comparison = pd.read_csv(out / modality / "models" / "radiomics_clinical" / "comparison.csv")
        assert set(comparison.model) == set(DEMO_MODELS)  # one combined block, not two
        assert set(comparison.cohort) == {"cv", "test", "external"}
        # the threshold chosen on training predictions is carried unchanged
        assert comparison.dropna(subset=["threshold"]).groupby("model").threshold.nunique().eq(1).all()
        sub = pd.read_csv(out / modality / "evaluate" / "subgroups.csv")
        assert set(sub.variable) == {"size_mm", "sex"}
    deep = out / "us" / "deep"
    assert list((deep / "gradcam").glob("*.png"))
    assert pd.read_parquet(deep / "deep_features.parquet").filter(like="deep_pca_").shape[1] >= 1
    cnn = pd.read_csv(out / "us" / "models" / "network" / "comparison.csv")
    assert set(cnn.cohort) <= {"test", "external"} and cnn.threshold.nunique() == 1
    again: list[str] = []  # a rerun resumes: every step is skipped
    run_demo(out, jobs=2, log=again.append)
    assert sum("already done" in line for line in again) >= 9
