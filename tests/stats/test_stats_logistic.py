"""Logistic regression against R's glm(binomial) / rms::lrm and closed forms.

Reference numbers: tests/fixtures/stats/logistic_ref.json and separation_ref.json, made
by tests/fixtures/stats/make_fixtures.R.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thyromics.errors import InputError
from thyromics.stats.logistic import SeparationWarning, multivariable, univariable

TOL = dict(rel=1e-6, abs=1e-9)


@pytest.fixture(scope="module")
def data(fixtures_dir) -> pd.DataFrame:
    return pd.read_csv(fixtures_dir / "stats" / "logistic_data.csv")


@pytest.fixture(scope="module")
def ref(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "stats" / "logistic_ref.json").read_text())


@pytest.fixture(scope="module")
def sep_data(fixtures_dir) -> pd.DataFrame:
    return pd.read_csv(fixtures_dir / "stats" / "separation_data.csv")


@pytest.fixture(scope="module")
def sep_ref(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "stats" / "separation_ref.json").read_text())


def _r_term(term: str) -> str:
    """'cat3[low]' -> R's 'cat3low'; 'const' -> '(Intercept)'."""
    return "(Intercept)" if term == "const" else term.replace("[", "").replace("]", "")


def _assert_matches(table: pd.DataFrame, r: dict) -> None:
    assert [_r_term(t) for t in table["term"]] == r["terms"]
    for ours, theirs in [("coef", "coef"), ("se", "se"), ("OR", "OR"), ("ci_low", "ci_low"),
                         ("ci_high", "ci_high"), ("p", "p")]:
        assert table[ours].to_numpy() == pytest.approx(np.array(r[theirs]), **TOL), ours


def test_multivariable_matches_glm(data, ref):
    r = ref["multivariable"]
    res = multivariable(data, "y", ["x1", "x2", "cat3", "bin"])
    _assert_matches(res.table, r)
    assert (res.n, res.events) == (r["n"], r["events"])
    assert res.n_dropped == ref["n_rows"] - r["n"] > 0
    assert res.aic == pytest.approx(r["aic"], **TOL)
    assert res.log_likelihood == pytest.approx(r["loglik"], **TOL)
    assert res.converged and res.separation is None
    assert res.table["coef"].to_numpy() == pytest.approx(np.array(r["lrm_coef"]), **TOL)
    assert res.table["se"].to_numpy() == pytest.approx(np.array(r["lrm_se"]), **TOL)
    cat = res.table[res.table["variable"] == "cat3"]
    assert set(cat["reference"]) == {"high"} and list(cat["level"]) == ["low", "mid"]


def test_reference_level_override(data, ref):
    r = ref["multivariable_ref_low"]
    res = multivariable(data, "y", ["x1", "x2", "cat3", "bin"], reference={"cat3": "low"})
    # R's relevel puts the new reference first and keeps the others in order: high, mid
    assert [_r_term(t) for t in res.table["term"]] == r["terms"]
    _assert_matches(res.table, r)


def test_vif_matches_lm(data, ref):
    r = ref["multivariable"]["vif"]
    res = multivariable(data, "y", ["x1", "x2", "cat3", "bin"])
    assert [_r_term(t) for t in res.vif.index] == r["terms"]
    assert res.vif.to_numpy() == pytest.approx(np.array(r["vif"]), rel=1e-9)
    assert res.vif["x1"] > 3  # x2 = 0.7 x1 + noise: collinear by design
    # car::vif on the continuous-only linear model, same formula
    sub = multivariable(data, "y", ["x1", "x2", "bin"])
    assert sub.vif.to_numpy() == pytest.approx(np.array(ref["multivariable"]["car_vif"]),
                                               rel=1e-9)


@pytest.mark.parametrize("pred", ["x1", "x2", "cat3", "bin"])
def test_univariable_matches_glm(data, ref, pred):
    r = ref["univariable"][pred]
    u = univariable(data, "y", [pred])
    assert [_r_term(t) for t in u["term"]] == r["terms"][1:]
    for c in ["OR", "ci_low", "ci_high", "p"]:
        assert u[c].to_numpy() == pytest.approx(np.array(r[c][1:]), **TOL), c
    assert set(u["n"]) == {r["n"]} and set(u["events"]) == {r["events"]}
    assert set(u["n_dropped"]) == {ref["n_rows"] - r["n"]}


