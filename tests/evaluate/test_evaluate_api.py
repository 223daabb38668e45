"""evaluate_scores / thyromics evaluate: JSON structure, agreement with R, real data, errors."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from thyromics.errors import InputError
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.api import evaluate_file, evaluate_scores, parse_threshold, thresholds_from
from thyromics.evaluate.commands import evaluate as evaluate_command

_spec = importlib.util.spec_from_file_location(
    "evaluate_refs", Path(__file__).parents[1] / "fixtures" / "evaluate" / "evaluate_refs.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)

REF = refs.reference()
SCORE_KEYS = {"n", "n_pos", "auc", "auc_ci", "auc_ci_method", "threshold", "sensitivity", "specificity",
              "ppv", "npv", "accuracy", "f1", "brier", "calibration_in_the_large", "val_prob_intercept",
              "calibration_slope"}
COMPARISON_KEYS = {"a", "b", "method", "paired", "auc_diff", "auc_diff_ci", "z", "p"}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps `evaluate` as a sub-command
        pass

    return app


def test_structure_and_numbers_match_r():
    d = refs.dataset("medium")
    r = REF["datasets"]["medium"]
    out = evaluate_scores(d, truth="y", scores=["pa", "pb"])
    json.dumps(out, allow_nan=False)                        # JSON-ready
    assert set(out) >= {"scores", "comparisons", "subgroups"}
    for name, key in (("pa", "a"), ("pb", "b")):            # pa == a, pb == b in this dataset
        b = out["scores"][name]
        assert SCORE_KEYS <= set(b)
        assert b["n"] == r["n"] and b["n_pos"] == r["n_pos"]
        assert b["auc"] == pytest.approx(r[key]["auc"], abs=1e-6)
        np.testing.assert_allclose(b["auc_ci"], [r[key]["delong"]["low"], r[key]["delong"]["high"]], atol=1e-6)
        assert b["auc_ci_method"] == "delong"
        assert b["threshold"] == pytest.approx(r[key]["youden_cutpointr"]["cutpoint"], rel=1e-9)
        np.testing.assert_allclose(b["sensitivity"]["ci"], r[key]["at_cutpointr"]["sensitivity"], atol=1e-6)
        np.testing.assert_allclose(b["npv"]["ci"], r[key]["at_cutpointr"]["npv"], atol=1e-6)
        cal = r[f"calibration_{name}"]
        assert b["brier"] == pytest.approx(cal["brier"], abs=1e-9)
        assert b["calibration_in_the_large"] == pytest.approx(cal["citl"], abs=1e-6)
        assert b["calibration_slope"] == pytest.approx(cal["slope_glm"], abs=1e-6)
    (c,) = out["comparisons"]
    assert COMPARISON_KEYS <= set(c) and (c["a"], c["b"], c["paired"]) == ("pa", "pb", True)
    assert c["z"] == pytest.approx(r["paired_ab"]["z"], abs=1e-6)
    assert c["p"] == pytest.approx(r["paired_ab"]["p"], abs=1e-6)
    np.testing.assert_allclose(c["auc_diff_ci"], [r["paired_ab"]["ci_low"], r["paired_ab"]["ci_high"]], atol=1e-6)


def test_scores_off_the_unit_interval_have_no_calibration():
    d = refs.dataset("scale")
    out = evaluate_scores(d, truth="y", scores=["a", "b"])
    assert out["scores"]["a"]["brier"] is None and "not probabilities" in out["scores"]["a"]["calibration_note"]
    assert out["scores"]["b"]["auc"] == pytest.approx(REF["datasets"]["scale"]["b"]["auc"], abs=1e-6)


def test_threshold_chosen_on_one_set_is_applied_unchanged():
    d = refs.dataset("medium")
    train, test = d.iloc[:150], d.iloc[150:]
    t_train = evaluate_scores(train, truth="y", scores=["pa"])
    carried = thresholds_from(t_train)
    out = evaluate_scores(test, truth="y", scores=["pa"], threshold=carried)
    b = out["scores"]["pa"]
    assert b["threshold"] == t_train["scores"]["pa"]["threshold"]
    pred = test.pa.to_numpy() >= b["threshold"]
    assert b["counts"]["tp"] == int(np.sum(pred & (test.y == 1)))
    assert b["counts"]["fp"] == int(np.sum(pred & (test.y == 0)))


def test_subgroups_reuse_thresholds_and_report_single_class_as_null():
    d = refs.dataset("medium").copy()
    d["grp"] = np.where(np.arange(len(d)) < 200, "big", "small")
    d.loc[d.grp == "small", "y"] = 0                        # one class only in "small"
    with pytest.warns(UndefinedMetricWarning):
        out = evaluate_scores(d, truth="y", scores=["pa", "pb"], subgroup="grp")
    groups = out["subgroups"]["grp"]
    assert set(groups) == {"big", "small"}
    assert groups["small"]["scores"]["pa"]["auc"] is None
    assert groups["small"]["scores"]["pa"]["threshold"] == out["scores"]["pa"]["threshold"]
    assert groups["small"]["comparisons"][0]["p"] is None
    sub = d[d.grp == "big"]
    from thyromics.evaluate.roc import delong_ci

    ci = delong_ci(sub.y, sub.pa)
    assert groups["big"]["scores"]["pa"]["auc_ci"] == pytest.approx([ci.ci_low, ci.ci_high])


def test_bootstrap_option():
    d = refs.dataset("ties")
    out = evaluate_scores(d, truth="y", scores=["a"], bootstrap=300, seed=4)
    b = out["scores"]["a"]
    assert b["auc_ci_method"] == "bootstrap" and b["auc_n_boot"] == 300
    assert b["auc_ci_delong"] == pytest.approx([REF["datasets"]["ties"]["a"]["delong"]["low"],
                                                REF["datasets"]["ties"]["a"]["delong"]["high"]], abs=1e-6)
    assert out == evaluate_scores(d, truth="y", scores=["a"], bootstrap=300, seed=4)


def test_errors():
    d = pd.DataFrame({"y": [0, 1, 0, 1], "s": [0.1, 0.9, np.nan, 0.3]}, index=["c1", "c2", "c3", "c4"])
    with pytest.raises(InputError, match="c3"):
        evaluate_scores(d, truth="y", scores=["s"])
    with pytest.raises(InputError, match="both classes"):
        evaluate_scores(pd.DataFrame({"y": [1, 1], "s": [0.1, 0.2]}), truth="y", scores=["s"])
    with pytest.raises(InputError, match="0/1"):
        evaluate_scores(pd.DataFrame({"y": [0, 1, 2], "s": [0.1, 0.2, 0.3]}), truth="y", scores=["s"])
    with pytest.raises(InputError, match="Did you mean 'score'"):
        evaluate_scores(pd.DataFrame({"y": [0, 1], "score": [0.1, 0.2]}), truth="y", scores=["scor"])
    with pytest.raises(InputError, match="no entry"):
        evaluate_scores(pd.DataFrame({"y": [0, 1], "s": [0.1, 0.2]}), truth="y", scores=["s"],
                        threshold={"other": 0.5})


def test_parse_threshold():
    assert parse_threshold("youden") == "youden"
    assert parse_threshold("0.3") == 0.3
    assert parse_threshold("sensitivity=0.9") == {"sensitivity": 0.9}
    assert parse_threshold("spec:0.95") == {"specificity": 0.95}
    with pytest.raises(InputError):
        parse_threshold("best")


def test_lidc_real_data_api_and_command(lidc_dir, tmp_path):
    """diameter_mm and Spiculation_value as scores for label on the real LIDC manifest."""
    ref = REF["datasets"]["lidc"]
    out_json = tmp_path / "metrics.json"
    res = CliRunner().invoke(_app(), ["evaluate", str(lidc_dir / "cases.csv"), "--truth", "label",
                                      "--score", "diameter_mm", "--score", "Spiculation_value",
                                      "--subgroup", "Texture_value", "-o", str(out_json)])
    assert res.exit_code == 0, res.output
    assert "diameter_mm" in res.output and "AUC" in res.output
    out = json.loads(out_json.read_text())
    b = out["scores"]["diameter_mm"]
    assert b["auc"] == pytest.approx(ref["a"]["auc"], abs=1e-6)
    np.testing.assert_allclose(b["auc_ci"], [ref["a"]["delong"]["low"], ref["a"]["delong"]["high"]], atol=1e-6)
    assert b["threshold"] == pytest.approx(ref["a"]["youden_cutpointr"]["cutpoint"], rel=1e-9)
    assert out["comparisons"][0]["z"] == pytest.approx(ref["paired_ab"]["z"], abs=1e-6)
    assert set(out["subgroups"]["Texture_value"]) == {"1", "2", "3", "4", "5"}
    # carry the thresholds to the same table through the JSON: identical numbers
    again = evaluate_file(lidc_dir / "cases.csv", truth="label", scores=["diameter_mm", "Spiculation_value"],
                          threshold_from=out_json)
    assert again["scores"]["diameter_mm"]["threshold"] == b["threshold"]
    assert again["threshold_from"] == str(out_json)


def test_command_threshold_from_table_and_bad_input(tmp_path):
    d = refs.dataset("medium")
    d.iloc[:150].to_csv(tmp_path / "train.csv", index=False)
    d.iloc[150:].to_csv(tmp_path / "test.csv", index=False)
    out_json = tmp_path / "m.json"
    res = CliRunner().invoke(_app(), ["evaluate", str(tmp_path / "test.csv"), "--truth", "y", "--score", "pa",
                                      "--threshold-from", str(tmp_path / "train.csv"), "-o", str(out_json)])
    assert res.exit_code == 0, res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train = evaluate_scores(d.iloc[:150], truth="y", scores=["pa"])
    assert json.loads(out_json.read_text())["scores"]["pa"]["threshold"] == train["scores"]["pa"]["threshold"]
    res = CliRunner().invoke(_app(), ["evaluate", str(tmp_path / "test.csv"), "--truth", "label",
                                      "--score", "pa", "-o", str(out_json)])
    assert res.exit_code == 2 and "label" in res.output
