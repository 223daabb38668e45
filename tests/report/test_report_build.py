"""The study report: sections, embedded images, data files, "not run" notes.

The study folder is made by the real stages (``thyromics run`` on a small synthetic
cohort, see ``report_study``), so the report reads exactly the files the stages write.
Expected numbers are computed independently in the tests (by hand or with plain numpy
from the stage files), never taken from the report's own code.
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

from report_study import BROKEN, copy_study, report_study  # noqa: F401  (fixture)
from thyromics.errors import InputError, ThyromicsWarning
from thyromics.report import _stats
from thyromics.report._curve_sections import (
    calibration_section,
    confusion_section,
    decision_section,
    roc_section,
)
from thyromics.report._study import Study
from thyromics.report.build import build_report
from thyromics.report.sections import SECTIONS

SECTION_IDS = [sid for sid, _, _ in SECTIONS]
#: Sections of steps the main study does not run (see ``steps_study`` and test_report_steps).
STEP_SECTIONS = ("robustness", "harmonization")


@pytest.fixture(scope="module")
def full_report(report_study, tmp_path_factory) -> tuple[Path, str]:  # noqa: F811
    """The report rebuilt from the stage files, with no section allowed to fail."""
    root = copy_study(report_study, tmp_path_factory.mktemp("full") / "OUT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", message="report section", category=ThyromicsWarning)
        path = build_report(root)
    return path, path.read_text(encoding="utf-8")


def _statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)" class="report-section" data-status="([^"]+)"', html))


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start:html.index("</section>", start)]


@pytest.mark.slow
def test_every_section_present_and_filled(full_report, report_study):  # noqa: F811
    path, html = full_report
    assert path.name == "report.html"
    assert _statuses(html) == {sid: "not run" if sid in STEP_SECTIONS else "ok" for sid in SECTION_IDS}
    assert "Synthetic US study: study report" in html
    # segmentation networks (no stage in `thyromics run`) and the steps this study leaves out
    assert html.count('class="not-run"') == 1 + len(STEP_SECTIONS) and "deep/segmentation/*.png" in html
    assert "robustness/icc.csv" in _section(html, "robustness")
    assert "models/&lt;block&gt;/harmonization/" in _section(html, "harmonization")
    # the report `thyromics run` wrote is the same report
    assert _statuses((report_study / "report.html").read_text()) == _statuses(html)


def test_section_titles_match_registry(full_report):
    _, html = full_report
    for i, (sid, title, _) in enumerate(SECTIONS, start=1):
        assert re.search(rf'<section id="{sid}"[^>]*>\s*<h2>{i}\. {re.escape(escape(title))}</h2>', html), sid


def test_images_embedded_and_nothing_external(full_report):
    path, html = full_report
    srcs = re.findall(r'<img src="([^"]*)"', html)
    gradcam = sorted((path.parent / "deep" / "gradcam").glob("*.png"))
    figures = re.findall(r'<figcaption>[^<]*<span class="data-file">Data: report_data/([^<]+)\.csv', html)
    assert gradcam and len(srcs) == len(figures) + len(gradcam)
    assert all((path.parent / "report_data" / f"{f}.csv").is_file() for f in figures)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<link" not in html


def test_extraction_provenance_is_shown(full_report):
    """The extraction writes features.provenance.json; the report shows what it holds."""
    path, html = full_report
    prov = json.loads((path.parent / "features" / "features.provenance.json").read_text())
    assert "Feature extraction provenance" in _section(html, "provenance")
    shown = pd.read_csv(path.parent / "report_data" / "provenance_features.csv", dtype=str,
                        keep_default_na=False).set_index("key")["value"]
    assert shown["settings.bin_count"] == str(prov["settings"]["bin_count"]) == "32"
    assert shown["manifest_sha256"] == prov["manifest_sha256"]
    assert shown["run.jobs"] == str(prov["run"]["jobs"])
    assert shown["cases"].startswith(f"{len(prov['cases'])} ")
    assert shown["columns.features"] == str(len(prov["columns"]["features"]))


@pytest.mark.slow
def test_extraction_provenance_from_the_parquet_when_the_sidecar_is_gone(report_study, tmp_path):  # noqa: F811
    root = copy_study(report_study, tmp_path / "OUT")
    (root / "features" / "features.provenance.json").unlink()
    html = build_report(root).read_text()
    assert "Feature extraction provenance" in html and "(embedded provenance)" in html


def test_cohort_flow_counts(full_report):
    path, _ = full_report
    root = path.parent
    flow = pd.read_csv(root / "report_data" / "cohort_flow.csv").set_index("cohort")
    feats = pd.read_parquet(root / "features" / "features.parquet")
    for cohort, n in feats["split"].value_counts().items():
        assert flow.loc[cohort, "included"] == n and flow.loc[cohort, "excluded"] == 0
        assert flow.loc[cohort, "patients"] == feats.loc[feats.split == cohort, "patient_id"].nunique()
    # the extraction's errors table has no cohort column: the broken cases count as unknown
    assert flow.loc["unknown", "excluded"] == len(BROKEN)
    assert flow.loc["total", "cases_in"] == len(feats) + len(BROKEN)


def test_feature_family_counts(full_report):
    path, _ = full_report
    counts = pd.read_csv(path.parent / "report_data" / "feature_families.csv")
    prov = json.loads((path.parent / "features" / "features.provenance.json").read_text())
    assert counts["n_features"].sum() == len(prov["columns"]["features"])
    by_filter = pd.read_csv(path.parent / "report_data" / "features_by_filter.csv")
    assert by_filter.drop(columns="family").to_numpy().sum() == len(prov["columns"]["features"])


def test_confusion_counts_match_naive_count(full_report):
    path, _ = full_report
    root = path.parent
    cm = pd.read_csv(root / "report_data" / "confusion_radiomics.csv")
    preds = pd.read_parquet(root / "models" / "radiomics" / "predictions.parquet")
    comp = pd.read_csv(root / "models" / "radiomics" / "comparison.csv").dropna(subset=["threshold"])
    cm = cm.dropna(subset=["threshold"])  # the cv rows (per-fold thresholds): test_report_steps
    assert len(cm) == len(comp) >= 4
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
    assert set(roc.cohort) == {"cv", "test", "external"} and set(roc.model) == {"lr", "rf"}
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


def _naive_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_subgroups_from_the_run_at_the_carried_threshold(full_report):
    """`thyromics run` writes evaluate/subgroups.csv; its AUCs and sensitivities are those
    of the subgroup's rows of the predictions, at the threshold of comparison.csv."""
    path, html = full_report
    root = path.parent
    sub = pd.read_csv(root / "evaluate" / "subgroups.csv")
    assert set(sub.variable) == {"size_mm", "sex"} and set(sub.block) >= {"radiomics", "network"}
    cases = pd.read_csv(Path(json.loads((root / "study.json").read_text())["settings"]["cases"]))
    preds = pd.read_parquet(root / "models" / "radiomics" / "predictions.parquet")
    comp = pd.read_csv(root / "models" / "radiomics" / "comparison.csv")
    ext = preds[(preds.cohort == "external") & (preds.model == "lr")].merge(cases[["case_id", "sex", "size_mm"]])
    threshold = comp.loc[comp.model == "lr", "threshold"].dropna().unique().item()  # carried
    for sex, part in ext.groupby("sex"):
        row = sub[(sub.block == "radiomics") & (sub.cohort == "external") & (sub.model == "lr")
                  & (sub.variable == "sex") & (sub.subgroup == sex)].iloc[0]
        y, s = part.y_true.to_numpy(), part.score.to_numpy()
        assert row.n == len(part) and row.threshold == threshold
        if len(set(y)) == 2:
            assert row.auc == pytest.approx(_naive_auc(y, s))
        if y.sum():
            assert row.sensitivity == pytest.approx(np.mean(s[y == 1] >= threshold))
    small = ext[ext.size_mm < 4]
    row = sub[(sub.block == "radiomics") & (sub.cohort == "external") & (sub.model == "lr")
              & (sub.subgroup == "< 4 mm")].iloc[0]
    assert row.n == len(small)
    shown = pd.read_csv(root / "report_data" / "subgroups_radiomics.csv")
    pd.testing.assert_frame_equal(shown, sub[sub.block == "radiomics"].reset_index(drop=True))
    assert "subgroups_radiomics_forest" in html


