"""Bad inputs of `evaluate`: a constant score, rows without a truth value."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.errors import ThyromicsWarning
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.api import evaluate_file, evaluate_scores
from thyromics.evaluate.roc import bootstrap_auc_ci, delong_ci


def _evaluate(path, out, *extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(app, ["evaluate", str(path), "--truth", "y", "--score", "s",
                                        *extra, "-o", str(out)])


def test_constant_score_has_auc_half_and_no_ci_or_threshold(tmp_path):
    pd.DataFrame({"y": [0, 1, 0, 1, 1, 0], "s": 0.5}).to_csv(tmp_path / "c.csv", index=False)
    r = _evaluate(tmp_path / "c.csv", tmp_path / "c.json")
    assert r.exit_code == 0, r.output
    b = json.loads((tmp_path / "c.json").read_text())["scores"]["s"]
    assert b["auc"] == 0.5 and b["auc_ci"] == [None, None] and b["auc_se"] is None
    assert b["auc_ci_note"].startswith("the score is constant: every case ties with every control")
    assert b["threshold"] is None
    assert b["threshold_note"] == ("no finite threshold (inf): every case is called negative "
                                   "(the score is constant)")
    assert "none: all negative" in r.output
    assert "note: s: the score is constant" in r.output.replace("\n", " ")


@pytest.mark.parametrize("ci", [delong_ci, lambda y, s: bootstrap_auc_ci(y, s, n_boot=50)],
                         ids=["delong", "bootstrap"])
def test_constant_score_ci_is_undefined(ci):
    y, s = np.array([0, 1, 0, 1]), np.full(4, 2.0)
    with pytest.warns(UndefinedMetricWarning, match="the score is constant"):
        res = ci(y, s)
    assert res.auc == 0.5 and np.isnan(res.ci_low) and np.isnan(res.ci_high) and np.isnan(res.se)
    assert "constant" in res.note
    assert ci(y, np.array([0.1, 0.9, 0.85, 0.8])).note is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = evaluate_scores(pd.DataFrame({"y": y, "s": s}), truth="y", scores=["s"], bootstrap=50)
    assert out["scores"]["s"]["auc_ci"] == [None, None] and out["scores"]["s"]["auc_ci_delong"] == [None, None]


def test_no_json_is_written_when_the_summary_fails(tmp_path, monkeypatch):
    import thyromics.evaluate._display as display

    def broken(result, console=None):
        raise RuntimeError("display failed")

    monkeypatch.setattr(display, "print_result", broken)
    pd.DataFrame({"y": [0, 1, 0, 1], "s": [0.1, 0.9, 0.2, 0.8]}).to_csv(tmp_path / "p.csv", index=False)
    r = _evaluate(tmp_path / "p.csv", tmp_path / "p.json")
    assert r.exit_code != 0 and not (tmp_path / "p.json").exists()


def test_rows_without_truth_are_counted_warned_and_shown(tmp_path):
    frame = pd.DataFrame({"case_id": [f"c{i}" for i in range(8)],
                          "y": [0, 1, 0, 1, np.nan, 1, 0, np.nan],
                          "s": [0.1, 0.8, 0.4, 0.35, 0.9, 0.7, 0.2, 0.1]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    frame.drop(columns="case_id").to_csv(tmp_path / "train.csv", index=False)
    with pytest.warns(ThyromicsWarning) as record:
        out = evaluate_file(tmp_path / "p.csv", truth="y", scores=["s"],
                            threshold_from=tmp_path / "train.csv")
    messages = [str(w.message) for w in record if not issubclass(w.category, UndefinedMetricWarning)]
    assert (f"file {tmp_path / 'p.csv'}: 2 of 8 row(s) have no 'y' value and are left out of the "
            "evaluation (e.g. case_id c4, c7); fill the truth to include them") in messages
    assert any("train.csv: 2 of 8 row(s)" in m and "row (0-based) 4, 7" in m for m in messages)
    assert out["n_unlabelled_excluded"] == 2 and out["threshold_from_n_unlabelled_excluded"] == 2
    assert out["scores"]["s"]["n"] == 6
    r = _evaluate(tmp_path / "p.csv", tmp_path / "p.json")
    assert r.exit_code == 0, r.output
    assert (f"note: left out 2 row(s) of {tmp_path / 'p.csv'} with no 'y' value "
            "(n_unlabelled_excluded in the JSON)") in " ".join(r.output.split())
    assert json.loads((tmp_path / "p.json").read_text())["n_unlabelled_excluded"] == 2
