"""Issue 14, statistics corners: Table 1 column namespace, identifier-like columns, every
Fisher table shape, Welch ANOVA, exact Mann-Whitney, logistic profile CIs, Firth, GVIF.

R references: tests/fixtures/stats/corners_ref.json, made by make_corners.R.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.stats import _htest
from thyromics.stats.logistic import multivariable, univariable
from thyromics.stats.table1 import identifier_like, read_table1_csv, table1


@pytest.fixture(scope="module")
def ref(fixtures_dir):
    return json.loads((fixtures_dir / "stats" / "corners_ref.json").read_text())


@pytest.fixture(scope="module")
def corners(fixtures_dir):
    return pd.read_csv(fixtures_dir / "stats" / "corners_data.csv")


# ----------------------------------------------------------------- Table 1 columns
RESERVED = ["test", "p", "Overall", "Missing", "level", "variable"]


def _frame(n: int = 60, seed: int = 0, levels=("train", "test")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.array(levels * (n // len(levels)))
    return pd.DataFrame({"cohort": g, "age": np.round(rng.normal(60, 10, n), 1),
                         "sex": rng.choice(["F", "M"], n)})


@pytest.mark.parametrize("name", RESERVED)
def test_a_group_named_like_a_fixed_column_keeps_its_own_column(name, tmp_path):
    d = _frame(levels=("train", name))
    t = table1(d, group="cohort", variables=["age", "sex"])
    col = f"cohort = {name}"
    assert col in t.frame.columns and len(set(t.frame.columns)) == len(t.frame.columns)
    f = t.frame.set_index(["variable", "level"])
    assert f.loc[("n", ""), col] == str(int((d.cohort == name).sum()))
    x = d.loc[d.cohort == name, "age"]
    assert f.loc[("age", "mean ± SD"), col] == f"{x.mean():.1f} ± {x.std(ddof=1):.1f}"
    # the fixed columns still hold what they should
    assert f.loc[("age", "mean ± SD"), "test"].endswith("t-test")
    assert f.loc[("n", ""), "Overall"] == str(len(d))
    assert f.loc[("age", "mean ± SD"), "Missing"] == "0"
    # the CSV round-trips with the same columns, and the HTML heads the groups
    back, foot = read_table1_csv(t.to_csv(tmp_path / "t.csv"))
    assert back.equals(t.frame) and foot
    html = t.to_html()
    assert '<th colspan="2">cohort</th>' in html and f"<th>{name}</th>" in html


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_names_as_strata_and_groups(name):
    d = _frame(120, levels=("train", name))
    d["y"] = np.tile([0, 1, 1, 0], 30)
    d["y"] = d["y"].map({0: "p", 1: name if name != "p" else "q"})
    t = table1(d, group="y", by="cohort", variables=["age"])
    assert len(set(t.frame.columns)) == len(t.frame.columns)
    assert f"cohort = {name} | p" in t.frame.columns and f"cohort = {name} | test" in t.frame.columns
    assert t.to_html().count("<table") == 1


def test_identifier_like_columns_are_left_out_and_named():
    n = 60
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"label": np.tile([0, 1], n // 2),
                      "uid": [f"1.3.6.1.{i}" for i in range(n)],      # unique text
                      "path": [f"img/{i % 30}.nii" for i in range(n)],  # 30 text levels
                      "rowid": np.arange(n),                            # integer, unique
                      "diameter": rng.normal(10, 2, n),                 # float, unique: kept
                      "site": rng.choice(["a", "b", "c"], n)})
    assert identifier_like(d["uid"]) and identifier_like(d["path"]) and identifier_like(d["rowid"])
    assert identifier_like(d["diameter"]) is None and identifier_like(d["site"]) is None
    t = table1(d, group="label")
    assert set(t.tests["variable"]) == {"diameter", "site"}
    note = " ".join(t.notes)
    for c in ("uid", "path", "rowid"):
        assert repr(c) in note
    assert "Identifier-like" in t.footnote()
    t = table1(d, group="label", variables=["site", "rowid"])  # asked for: tabulated
    assert set(t.tests["variable"]) == {"site", "rowid"}


@pytest.mark.realdata
@pytest.mark.slow
def test_default_table1_on_lidc_is_fast_and_names_the_uid(lidc_dir):
    from thyromics.io.manifest import read_manifest

    m = read_manifest(lidc_dir / "cases.csv", check_files=False)
    f = m.frame[[*m.clinical_columns, "label"]]
    t0 = time.perf_counter()
    t = table1(f[f.label.notna()], group="label")
    assert time.perf_counter() - t0 < 30
    assert "seriesuid" not in set(t.tests["variable"]) and "'seriesuid'" in t.footnote()
    assert "Diagnosis_value" in set(t.tests["variable"])


def test_numeric_categorical_is_said_and_sorted_numerically(corners):
    t = table1(corners, group="y_grade", variables=["grade_num"])
    levels = t.frame.loc[t.frame["variable"] == "grade_num", "level"].tolist()
    assert levels == ["", "1", "2", "10"]
    assert "'grade_num' (3 values)" in t.footnote() and "numeric order" in t.footnote()


def test_nonnormal_list_does_not_force_the_others_normal():
    rng = np.random.default_rng(3)
    n = 200
    d = pd.DataFrame({"g": np.tile([0, 1], n // 2), "normal": rng.normal(0, 1, n),
                      "skewed": rng.lognormal(0, 1.2, n), "named": rng.normal(0, 1, n)})
    t = table1(d, group="g", nonnormal=["named"])
    s = t.tests.set_index("variable")
    assert s.loc["named", "summary"] == "median [IQR]"       # forced
    assert s.loc["skewed", "summary"] == "median [IQR]"      # Shapiro-Wilk rule, not forced normal
    assert s.loc["normal", "summary"] == "mean ± SD"
    assert "named by the user as non-normal" in t.footnote()


def test_csv_carries_the_footnote(tmp_path):
    d = _frame()
    d.loc[:4, "cohort"] = None
    t = table1(d, group="cohort", variables=["age", "sex"])
    text = (t.to_csv(tmp_path / "t.csv")).read_text()
    assert "Shapiro-Wilk" in text and "5 rows with missing 'cohort'" in text
    assert "Student" in text or "Welch" in text
    back, foot = read_table1_csv(tmp_path / "t.csv")
    assert len(back) == len(t.frame) and " ".join(foot) == t.footnote()


# ----------------------------------------------------------------- tests vs R
def test_welch_anova_when_levene_rejects(corners, ref):
    for var, expected in (("x_het", "Welch ANOVA"), ("x_hom", "one-way ANOVA")):
        r = ref[var]
        xs = [corners.loc[corners.g3 == g, var].to_numpy() for g in ("a", "b", "c")]
        assert _htest.variances_differ(xs)[1] == pytest.approx(r["levene_p"], rel=1e-9)
        res = _htest.continuous_test(xs, normal=True)
        assert res.test == expected
        if expected == "Welch ANOVA":
            assert res.statistic == pytest.approx(r["welch_F"], rel=1e-10)
            assert res.p == pytest.approx(r["welch_p"], rel=1e-10)
        else:
            assert res.p == pytest.approx(r["anova_p"], rel=1e-10)
        f, df1, df2, p = _htest.welch_anova(xs)
        assert (f, df1, df2, p) == pytest.approx((r["welch_F"], 2, r["welch_df2"], r["welch_p"]),
                                                 rel=1e-10)
    t = table1(corners, group="g3", variables=["x_het"])
    assert t.tests["test"].item() == "Welch ANOVA" and "Welch's one-way" in t.footnote()


def test_mann_whitney_exact_for_small_samples_without_ties(corners, ref):
    r = ref["wilcox"]
    s = corners.dropna(subset=["small_x"])
    u, v = (s.loc[s.small_g == g, "small_x"].to_numpy() for g in ("u", "v"))
    res = _htest.continuous_test([u, v], normal=False)
    assert res.test == "Mann-Whitney U (exact)"
    assert res.statistic == r["W"] and res.p == pytest.approx(r["exact_p"], rel=1e-10)
    tied = _htest.continuous_test([np.array(r["tied_u"]), np.array(r["tied_v"])], normal=False)
    assert tied.test == "Mann-Whitney U" and tied.p == pytest.approx(r["tied_p"], rel=1e-9)
    assert tied.statistic == r["tied_W"]


def test_fisher_every_shape_of_sparse_wide_tables(ref, monkeypatch):
    for name, r in ref["fisher"].items():
        tab = np.array(r["table"])
        res = _htest.categorical_test(tab, min_expected=1e9)  # always Fisher
        if 2 in tab.shape:
            assert res.test == "Fisher exact", name
            assert res.p == pytest.approx(r["p"], rel=1e-9), name
        else:
            assert res.test == "Fisher exact (Monte Carlo)", name
            se = np.sqrt(r["p"] * (1 - r["p"]) / _htest.FISHER_MC_RESAMPLES)
            assert abs(res.p - r["p"]) < 4 * se + 1e-5, name
    # a 2 x c table too wide to enumerate goes to Monte Carlo (scipy returns a 1-element
    # array there: the TypeError of the LIDC run)
    monkeypatch.setattr(_htest, "_FISHER_EXACT_MAX_WORK", 0)
    r = ref["fisher"]["t2x25"]
    res = _htest.categorical_test(np.array(r["table"]), min_expected=1e9)
    assert res.test == "Fisher exact (Monte Carlo)" and isinstance(res.p, float)
    se = np.sqrt(r["p"] * (1 - r["p"]) / _htest.FISHER_MC_RESAMPLES)
    assert abs(res.p - r["p"]) < 4 * se


# ----------------------------------------------------------------- logistic vs R
@pytest.fixture(scope="module")
def ld(fixtures_dir):
    return pd.read_csv(fixtures_dir / "stats" / "logistic_data.csv")


def test_profile_likelihood_ci_matches_confint_glm(ld, ref):
    r = ref["logistic"]
    res = multivariable(ld, "y", ["x1", "x2", "cat3", "bin"], ci="profile")
    assert res.ci == "profile" and (res.table["ci"] == "profile").all()
    # R finds the profile points by spline interpolation of a grid: ~1e-5 on the log scale
    np.testing.assert_allclose(np.log(res.table["ci_low"]), r["profile_low"], atol=1e-4)
    np.testing.assert_allclose(np.log(res.table["ci_high"]), r["profile_high"], atol=1e-4)
    wald = multivariable(ld, "y", ["x1", "x2", "cat3", "bin"])
    np.testing.assert_allclose(np.log(wald.table["ci_low"]), r["wald_low"], rtol=1e-9)
    uni = univariable(ld, "y", ["x1"], ci="profile")
    assert uni["ci"].item() == "profile"


def test_gvif_matches_car_vif(ld, ref):
    r = ref["logistic"]
    res = multivariable(ld, "y", ["x1", "x2", "cat3", "bin"])
    per_var = res.table.dropna(subset=["gvif"]).drop_duplicates("variable").set_index("variable")
    assert list(per_var.index) == r["gvif_terms"]
    np.testing.assert_allclose(per_var["gvif"], r["gvif"], rtol=1e-6)
    np.testing.assert_allclose(per_var["gvif_df"], r["gvif_df"])
    np.testing.assert_allclose(per_var["gvif_adj"], r["gvif_adj"], rtol=1e-6)
    num = multivariable(ld, "y", ["x1", "x2", "bin"]).table.dropna(subset=["gvif"])
    np.testing.assert_allclose(num["gvif"], r["vif_numeric"], rtol=1e-6)


def test_firth_matches_brglm2(ld, ref, fixtures_dir):
    r = ref["firth"]
    res = multivariable(ld, "y", ["x1", "x2", "cat3", "bin"], firth=True)
    assert res.method.startswith("Firth") and res.converged
    np.testing.assert_allclose(res.table["coef"], r["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.table["se"], r["se"], rtol=1e-8)
    np.testing.assert_allclose(res.table["p"], r["p"], rtol=1e-6)
    sd = pd.read_csv(fixtures_dir / "stats" / "separation_data.csv")
    for key, y, xs in (("separated_complete", "y_c", ["x_sep", "noise"]),
                       ("separated_quasi", "y_q", ["noise", "grp"])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # Firth has finite estimates: no separation warning
            fit = multivariable(sd, y, xs, firth=True)
        np.testing.assert_allclose(fit.table["coef"], r[key]["coef"], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(fit.table["se"], r[key]["se"], rtol=1e-7)
        assert fit.table["OR"].notna().all()


def test_numeric_categorical_reference_is_the_smallest_value(corners, ref):
    r = ref["factor_numeric"]
    res = multivariable(corners, "y_grade", ["grade_num"], categorical=["grade_num"])
    assert res.table["term"].tolist() == ["const", "grade_num[2]", "grade_num[10]"]
    assert set(res.table["reference"][1:]) == {"1"}
    np.testing.assert_allclose(res.table["coef"], r["coef"], rtol=1e-7)


def test_cli_profile_and_firth(ld, fixtures_dir, tmp_path):
    path = fixtures_dir / "stats" / "logistic_data.csv"
    out = tmp_path / "lr.csv"
    res = CliRunner().invoke(app, ["logistic", str(path), "-y", "y", "-x", "x1,x2,cat3",
                                   "--multivariable", "--ci", "profile", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "profile-likelihood" in res.output and (pd.read_csv(out)["ci"] == "profile").all()
    res = CliRunner().invoke(app, ["logistic", str(fixtures_dir / "stats" / "separation_data.csv"),
                                   "-y", "y_c", "-x", "x_sep,noise", "--multivariable", "--firth"])
    assert res.exit_code == 0 and "Firth" in res.output
    res = CliRunner().invoke(app, ["logistic", str(path), "-y", "y", "-x", "x1", "--ci", "exact"])
    assert res.exit_code == 2 and "wald, profile" in res.output