def test_importance_and_family_figures_from_the_model_stage(full_report):
    path, html = full_report
    names = re.findall(r"Data: report_data/(importance_[^<]+)\.csv", html)
    assert {"importance_radiomics_permutation", "importance_radiomics_shap"} <= set(names)
    assert "representative value of the family analysis" in _section(html, "features")


def test_reporting_checklist_beside_the_report(full_report):
    path, html = full_report
    from thyromics.report.checklist import STATUSES

    rows = pd.read_csv(path.parent / "reporting_checklist.csv")
    assert list(rows.columns) == ["topic", "checklists", "status", "answer", "section"]
    assert set(rows.status) <= set(STATUSES) and rows.status.eq("to complete").sum() >= 10
    answers = rows.set_index("topic")["answer"]
    prov = json.loads((path.parent / "features" / "features.provenance.json").read_text())
    assert answers["Grey-level discretisation"] == "Fixed bin count 32."
    assert answers["Features extracted: number and families"].startswith(
        f"{len(prov['columns']['features'])} features per lesion")
    assert "size_mm, sex" in answers["Subgroup performance"]
    assert "3-fold patient-grouped" in answers["Validation scheme (cross-validation, held-out, external)"]
    done = rows[rows.status == "from the study"]
    assert len(done) >= 18 and set(done.section) <= set(SECTION_IDS)
    sec = _section(html, "checklist")
    for s in set(done.section):
        assert f'<a href="#{s}">' in sec  # every answer links to the section that shows it
    md = (path.parent / "reporting_checklist.md").read_text()
    assert md.count("\n| ") == len(rows) + 1 and "TRIPOD+AI" in md


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