def test_univariable_binary_closed_form():
    """One 0/1 predictor: OR = ad/bc, SE(log OR) = sqrt(1/a + 1/b + 1/c + 1/d) (Woolf)."""
    a, b, c, d = 30, 10, 20, 40  # exposed events, exposed non-events, unexposed ...
    x = [1] * (a + b) + [0] * (c + d)
    y = [1] * a + [0] * b + [1] * c + [0] * d
    u = univariable(pd.DataFrame({"x": x, "y": y}), "y", ["x"]).iloc[0]
    odds_ratio = a * d / (b * c)
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    z = stats.norm.ppf(0.975)
    assert u["OR"] == pytest.approx(odds_ratio, rel=1e-9)
    assert u["ci_low"] == pytest.approx(odds_ratio * np.exp(-z * se), rel=1e-9)
    assert u["ci_high"] == pytest.approx(odds_ratio * np.exp(z * se), rel=1e-9)
    assert u["p"] == pytest.approx(2 * stats.norm.sf(np.log(odds_ratio) / se), rel=1e-9)
    assert (u["n"], u["events"]) == (100, 50)


# ----------------------------------------------------------------- separation
def test_complete_separation_reported_not_absurd(sep_data, sep_ref):
    r = sep_ref["complete"]
    # what R does: absurd coefficients with enormous standard errors
    assert abs(r["coef"][1]) > 50 and r["se"][1] > 1e4
    assert any("numerically 0 or 1" in w for w in r["warnings"])
    with pytest.warns(SeparationWarning, match="Complete separation"):
        res = multivariable(sep_data, "y_c", ["x_sep", "noise"])
    assert res.separation.kind == "complete"
    assert res.separation.terms == ("x_sep",)
    assert res.table["OR"].isna().all() and not res.converged
    msg = res.separation.message
    assert "'x_sep' on its own" in msg and "Firth" in msg


def test_quasi_separation_names_the_level(sep_data, sep_ref):
    r = sep_ref["quasi"]
    # R's glm gives no warning at all here, just OR = exp(18) with SE 1500
    assert not r["warnings"] and r["coef"][3] > 15 and r["se"][3] > 1000
    with pytest.warns(SeparationWarning):
        res = multivariable(sep_data, "y_q", ["noise", "grp"])
    assert res.separation.kind == "quasi-complete"
    assert res.separation.infinite == ("grp[C]",)
    n_c = int((sep_data["grp"] == "C").sum())
    assert f"Level 'C' of 'grp': {n_c} of {n_c} cases are events" in res.separation.message
    t = res.table.set_index("term")
    assert np.isnan(t.loc["grp[C]", "OR"])
    # the finite terms converge to R's values (R stops its iterations at grpC = 18.3)
    for i, term in enumerate(["const", "noise", "grp[B]"]):
        assert t.loc[term, "coef"] == pytest.approx(r["coef"][i], rel=1e-5)
        assert t.loc[term, "se"] == pytest.approx(r["se"][i], rel=1e-5)


def test_univariable_screen_survives_separation(sep_data):
    with pytest.warns(SeparationWarning, match="x_sep"):
        u = univariable(sep_data, "y_c", ["noise", "x_sep"])
    rows = u.set_index("term")
    assert np.isfinite(rows.loc["noise", "OR"]) and rows.loc["noise", "note"] == ""
    assert np.isnan(rows.loc["x_sep", "OR"]) and "Complete separation" in rows.loc["x_sep", "note"]


def test_no_false_alarm_on_ordinary_data(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        res = multivariable(data, "y", ["x1", "x2", "cat3", "bin"])
    assert res.separation is None


# ----------------------------------------------------------------- errors
def test_errors(data):
    with pytest.raises(InputError, match="Did you mean 'cat3'"):
        multivariable(data, "y", ["cat"])
    with pytest.raises(InputError, match="reference level 'lo' .* Did you mean 'low'"):
        multivariable(data, "y", ["cat3"], reference={"cat3": "lo"})
    with pytest.raises(InputError, match="must be 0/1"):
        multivariable(data, "cat3", ["x1"])
    res = multivariable(data.assign(g=np.where(data["y"] == 1, "yes", "no")), "g", ["x1"],
                        event="yes")
    assert res.events == int(data["y"].sum())
