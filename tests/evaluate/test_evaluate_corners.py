"""Issue 14, evaluation corners against R: direction (pROC aSAH), tied Youden optima
(cutpointr), perfect separation, calibration names (rms val.prob) and Hosmer-Lemeshow df,
a subgroup called "missing", and Riley et al.'s minimum sample size.

References: tests/fixtures/evaluate/corners_ref.json, made by make_corners.R.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from thyromics.errors import ThyromicsWarning
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.api import evaluate_scores
from thyromics.evaluate.calibration import hosmer_lemeshow
from thyromics.evaluate.commands import evaluate as evaluate_command
from thyromics.evaluate.thresholds import (
    TiedCutpointWarning,
    youden,
)
from thyromics.stats.sample_size import (
    SampleSizeWarning,
    check_sample_size,
    riley_binary,
)


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return json.loads((fixtures_dir / "evaluate" / "corners_ref.json").read_text())


@pytest.fixture(scope="module")
def asah(fixtures_dir):
    d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "asah.csv")
    return d.assign(neg=-d["s100b"])


def _quiet(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_scores(**kw)


# ----------------------------------------------------------------- direction
def test_lower_means_positive_matches_proc(asah, ref):
    r = ref["asah"]
    assert len(asah) == r["n"] and asah.outcome.sum() == r["n_pos"]
    with pytest.warns(ThyromicsWarning, match="below 0.5"):  # default "higher" warns
        hi = evaluate_scores(asah, truth="outcome", scores=["neg"])["scores"]["neg"]
    assert hi["auc"] == pytest.approx(r["neg_lt"]["auc"], abs=1e-12)  # 0.269, not flipped
    assert "other way" in hi["direction_note"]
    lo = _quiet(frame=asah, truth="outcome", scores=["neg"], direction="lower")["scores"]["neg"]
    assert lo["auc"] == pytest.approx(r["neg_gt"]["auc"], abs=1e-12)  # 0.731
    assert lo["auc_ci"] == pytest.approx([r["neg_gt"]["low"], r["neg_gt"]["high"]], abs=1e-9)
    assert lo["direction"] == "lower" and lo["positive_when"] == "score <= threshold"
    # the threshold is on the score's own scale: cutpointr direction "<="
    cut = r["neg_cutpointr"]
    assert lo["threshold"] == pytest.approx(cut["cutpoints"], abs=1e-12)
    assert lo["sensitivity"]["value"] == pytest.approx(cut["sensitivity"], abs=1e-12)
    assert lo["specificity"]["value"] == pytest.approx(cut["specificity"], abs=1e-12)
    called = asah["neg"] <= lo["threshold"]
    assert lo["counts"]["tp"] == int((called & (asah.outcome == 1)).sum())
    assert lo["calibration_note"].startswith("no calibration")


def test_auto_direction_follows_proc_and_warns(asah, ref):
    with pytest.warns(ThyromicsWarning, match="optimistic"):
        out = evaluate_scores(asah, truth="outcome", scores=["neg", "s100b"], direction="auto")
    assert out["scores"]["neg"]["direction"] == "lower" == ref["asah"]["neg_auto"]["direction"].replace(">", "lower")
    assert out["scores"]["s100b"]["direction"] == "higher"
    for name, key in (("neg", "neg_auto"), ("s100b", "s100b_auto")):
        assert out["scores"][name]["auc"] == pytest.approx(ref["asah"][key]["auc"], abs=1e-12)
    (c,) = out["comparisons"]  # both on the effective scale: same AUC, difference 0
    assert c["auc_diff"] == pytest.approx(0.0, abs=1e-12)


def test_direction_on_the_command_line(asah, tmp_path):
    asah.to_csv(tmp_path / "p.csv", index=False)
    app = typer.Typer()
    app.command("evaluate")(evaluate_command)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "p.csv"), "--truth", "outcome",
                                   "--score", "neg", "--direction", "lower", "-o",
                                   str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["scores"]["neg"]["auc"] == pytest.approx(0.7314, abs=1e-4)
    assert "score <= threshold" in res.output
    res = CliRunner().invoke(app, ["evaluate", str(tmp_path / "p.csv"), "--truth", "outcome",
                                   "--score", "neg", "--direction", "down", "-o",
                                   str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "higher, lower, auto" in res.output


# ----------------------------------------------------------------- tied Youden optima
def _j(y, s, t):
    y, s = np.asarray(y), np.asarray(s)
    pos = s >= t
    return pos[y == 1].mean() + (~pos)[y == 0].mean() - 1


@pytest.mark.parametrize("case", ["separation_b", "hand"])
def test_tied_youden_gives_an_optimal_threshold(case, ref, fixtures_dir):
    r = ref["ties"][case]
    if case == "hand":
        y, s = [0, 0, 0, 0, 1, 1, 1, 1], [1, 2, 3, 5, 4, 6, 7, 8]
    else:
        d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "separation.csv")
        y, s = d.y.to_numpy(), d.b.to_numpy()
    with pytest.warns(TiedCutpointWarning, match="Multiple optimal cut-points"):
        t = youden(y, s)
    assert t in r["cutpoints"]                                   # one of cutpointr's optima
    assert _j(y, s, t) == pytest.approx(r["youden"], abs=1e-12)  # reaches the maximum J
    # cutpointr's median of the ties is not optimal here: J drops
    assert youden(y, s, ties="median", warn=False) == pytest.approx(r["median"])
    assert _j(y, s, r["median"]) == pytest.approx(r["youden_at_median"])
    assert r["youden_at_median"] < r["youden"] - 0.1
    out = _quiet(frame=pd.DataFrame({"y": y, "s": s}), truth="y", scores=["s"])
    b = out["scores"]["s"]
    assert b["threshold"] == t and "tie at the maximum Youden J" in b["threshold_note"]


# ----------------------------------------------------------------- perfect separation
def test_perfect_separation_warns_and_gives_no_zero_width_ci():
    y = np.array([0] * 12 + [1] * 9)
    s = np.r_[np.linspace(0.05, 0.4, 12), np.linspace(0.6, 0.95, 9)]
    with pytest.warns(UndefinedMetricWarning, match="separates the classes perfectly"):
        out = evaluate_scores(pd.DataFrame({"y": y, "s": s}), truth="y", scores=["s"])
    b = out["scores"]["s"]
    assert b["auc"] == 1.0 and b["auc_ci"] == [None, None] and "not estimable" in b["auc_ci_note"]
    for m in ("sensitivity", "specificity", "accuracy", "ppv", "npv"):
        lo, hi = b[m]["ci"]
        assert b[m]["value"] == 1.0 and hi - lo > 0.1, m  # Wilson: never zero-width
    with pytest.warns(UndefinedMetricWarning, match="separates"):
        boot = evaluate_scores(pd.DataFrame({"y": y, "s": s}), truth="y", scores=["s"], bootstrap=200)
    assert boot["scores"]["s"]["auc_ci"] == [None, None]


# ----------------------------------------------------------------- calibration
def test_calibration_names_and_hosmer_lemeshow_df(ref, fixtures_dir):
    r = ref["calibration"]
    d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "medium.csv")
    b = _quiet(frame=d, truth="y", scores=["pa"])["scores"]["pa"]
    assert b["calibration_in_the_large"] == pytest.approx(r["citl"], abs=1e-6)
    assert b["val_prob_intercept"] == pytest.approx(r["val_prob"]["Intercept"], abs=1e-4)
    assert b["calibration_slope"] == pytest.approx(r["val_prob"]["Slope"], abs=1e-4)
    assert b["brier"] == pytest.approx(r["val_prob"]["Brier"], abs=1e-9)
    assert "calibration_intercept" not in b  # the ambiguous name is gone
    hl = b["hosmer_lemeshow"]
    assert (hl["df"], hl["sample"]) == (r["development"]["df"], "development")
    assert hl["p"] == pytest.approx(r["development"]["p"], rel=1e-9)
    v = hosmer_lemeshow(d.y, d.pa, sample="validation")
    assert v["df"] == r["validation"]["df"] and v["p"] == pytest.approx(r["validation"]["p"], rel=1e-9)
    out = _quiet(frame=d, truth="y", scores=["pa"], calibration_sample="validation")
    assert out["scores"]["pa"]["hosmer_lemeshow"]["df"] == 10


# ----------------------------------------------------------------- subgroups
def test_a_subgroup_called_missing_is_not_merged_with_nan():
    rng = np.random.default_rng(0)
    n = 90
    g = np.array(["missing", "a", None] * 30, dtype=object)
    y = np.tile([0, 1, 1, 0, 1, 0], n // 6)
    d = pd.DataFrame({"y": y, "s": rng.normal(size=n) + y, "g": g})
    out = _quiet(frame=d, truth="y", scores=["s"], subgroup="g")["subgroups"]["g"]
    assert set(out) == {"a", "missing", "missing (no value)"}
    assert out["missing"]["n"] == 30 and out["missing (no value)"]["n"] == 30
    plain = _quiet(frame=d.assign(g=np.where(g == "missing", "b", g)), truth="y", scores=["s"],
                   subgroup="g")["subgroups"]["g"]
    assert set(plain) == {"a", "b", "missing"} and plain["missing"]["n"] == 30


# ----------------------------------------------------------------- sample size
def test_riley_sample_size_matches_the_published_example(ref):
    r = ref["riley"]["example"]
    s = riley_binary(24, 0.174, r2_cs=0.288)
    assert [s.n_criterion_i, s.n_criterion_ii, s.n_criterion_iii] == r["n"] == [623, 662, 221]
    assert s.n_required == 662 and s.events_required == 116 and round(s.epp_required, 1) == 4.8
    assert s.max_r2_cs == pytest.approx(r["max_r2"], rel=1e-12)
    assert s.shrinkage_ii == pytest.approx(r["shrinkage_2"], rel=1e-12)


def test_the_ct_seed_cohort_is_flagged_too_small(ref):
    r = ref["riley"]["ct_seed"]
    with pytest.warns(SampleSizeWarning, match="too small"):
        s = check_sample_size(160, 32, 131)
    assert not s.enough and s.epp == pytest.approx(32 / 131)
    assert [s.n_criterion_i, s.n_criterion_ii, s.n_criterion_iii] == r["n"]
    assert "Nagelkerke R2 = 0.15" in s.r2_source
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_sample_size(2000, 600, 5).enough
