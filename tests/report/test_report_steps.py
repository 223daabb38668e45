"""The report shows the robustness stage, the models' robust / ComBat steps and the cv
confusion matrices at the per-fold thresholds.

The study folders are made by the real stages (``steps_study``: a two-centre cohort
with robustness and harmonisation; ``report_study``: the main study). Expected values
are read from the stage files or counted here with plain numpy, never taken from the
report's code.
"""

from __future__ import annotations

import base64
import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from report_study import (STEPS_MODEL, STEPS_REPETITIONS, copy_study,  # noqa: F401
                          report_study, steps_study)
from thyromics.errors import ThyromicsWarning
from thyromics.report._stats import confusion_per_fold
from thyromics.report.build import build_report

BLOCK = "radiomics_clinical"  # the steps study's block folder ("radiomics+clinical")


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start:html.index("</section>", start)]


def _status(html: str, sid: str) -> str:
    return re.search(rf'<section id="{sid}" class="report-section" data-status="([^"]+)"', html).group(1)


@pytest.fixture(scope="module")
def steps_report(steps_study, tmp_path_factory):  # noqa: F811
    """The steps study's report rebuilt from its files, with no section allowed to fail."""
    root = copy_study(steps_study, tmp_path_factory.mktemp("steps") / "OUT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings("error", message="report section", category=ThyromicsWarning)
        html = build_report(root).read_text(encoding="utf-8")
    return root, html


def _embedded(html: str, path) -> bool:
    return base64.b64encode(path.read_bytes()).decode("ascii") in html


def test_step_sections_show_the_stage_figures(steps_report, steps_study):  # noqa: F811
    root, html = steps_report
    for sid in ("robustness", "harmonization", "models", "confusion"):
        assert _status(html, sid) == "ok", sid
    # the report `thyromics run` wrote has them too
    assert _status((steps_study / "report.html").read_text(), "robustness") == "ok"
    rob, harm = _section(html, "robustness"), _section(html, "harmonization")
    assert _embedded(rob, root / "robustness" / "icc_by_family.png")
    for name in ("distributions.png", "embedding.png"):
        assert _embedded(harm, root / "models" / BLOCK / "harmonization" / name), name
    assert "across the values of column &#39;centre&#39;" in harm


def test_stable_counts_per_family_from_the_icc_table(steps_report):
    root, _ = steps_report
    icc = pd.read_csv(root / "robustness" / "icc.csv")
    summary = json.loads((root / "robustness" / "robustness.json").read_text())
    shown = pd.read_csv(root / "report_data" / "robustness_stable.csv").set_index("family")
    assert summary["chain_code"] == "V" and summary["n_perturbations"] == STEPS_REPETITIONS
    assert 0 < summary["n_stable"] < summary["n_features"]  # some features are unstable
    for family, part in icc.groupby("family"):
        row = shown.loc[family]
        assert row.features == len(part) == summary["stable_by_family"][family]["n"]
        assert row.stable == part["stable"].sum() == summary["stable_by_family"][family]["stable"]
        assert row.unstable == len(part) - part["stable"].sum()
        assert row.stable_percent == pytest.approx(100 * part["stable"].mean())
    assert shown.loc["total", "features"] == summary["n_features"] == len(icc)
    assert shown.loc["total", "stable"] == summary["n_stable"]
    least = pd.read_csv(root / "report_data" / "robustness_least_stable.csv")
    assert icc["icc1"].notna().all() and len(least) == 10
    assert least["feature"].tolist() == icc.nsmallest(len(least), "icc1")["feature"].tolist()


def test_robust_step_removals_per_model(steps_report):
    root, html = steps_report
    robust = pd.read_csv(root / "models" / BLOCK / "robust.csv")
    shown = pd.read_csv(root / "report_data" / f"robust_{BLOCK}.csv")
    pd.testing.assert_frame_equal(shown, robust)
    row = robust.iloc[0]
    removed = row["removed"].split(";")
    icc = pd.read_csv(root / "robustness" / "icc.csv")
    assert row.model_id == STEPS_MODEL and row.n_removed == len(removed) > 10
    assert set(removed) <= set(icc["feature"]) and row.n_judged == len(icc)
    # the final model was fitted on the training cohort only: its ICCs use those cases
    feats = pd.read_parquet(root / "features" / "features.parquet")
    assert row.n_cases == (feats["split"] == "train").sum() < len(feats)
    model = json.loads((root / "models" / BLOCK / "models" / STEPS_MODEL / "model.json").read_text())
    assert model["training"]["robust"]["removed"] == removed
    cells = re.findall(r"<td>(.*?)</td>", _section(html, "robustness").split("Robust step")[1])
    assert cells[:4] == [STEPS_MODEL, str(len(icc)), str(len(removed)), str(row.n_cases)]
    assert cells[5].count(";") == 10 and "(all in the source file)" in cells[5]


def _naive_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def test_auc_with_and_without_combat(steps_report):
    root, html = steps_report
    auc = pd.read_csv(root / "models" / BLOCK / "harmonization" / "auc.csv")
    shown = pd.read_csv(root / "report_data" / f"harmonization_auc_{BLOCK}.csv")
    pd.testing.assert_frame_equal(shown, auc)
    assert set(auc.cohort) == {"cv", "test", "external"}
    # "with ComBat" is the study's own run: its comparison table and its predictions
    comp = pd.read_csv(root / "models" / BLOCK / "comparison.csv").set_index("cohort")
    preds = pd.read_parquet(root / "models" / BLOCK / "predictions.parquet")
    for r in auc.itertuples():
        assert r.auc_harmonized == pytest.approx(comp.loc[r.cohort, "auc"])
        assert r.auc_difference == pytest.approx(r.auc_harmonized - r.auc_raw)
        if r.cohort != "cv":
            p = preds[preds.cohort == r.cohort]
            assert r.auc_harmonized == pytest.approx(_naive_auc(p.y_true.to_numpy(), p.score.to_numpy()))
    assert (auc.auc_harmonized != auc.auc_raw).any()  # the two runs differ
    assert "AUC without ComBat (95% CI)" in _section(html, "harmonization")


def _naive_cv_counts(p: pd.DataFrame) -> dict[str, float]:
    called, truth = p.score.to_numpy() >= p.threshold.to_numpy(), p.y_true.to_numpy() == 1
    n_rep = p["repeat"].nunique()
    return {"tp": np.sum(called & truth) / n_rep, "fp": np.sum(called & ~truth) / n_rep,
            "tn": np.sum(~called & ~truth) / n_rep, "fn": np.sum(~called & truth) / n_rep}


@pytest.mark.parametrize("which,block", [("steps", BLOCK), ("main", "radiomics")])
def test_cv_confusion_at_the_per_fold_thresholds(which, block, steps_report, report_study):  # noqa: F811
    """The cv matrix: each out-of-fold row at its own fold's threshold, equal to a naive
    count and to the counts the evaluation stage wrote (evaluation.json)."""
    root = steps_report[0] if which == "steps" else report_study
    cm = pd.read_csv(root / "report_data" / f"confusion_{block}.csv")
    comp = pd.read_csv(root / "models" / block / "comparison.csv")
    preds = pd.read_parquet(root / "models" / block / "predictions.parquet")
    evaluation = json.loads((root / "models" / block / "evaluation.json").read_text())
    cv = cm[cm.cohort == "cv"]
    assert len(cv) == (comp.cohort == "cv").sum() >= 1 and cv.threshold.isna().all()
    for r in cv.itertuples():
        p = preds[(preds.model == r.model) & (preds.cohort == "cv")]
        assert p.groupby("fold").threshold.nunique().eq(1).all() and p.threshold.nunique() > 1
        want = evaluation["cv"]["scores"][r.model]["counts"]
        assert _naive_cv_counts(p) == pytest.approx(want)
        assert {k: getattr(r, k) for k in want} == pytest.approx(want)
        rule = comp.loc[(comp.model == r.model) & (comp.cohort == "cv"), "threshold_rule"].item()
        assert r.threshold_rule == rule and "per outer fold" in rule


def test_confusion_per_fold_by_hand():
    # repeat 0: fold 0 at 0.5 (tp 1, fn 1, tn 1), fold 1 at 0.2 (tp 1, fp 1)
    # repeat 1: fold 0 at 0.9 (fn 2, tn 1),     fold 1 at 0.1 (tp 1, fp 1)
    frame = pd.DataFrame({
        "repeat": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], "fold": [0, 0, 0, 1, 1, 0, 0, 0, 1, 1],
        "y_true": [1, 1, 0, 1, 0, 1, 1, 0, 1, 0],
        "score": [0.6, 0.4, 0.3, 0.3, 0.25, 0.6, 0.4, 0.3, 0.3, 0.25],
        "threshold": [0.5, 0.5, 0.5, 0.2, 0.2, 0.9, 0.9, 0.9, 0.1, 0.1]})
    assert confusion_per_fold(frame) == {"tp": 1.5, "fp": 1.0, "fn": 1.5, "tn": 1.0}
    one = confusion_per_fold(frame[frame.repeat == 0])
    assert one == {"tp": 2, "fp": 1, "fn": 1, "tn": 1} and all(isinstance(v, int) for v in one.values())
    frame.loc[0, "threshold"] = 0.7
    with pytest.raises(ValueError, match="thresholds"):
        confusion_per_fold(frame)


