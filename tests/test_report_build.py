"""The study report: sections, embedded images, data files, "not run" notes.

The study folder is written here from seeded synthetic data following the layout that
``thyromics run`` writes (see ``thyromics.report._study``). Expected numbers are
computed independently in the tests (by hand or with plain numpy), never taken from
the report's own code.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from PIL import Image as PILImage

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.report import _stats
from thyromics.report._model_sections import (
    calibration_section,
    confusion_section,
    decision_section,
    roc_section,
)
from thyromics.report._study import Study
from thyromics.report.build import build_report
from thyromics.report.sections import SECTIONS

MODELS = ("lr", "rf", "rfq")
SECTION_IDS = [sid for sid, _, _ in SECTIONS]


def _png(path: Path, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (48, 32), color).save(path)


def make_study(root: Path, *, seed: int = 7) -> Path:
    """Write a small, complete synthetic study folder; returns ``root``."""
    rng = np.random.default_rng(seed)
    n = 120
    latent = rng.normal(size=n)
    label = (latent + rng.normal(scale=0.8, size=n) > 0).astype(int)
    split = np.where(np.arange(n) < 80, "train", "external")
    feats = pd.DataFrame({
        "case_id": [f"c{i:03d}" for i in range(n)],
        "patient_id": [f"p{i // 2:03d}" for i in range(n)],
        "label": label, "split": split,
        "original_firstorder_Mean": latent * 10 + 40 + rng.normal(size=n),
        "original_firstorder_Entropy": rng.normal(size=n),
        "original_glcm_Contrast": latent + rng.normal(size=n),
        "original_glcm_Correlation": rng.normal(size=n),
        "wavelet-LLH_glcm_Idm": rng.normal(size=n),
        "original_shape_VoxelVolume": np.exp(rng.normal(7, 0.5, size=n)),
    })
    (root / "features").mkdir(parents=True)
    feats.to_parquet(root / "features" / "features.parquet")
    pd.DataFrame({"case_id": ["x1", "x2", "x3", "x4"], "split": ["train", "train", "train", "external"],
                  "stage": ["read", "read", "extract", "validate"],
                  "error": ["file not found", "file not found", "mask is empty", "geometry mismatch"]}
                 ).to_csv(root / "features" / "features.errors.csv", index=False)
    (root / "features" / "provenance.json").write_text(json.dumps({"preset": "ct", "bin_width": 25}))

    (root / "table1").mkdir()
    (root / "table1" / "table1.html").write_text(
        "<html><head><style>td{color:red}</style></head><body>"
        "<table><tr><th>Variable</th><th>label 0</th><th>label 1</th></tr>"
        "<tr><td onclick=\"alert(1)\">Age, years</td><td>51 (12)</td><td>55 (11)</td></tr></table>"
        "<script>alert('x')</script></body></html>")  # never read: the CSV below is the table
    pd.DataFrame({"variable": ["n", "Age, years", "sex", "sex", "sex"], "level": ["", "mean ± SD", "", "F", "M"],
                  "0": ["60", "51.0 ± 12.0", "", "30 (50.0)", "30 (50.0)"],
                  "1": ["60", "55.0 ± 11.0", "", "28 (46.7)", "32 (53.3)"],
                  "Overall": ["120", "53.0 ± 11.6", "", "58 (48.3)", "62 (51.7)"],
                  "p": ["", "0.060", "0.855", "", ""], "test": ["", "Student t-test", "chi-square (Yates)", "", ""],
                  "Missing": ["", "0", "0", "", ""]}).to_csv(root / "table1" / "table1.csv", index=False)
    (root / "table1" / "table1.json").write_text(json.dumps(
        {"footnote": "Continuous variables: mean ± SD.", "notes": [], "settings": {"group": "label", "by": None}}))

    block = root / "models" / "radiomics"
    block.mkdir(parents=True)
    preds, comp = [], []
    train = np.flatnonzero(split == "train")
    ext = np.flatnonzero(split == "external")
    folds = np.arange(train.size) % 5
    for k, model in enumerate(MODELS):
        noise = 0.6 + 0.4 * k
        score = 1 / (1 + np.exp(-(latent + rng.normal(scale=noise, size=n))))
        for cohort, idx, fold in (("cv", train, folds), ("external", ext, np.full(ext.size, -1))):
            preds.append(pd.DataFrame({"case_id": feats["case_id"].to_numpy()[idx],
                                       "patient_id": feats["patient_id"].to_numpy()[idx],
                                       "model": model, "cohort": cohort, "fold": fold, "repeat": 0,
                                       "y_true": label[idx], "score": score[idx]}))
            auc = 0.85 - 0.05 * k - (0.04 if cohort == "external" else 0)
            comp.append({"model": model, "cohort": cohort, "n": idx.size, "auc": auc,
                         "auc_ci_low": auc - 0.08, "auc_ci_high": auc + 0.07, "accuracy": 0.75,
                         "sensitivity": 0.7, "specificity": 0.8, "ppv": 0.72, "npv": 0.78,
                         "f1": 0.71, "threshold": 0.45 + 0.02 * k})
    pd.concat(preds, ignore_index=True).to_parquet(block / "predictions.parquet")
    pd.DataFrame(comp).to_csv(block / "comparison.csv", index=False)
    pd.DataFrame({"a": ["lr", "lr"], "b": ["rf", "rfq"], "auc_diff": [0.05, 0.10],
                  "ci_low": [-0.02, 0.01], "ci_high": [0.12, 0.19], "z": [1.4, 2.2],
                  "p": [0.16, 0.0004]}).to_csv(block / "delong.csv", index=False)
    for model in ("lr", "rf"):
        pd.DataFrame({"feature": feats.columns[4:], "importance": rng.random(6), "sd": rng.random(6) / 10}
                     ).to_csv(block / f"importance_{model}.csv", index=False)
    pd.DataFrame({"family": ["firstorder", "glcm", "shape"], "n_features": [2, 3, 1],
                  "p_geomean": [0.01, 0.2, 0.5]}).to_csv(block / "families.csv", index=False)
    _png(block / "shap_rf.png", (200, 50, 50))
    _png(root / "deep" / "gradcam" / "case_c001.png", (250, 120, 0))
    _png(root / "deep" / "gradcam" / "case_c002.png", (250, 180, 0))
    _png(root / "deep" / "segmentation" / "case_c001.png", (0, 120, 250))

    (root / "evaluate").mkdir()
    (root / "evaluate" / "subgroups.json").write_text(json.dumps({
        "diameter>=10mm": {"scores": {"lr": {"n": 40, "auc": 0.81, "auc_ci": [0.70, 0.92]}}},
        "diameter<10mm": {"scores": {"lr": {"n": 30, "auc": 0.66, "auc_ci": [0.48, 0.84]}}},
    }))
    (root / "study.json").write_text(json.dumps({
        "name": "Synthetic CT study", "started": "2025-01-02T10:00:00", "finished": "2025-01-02T10:03:25",
        "seed": 42, "settings": {"extract": {"preset": "ct", "bin_width": 25}, "model": {"cv": 5}},
        "versions": {"thyromics": "0.1.0", "numpy": "2.4.6"},
        "inputs": {"cases.csv": "ab" * 32}}))
    return root


@pytest.fixture(scope="module")
def full_report(tmp_path_factory) -> tuple[Path, str]:
    root = make_study(tmp_path_factory.mktemp("study") / "OUT")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThyromicsWarning)  # no section may fail on a full study
        path = build_report(root)
    return path, path.read_text(encoding="utf-8")


def _statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)" class="report-section" data-status="([^"]+)"', html))


def test_every_section_present_and_filled(full_report):
    path, html = full_report
    assert path.name == "report.html"
    assert _statuses(html) == {sid: "ok" for sid in SECTION_IDS}
    assert "Synthetic CT study: study report" in html
    assert "Not run" not in html


def test_section_titles_match_registry(full_report):
    _, html = full_report
    for i, (sid, title, _) in enumerate(SECTIONS, start=1):
        assert re.search(rf'<section id="{sid}"[^>]*>\s*<h2>{i}\. {re.escape(escape(title))}</h2>', html), sid


def test_images_embedded_and_nothing_external(full_report):
    _, html = full_report
    srcs = re.findall(r'<img src="([^"]*)"', html)
    # features: 2 figures; roc, calibration, dca, confusion, subgroups, importance: 1 each;
    # shap 1; galleries 3
    assert len(srcs) == 2 + 6 + 1 + 3
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html
    # the Table 1 fragment arrives without its script, style or event handler
    assert "Age, years" in html and "alert(" not in html and "onclick" not in html


def test_comparison_and_delong_tables(full_report):
    _, html = full_report
    assert "0.850 (0.770\u20130.920)" in html  # lr / cv as written in comparison.csv
    assert "0.050 (-0.020\u20130.120)" in html  # lr - rf DeLong difference
    assert "&lt;0.001" in html  # p = 0.0004


def test_data_csvs_written(full_report):
    path, _ = full_report
    data = path.parent / "report_data"
    for name in ("feature_families", "family_boxplots", "roc_radiomics", "calibration_radiomics",
                 "decision_radiomics", "confusion_radiomics", "subgroups", "importance_radiomics",
                 "cohort_flow", "excluded_cases", "comparison_radiomics", "delong_radiomics",
                 "provenance_inputs"):
        assert (data / f"{name}.csv").is_file(), name


def test_cohort_flow_counts(full_report):
    path, _ = full_report
    flow = pd.read_csv(path.parent / "report_data" / "cohort_flow.csv").set_index("cohort")
    # 80 train + 3 failed train cases, 40 external + 1 failed
    assert flow.loc["train", ["cases_in", "excluded", "included"]].tolist() == [83, 3, 80]
    assert flow.loc["external", ["cases_in", "excluded", "included"]].tolist() == [41, 1, 40]
    assert flow.loc["total", "cases_in"] == 124
    assert flow.loc["train", "patients"] == 40


def test_feature_family_counts(full_report):
    path, _ = full_report
    counts = pd.read_csv(path.parent / "report_data" / "feature_families.csv").set_index("family")
    assert counts["n_features"].to_dict() == {"firstorder": 2, "glcm": 3, "shape": 1}


def test_confusion_counts_match_naive_count(full_report):
    path, _ = full_report
    root = path.parent
    cm = pd.read_csv(root / "report_data" / "confusion_radiomics.csv")
    preds = pd.read_parquet(root / "models" / "radiomics" / "predictions.parquet")
    comp = pd.read_csv(root / "models" / "radiomics" / "comparison.csv")
    for r in comp.itertuples():
        p = preds[(preds.model == r.model) & (preds.cohort == r.cohort)]
        called = p.score.to_numpy() >= r.threshold
        truth = p.y_true.to_numpy() == 1
        row = cm[(cm.model == r.model) & (cm.cohort == r.cohort)].iloc[0]
        assert row.tp == np.sum(called & truth) and row.tn == np.sum(~called & ~truth)
        assert row.fp == np.sum(called & ~truth) and row.fn == np.sum(~called & truth)


def test_roc_data_is_a_curve_with_a_band(full_report):
    path, _ = full_report
    roc = pd.read_csv(path.parent / "report_data" / "roc_radiomics.csv")
    assert set(roc.cohort) == {"cv", "external"} and set(roc.model) == set(MODELS)
    for _, part in roc.groupby(["model", "cohort"]):
        assert np.all(np.diff(part.tpr) >= -1e-12)
        assert part.tpr.iloc[-1] == pytest.approx(1.0)
        assert np.all(part.tpr_low <= part.tpr + 1e-12) and np.all(part.tpr <= part.tpr_high + 1e-12)


def test_treat_all_net_benefit_by_hand(full_report):
    path, _ = full_report
    dca = pd.read_csv(path.parent / "report_data" / "decision_radiomics.csv")
    preds = pd.read_parquet(path.parent / "models" / "radiomics" / "predictions.parquet")
    ext = preds[(preds.cohort == "external") & (preds.model == "lr")]
    prev = ext.y_true.mean()
    row = dca[(dca.cohort == "external") & (dca.model == "treat_all") & np.isclose(dca.threshold, 0.2)]
    # treat all: prevalence - (1 - prevalence) * pt / (1 - pt)
    assert row.net_benefit.iloc[0] == pytest.approx(prev - (1 - prev) * 0.25)


def test_subgroups_forest_rows(full_report):
    path, _ = full_report
    rows = pd.read_csv(path.parent / "report_data" / "subgroups.csv")
    assert rows.label.tolist() == ["diameter>=10mm / lr", "diameter<10mm / lr"]
    assert rows.ci_low.tolist() == [0.70, 0.48]


def test_roc_band_tiny_hand_example():
    # ROC points: (0, .5), (.5, .5), (.5, 1), (1, 1)
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8])
    grid = np.array([0.0, 0.25, 0.75, 1.0])
    tpr, low, high = _stats.roc_band(y, s, grid=grid, n_boot=50, seed=1)
    assert tpr.tolist() == [0.5, 0.5, 1.0, 1.0]
    assert np.all(low <= tpr) and np.all(tpr <= high)


def test_cv_roc_averages_fold_curves():
    # fold 0 separates perfectly (TPR 1 from FPR 0); fold 1 is inverted (TPR 0 until FPR 1)
    frame = pd.DataFrame({"fold": [0, 0, 0, 0, 1, 1, 1, 1], "y_true": [0, 0, 1, 1] * 2,
                          "score": [0.1, 0.2, 0.8, 0.9, 0.9, 0.8, 0.2, 0.1]})
    mean, low, high, auc_mean, auc_sd = _stats.cv_roc(frame)
    grid = _stats.FPR_GRID
    assert mean[grid == 0.5][0] == 0.5 and mean[0] == 0.5 and mean[-1] == 1.0
    assert low[0] == 0.0 and high[0] == 1.0  # mean +/- SD (0.707), clipped
    assert auc_mean == 0.5 and auc_sd == pytest.approx(np.sqrt(0.5))


def test_modelling_stage_layout(tmp_path):
    """The files as `thyromics model` writes them: model_id keys, importance per kind."""
    root = make_study(tmp_path / "OUT")
    block = root / "models" / "radiomics"
    for name in ("comparison.csv", "predictions.parquet"):
        path = block / name
        tab = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        tab = tab.assign(blocks="radiomics", model_id=tab["model"] + "@radiomics")
        tab.to_parquet(path) if path.suffix == ".parquet" else tab.to_csv(path, index=False)
    pd.DataFrame({"cohort": ["cv"], "model_a": ["lr@radiomics"], "model_b": ["rfq@radiomics"], "n": [80],
                  "auc_a": [0.85], "auc_b": [0.75], "auc_diff": [0.1], "ci_low": [0.01], "ci_high": [0.19],
                  "z": [2.2], "p": [0.03], "method": ["delong_paired"]}).to_csv(block / "delong.csv", index=False)
    for f in block.glob("importance_*.csv"):
        f.unlink()
    pd.DataFrame({"model_id": ["lr@radiomics", "lr@radiomics", "rf@radiomics"],
                  "feature": ["original_glcm_Contrast", "original_firstorder_Mean", "original_glcm_Contrast"],
                  "auc_drop": [0.2, 0.1, 0.15], "rank": [1, 2, 1]}).to_csv(block / "importance_permutation.csv",
                                                                         index=False)
    pd.DataFrame(columns=["model_id", "feature", "vimp", "rank"]).to_csv(block / "importance_vimp.csv", index=False)
    feats = pd.read_parquet(root / "features" / "features.parquet")
    pd.DataFrame({"case_id": feats.case_id, "family": "glcm", "value": feats.original_glcm_Contrast * 2}
                 ).to_csv(block / "family_values.csv", index=False)
    study = Study(root)
    from thyromics.report.sections import features_section, models_section
    from thyromics.report._model_sections import importance_section

    models = models_section(study)
    delong = str(models.body)
    assert "<td>lr</td>" in delong and "<td>rfq</td>" in delong and "0.100 (0.010\u20130.190)" in delong
    imp = importance_section(study)
    assert [f.name for f in imp.figures] == ["importance_radiomics_permutation"]
    assert set(imp.figures[0].data.model) == {"lr", "rf"}
    feat = features_section(study)
    boxes = feat.figures[-1]
    assert "representative value of the family analysis" in boxes.caption
    assert boxes.data.value.to_numpy() == pytest.approx((feats.original_glcm_Contrast * 2).to_numpy())
    assert roc_section(study).status == "ok"


def test_one_class_cohort_is_named_not_fatal(tmp_path):
    root = make_study(tmp_path / "OUT")
    p = root / "models" / "radiomics" / "predictions.parquet"
    preds = pd.read_parquet(p)
    preds.loc[preds.cohort == "external", "y_true"] = 0
    preds.to_parquet(p)
    sec = roc_section(Study(root))
    assert sec.status == "ok" and len(sec.figures) == 1
    assert "No ROC curve for: lr/external" in str(sec.body)


def test_empty_study_says_not_run(tmp_path):
    out = build_report(tmp_path, output=tmp_path / "r" / "study.html", title="Empty")
    html = out.read_text()
    assert out.parent.name == "r" and (out.parent / "report_data").is_dir()
    assert _statuses(html) == {sid: "not run" for sid in SECTION_IDS}
    assert html.count('class="not-run"') >= len(SECTION_IDS)
    assert "<img" not in html
    assert "thyromics extract" in html and "thyromics model" in html


def test_partial_study(tmp_path):
    full = make_study(tmp_path / "full")
    part = tmp_path / "part"
    (part / "features").mkdir(parents=True)
    (part / "features" / "features.parquet").write_bytes((full / "features" / "features.parquet").read_bytes())
    status = _statuses(build_report(part).read_text())
    assert status["features"] == status["cohort-flow"] == "ok"
    assert status["models"] == status["roc"] == status["provenance"] == "not run"


def test_broken_input_is_shown_not_fatal(tmp_path):
    root = make_study(tmp_path / "OUT")
    (root / "models" / "radiomics" / "predictions.parquet").write_bytes(b"not a parquet file")
    with pytest.warns(ThyromicsWarning) as record:
        html = build_report(root).read_text()
    assert {"roc", "calibration", "decision-curves", "confusion"} == {
        re.search(r"section '([^']+)'", str(w.message)).group(1) for w in record}
    status = _statuses(html)
    assert status["roc"] == "error" and status["models"] == "ok"
    assert "predictions.parquet" in html and "thyromics model" in html


def test_scores_not_probabilities(tmp_path):
    root = make_study(tmp_path / "OUT")
    p = root / "models" / "radiomics" / "predictions.parquet"
    preds = pd.read_parquet(p)
    preds["score"] = preds["score"] * 10 - 5
    preds.to_parquet(p)
    study = Study(root)
    assert "calibration is not defined" in str(calibration_section(study).body)
    assert "decision curves need them" in str(decision_section(study).body)
    assert confusion_section(study).status == "ok"


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        build_report(tmp_path / "nope")


def test_command_prints_path(tmp_path):
    import typer
    from typer.testing import CliRunner

    from thyromics.report.commands import report

    app = typer.Typer()
    app.command()(report)
    res = CliRunner().invoke(app, [str(tmp_path), "-o", str(tmp_path / "x.html")])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(tmp_path / "x.html") and (tmp_path / "x.html").is_file()
    res = CliRunner().invoke(app, [str(tmp_path / "missing")])
    assert res.exit_code == 2


def test_subgroups_in_the_evaluate_stage_layout():
    from thyromics.report._model_sections import _subgroup_rows

    data = {"scores": {"lr": {"n": 50, "auc": 0.8, "auc_ci": [0.7, 0.9]}},
            "comparisons": [{"a": "lr", "b": "rf", "auc_diff": 0.1, "p": 0.2}],
            "subgroups": {"size": {
                "small": {"n": 20, "n_pos": 8, "scores": {"lr": {"n": 20, "auc": 0.6, "auc_ci": [0.4, 0.8]}},
                          "comparisons": []},
                "large": {"n": 30, "n_pos": 1, "scores": {"lr": {"n": 30, "auc": None, "auc_ci": [None, None]}},
                          "comparisons": []}}}}
    rows = pd.DataFrame(_subgroup_rows(data)).dropna(subset=["estimate"])
    assert rows.label.tolist() == ["lr", "size / small / lr"]
    assert rows.n.tolist() == [50, 20] and rows.ci_high.tolist() == [0.9, 0.8]


def test_fmt():
    from thyromics.report._html import fmt

    assert [fmt(np.int64(80)), fmt(1.0), fmt(0.81234), fmt(float("nan")), fmt(None), fmt("cv")] == \
        ["80", "1.000", "0.812", "\u2013", "\u2013", "cv"]