def test_one_class_cohort_is_named_not_fatal(report_study, tmp_path):  # noqa: F811
    root = copy_study(report_study, tmp_path / "OUT")
    p = root / "models" / "radiomics" / "predictions.parquet"
    preds = pd.read_parquet(p)
    preds.loc[preds.cohort == "external", "y_true"] = 0
    preds.to_parquet(p)
    sec = roc_section(Study(root))
    assert sec.status == "ok" and "roc_radiomics" in [f.name for f in sec.figures]
    assert "No ROC curve for: lr/external" in str(sec.body)


def test_empty_study_says_not_run(tmp_path):
    out = build_report(tmp_path, output=tmp_path / "r" / "study.html", title="Empty")
    html = out.read_text()
    assert out.parent.name == "r" and (out.parent / "report_data").is_dir()
    assert _statuses(html) == {sid: "not run" for sid in SECTION_IDS}
    assert html.count('class="not-run"') >= len(SECTION_IDS) - 1  # the checklist has a note
    assert "<img" not in html
    assert "thyromics extract" in html and "thyromics model" in html
    assert (out.parent / "reporting_checklist.csv").is_file()


def test_partial_study(report_study, tmp_path):  # noqa: F811
    part = tmp_path / "part"
    (part / "features").mkdir(parents=True)
    for name in ("features.parquet", "features.errors.csv", "features.provenance.json"):
        (part / "features" / name).write_bytes((report_study / "features" / name).read_bytes())
    status = _statuses(build_report(part).read_text())
    assert status["features"] == status["cohort-flow"] == status["provenance"] == "ok"
    assert status["models"] == status["roc"] == status["subgroups"] == "not run"
    rows = pd.read_csv(part / "reporting_checklist.csv").set_index("topic")
    assert rows.loc["Grey-level discretisation", "status"] == "from the study"
    assert rows.loc["Calibration", "status"] == "not run"


@pytest.mark.slow
def test_broken_input_is_shown_not_fatal(report_study, tmp_path):  # noqa: F811
    """Deterministic whatever ran before in the process: only the report's own
    'section failed' warnings are counted, each a ThyromicsWarning naming its section."""
    root = copy_study(report_study, tmp_path / "OUT")
    (root / "models" / "radiomics" / "predictions.parquet").write_bytes(b"not a parquet file")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        html = build_report(root).read_text()
    failed = [w for w in record if issubclass(w.category, ThyromicsWarning)
              and str(w.message).startswith("report section ")]
    assert {"roc", "calibration", "decision-curves", "confusion"} == {
        re.match(r"report section '([^']+)'", str(w.message)).group(1) for w in failed}
    status = _statuses(html)
    assert status["roc"] == "error" and status["models"] == "ok"
    assert "predictions.parquet" in html and "thyromics model" in html


def test_scores_not_probabilities(report_study, tmp_path):  # noqa: F811
    root = copy_study(report_study, tmp_path / "OUT")
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


@pytest.mark.slow
def test_a_removed_subgroup_setting_leaves_no_stale_table(report_study, tmp_path):  # noqa: F811
    """A rerun without evaluate.subgroups removes the earlier run's subgroup table."""
    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study

    root = copy_study(report_study, tmp_path / "OUT")
    study_yaml = report_study.parent / "study.yaml"
    cfg = load_study(study_yaml)
    cfg = cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(update={"subgroups": []}),
                                 "report": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(cfg, root, log=lambda _: None)
    assert not (root / "evaluate" / "subgroups.csv").exists()
    assert _statuses(build_report(root).read_text())["subgroups"] == "not run"


def test_fmt():
    from thyromics.report._html import fmt

    assert [fmt(np.int64(80)), fmt(1.0), fmt(0.81234), fmt(float("nan")), fmt(None), fmt("cv")] == \
        ["80", "1.000", "0.812", "\u2013", "\u2013", "cv"]