def test_threshold_rule_of_every_row_is_shown(report_study):  # noqa: F811
    html = (report_study / "report.html").read_text()
    sec = _section(html, "models")
    comp = pd.read_csv(report_study / "models" / "radiomics" / "comparison.csv")
    table = sec[sec.index('data-name="comparison_radiomics"'):]
    table = table[:table.index("</table>")]
    header = re.findall(r"<th>(.*?)</th>", table)
    body = table[table.index("<tbody>"):]
    rows = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    assert len(rows) == len(comp)
    col, thr = header.index("Threshold rule"), header.index("Threshold")
    for r, cells in zip(comp.itertuples(), rows):
        assert cells[col].replace("_<wbr>", "_") == r.threshold_rule
        assert cells[thr] == ("per fold" if np.isnan(r.threshold) else f"{r.threshold:.3f}")
    # the network block has no rule column: its run.json names the rule
    rule = json.loads((report_study / "models" / "network" / "run.json").read_text())["threshold"]
    assert f"Threshold rule of block network: {rule}" in sec


def test_checklist_answers_robustness_from_the_stage(steps_report):
    root, _ = steps_report
    rows = pd.read_csv(root / "reporting_checklist.csv").set_index("topic")
    row = rows.loc["Feature robustness (test-retest, inter-reader)"]
    s = json.loads((root / "robustness" / "robustness.json").read_text())
    assert row.status == "from the study" and row.section == "robustness"
    assert row.answer.startswith(f"{s['n_stable']} of {s['n_features']} features stable")


def test_missing_step_files_are_named(steps_study, tmp_path):  # noqa: F811
    """Without the robustness folder the robust table stays and the ICC part says not run;
    without auc.csv (harmonize.compare: false) the section says so and keeps the figures."""
    import shutil

    root = copy_study(steps_study, tmp_path / "OUT")
    shutil.rmtree(root / "robustness")
    (root / "models" / BLOCK / "harmonization" / "auc.csv").unlink()
    html = build_report(root).read_text()
    rob, harm = _section(html, "robustness"), _section(html, "harmonization")
    assert 'class="not-run"' in rob and "robustness/icc.csv" in rob and f"robust_{BLOCK}" in rob
    assert "harmonize.compare: false" in harm and "harmonization_auc" not in harm
    assert _status(html, "harmonization") == "ok"  # the figures are still there
