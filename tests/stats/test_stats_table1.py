"""Table 1 against R (fixtures from tests/fixtures/stats/make_fixtures.R).

Every expected number here was computed by R 4.2.2 (t.test, wilcox.test, aov,
kruskal.test, shapiro.test, chisq.test, fisher.test, quantile type 7); the expected
*choice* of test is derived from R's Shapiro-Wilk, Levene and expected-count numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.stats import _htest
from thyromics.stats.table1 import detect_categorical, format_p, read_table1_csv, table1

CONT = ["age", "size_mm", "psa"]
CAT = ["sex", "stage", "rare"]
RTOL = 1e-6


@pytest.fixture(scope="module")
def data(fixtures_dir) -> pd.DataFrame:
    return pd.read_csv(fixtures_dir / "stats" / "table1_data.csv")


@pytest.fixture(scope="module")
def ref(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "stats" / "table1_ref.json").read_text())


def _groups(data, var, gcol, levels):
    return [data.loc[data[gcol].astype(str) == lv, var].dropna().to_numpy(float)
            for lv in levels]


def _expected_cont(r: dict, normal: bool) -> tuple[str, float]:
    if len(r["levels"]) == 2:
        if not normal:
            return "Mann-Whitney U", r["wilcox_p"]
        return ("Welch t-test", r["welch_p"]) if r["levene_p"] < 0.05 else \
            ("Student t-test", r["student_p"])
    return ("one-way ANOVA", r["anova_p"]) if normal else ("Kruskal-Wallis", r["kruskal_p"])


def _expected_cat(r: dict) -> tuple[str, float]:
    if r["min_expected"] >= 5:
        return ("chi-square (Yates)" if np.shape(r["counts"]) == (2, 2) else "chi-square",
                r["chisq_p"])
    shape = np.shape(r["counts"])
    return ("Fisher exact" if 2 in shape else "Fisher exact (Monte Carlo)", r["fisher_p"])


# ----------------------------------------------------------------- single tests vs R
@pytest.mark.parametrize("gcol", ["outcome", "grade3"])
@pytest.mark.parametrize("var", CONT)
def test_continuous_tests_match_r(data, ref, gcol, var):
    r = ref[gcol][var]
    xs = _groups(data, var, gcol, r["levels"])
    from scipy import stats

    assert [len(x) for x in xs] == r["n"]
    np.testing.assert_allclose([stats.shapiro(x).pvalue for x in xs], r["shapiro_p"], rtol=1e-5)
    assert _htest.variances_differ(xs)[1] == pytest.approx(r["levene_p"], rel=RTOL)
    assert r["levene_p"] == pytest.approx(r["car_levene_p"], rel=1e-9)  # car-free == car
    if len(xs) == 2:
        res = _htest.continuous_test(xs, normal=False)
        assert res.p == pytest.approx(r["wilcox_p"], rel=RTOL)
        assert res.statistic == pytest.approx(r["wilcox_W"], rel=1e-12)
        st = stats.ttest_ind(*xs, equal_var=True)
        we = stats.ttest_ind(*xs, equal_var=False)
        assert st.pvalue == pytest.approx(r["student_p"], rel=RTOL)
        assert we.pvalue == pytest.approx(r["welch_p"], rel=RTOL)
        expected = "Welch t-test" if r["levene_p"] < 0.05 else "Student t-test"
        res = _htest.continuous_test(xs, normal=True)
        assert res.test == expected
        assert res.p == pytest.approx(r["welch_p" if "Welch" in expected else "student_p"],
                                      rel=RTOL)
    else:
        res = _htest.continuous_test(xs, normal=True)
        assert (res.test, res.p) == ("one-way ANOVA", pytest.approx(r["anova_p"], rel=RTOL))
        assert res.statistic == pytest.approx(r["anova_F"], rel=RTOL)
        res = _htest.continuous_test(xs, normal=False)
        assert (res.test, res.p) == ("Kruskal-Wallis", pytest.approx(r["kruskal_p"], rel=RTOL))
        assert res.statistic == pytest.approx(r["kruskal_H"], rel=RTOL)


@pytest.mark.parametrize("gcol", ["outcome", "grade3", "outcome_in_train",
                                  "outcome_in_internal", "outcome_in_external"])
@pytest.mark.parametrize("var", CAT)
def test_categorical_tests_match_r(ref, gcol, var):
    from scipy import stats

    r = ref[gcol][var]
    tab = np.array(r["counts"])
    assert stats.chi2_contingency(tab, correction=True).pvalue == pytest.approx(
        r["chisq_p"], rel=RTOL)
    assert stats.contingency.expected_freq(tab).min() == pytest.approx(r["min_expected"])
    name, p_r = _expected_cat(r)
    res = _htest.categorical_test(tab)
    assert res.test == name
    if name == "Fisher exact (Monte Carlo)":
        # R: exact network algorithm; ours: 100 000 seeded resamples (SE <= 0.0016)
        assert res.p == pytest.approx(p_r, abs=0.006)
    else:
        assert res.p == pytest.approx(p_r, rel=RTOL)


def test_fisher_2xc_exact_matches_r_on_every_table(ref):
    """The exact 2 x c enumeration on every 2-column table of the fixtures."""
    checked = 0
    for g in ref:
        if g == "R_version":
            continue
        for r in ref[g].values():
            if "counts" in r and 2 in np.shape(r["counts"]):
                assert _htest.fisher_exact_2xc(np.array(r["counts"])) == pytest.approx(
                    r["fisher_p"], rel=RTOL)
                checked += 1
    assert checked == 14  # 3 x 4 cohort blocks (sex, stage, rare) + grade3 sex, rare


def _fisher_brute(tab: np.ndarray) -> float:
    """Naive oracle: enumerate every 2 x c table with the observed margins."""
    import itertools
    from math import comb

    cols, r1 = tab.sum(axis=0), int(tab[0].sum())
    prob = lambda x: np.prod([comb(int(c), int(k)) for c, k in zip(cols, x)]) / comb(  # noqa: E731
        int(cols.sum()), r1)
    p_obs = prob(tab[0])
    total = 0.0
    for x in itertools.product(*[range(int(c) + 1) for c in cols]):
        if sum(x) == r1 and prob(x) <= p_obs * (1 + 1e-7):
            total += prob(x)
    return total


@pytest.mark.parametrize("seed", range(6))
def test_fisher_2xc_network_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 6))
    tab = rng.integers(0, 7, size=(2, c))
    tab[:, tab.sum(axis=0) == 0] = 1
    assert _htest.fisher_exact_2xc(tab) == pytest.approx(_fisher_brute(tab), rel=1e-9)


def test_fisher_hand_example():
    # Fisher's tea-tasting style example, p from the hypergeometric sum (scipy docs / R).
    assert _htest.fisher_exact_2xc(np.array([[8, 2], [1, 5]])) == pytest.approx(
        0.034965034965035, rel=1e-12)


# ----------------------------------------------------------------- Table 1 vs R
def _check_table(t, ref_block, stratum=None):
    tests = t.tests if stratum is None else t.tests[t.tests["stratum"] == stratum]
    for _, row in tests.iterrows():
        r = ref_block[row["variable"]]
        if row["kind"] == "continuous":
            name, p_r = _expected_cont(r, bool(row["normal"]))
        else:
            name, p_r = _expected_cat(r)
        assert row["test"] == name, row["variable"]
        tol = dict(abs=0.006) if "Monte" in name else dict(rel=RTOL)
        assert row["p"] == pytest.approx(p_r, **tol), row["variable"]
        pcol = "p" if stratum is None else f"cohort = {stratum} | p"
        printed = t.frame.loc[(t.frame["variable"] == row["variable"])
                              & t.frame["level"].isin(["", "mean ± SD", "median [IQR]"]), pcol]
        if "Monte" not in name:
            assert printed.item() == format_p(p_r), row["variable"]


@pytest.mark.parametrize("gcol", ["outcome", "grade3"])
def test_table1_tests_and_pvalues_match_r(data, ref, gcol):
    t = table1(data, group=gcol, variables=CONT + CAT)
    for var in CONT:  # normality decision from R's Shapiro-Wilk p-values
        normal = all(p >= 0.05 for p in ref[gcol][var]["shapiro_p"])
        assert bool(t.tests.set_index("variable").loc[var, "normal"]) == normal
    _check_table(t, ref[gcol])


def test_table1_by_cohort_matches_r(data, ref):
    t = table1(data, group="outcome", by="cohort", variables=CONT + CAT)
    cohorts = ["external", "internal", "train"]
    for var in CONT:  # one decision per variable over every group of every stratum
        normal = all(p >= 0.05 for c in cohorts for p in ref[f"outcome_in_{c}"][var]["shapiro_p"])
        rows = t.tests[t.tests["variable"] == var]
        assert rows["normal"].astype(bool).tolist() == [normal] * 3
    for c in cohorts:
        _check_table(t, ref[f"outcome_in_{c}"], stratum=c)
    assert [c for c in t.frame.columns if c.endswith("| outcome = 1")] == \
        [f"cohort = {c} | outcome = 1" for c in cohorts]


def test_table1_descriptives_match_r(data, ref):
    t = table1(data, group="outcome", variables=CONT + CAT, nonnormal=["psa", "size_mm"],
               decimals=2)
    f = t.frame.set_index(["variable", "level"])
    r = ref["outcome"]["age"]
    for i, g in enumerate(["0", "1"]):
        assert f.loc[("age", "mean ± SD"), f"outcome = {g}"] == f"{r['mean'][i]:.2f} ± {r['sd'][i]:.2f}"
    r = ref["outcome"]["psa"]
    for i, g in enumerate(["0", "1"]):
        assert f.loc[("psa", "median [IQR]"), f"outcome = {g}"] == \
            f"{r['median'][i]:.2f} [{r['q1'][i]:.2f}, {r['q3'][i]:.2f}]"
    r = ref["outcome"]["stage"]
    counts = np.array(r["counts"])
    for j, g in enumerate(r["groups"]):
        for i, lv in enumerate(r["levels"]):
            k = counts[i, j]
            assert f.loc[("stage", lv), f"outcome = {g}"] == f"{k} ({100 * k / counts[:, j].sum():.2f})"
    assert f.loc[("stage", ""), "Missing"] == str(int(data["stage"].isna().sum()))
    assert f.loc[("n", ""), "Overall"] == str(len(data))
    # the user's choice is honoured: psa by Mann-Whitney, age by a t-test
    tests = t.tests.set_index("variable")["test"]
    assert tests["psa"] == "Mann-Whitney U" and tests["age"].endswith("t-test")


def test_tableone_agrees_where_it_applies(data):
    """tableone (independent code) gives the same summaries and shared-test p-values."""
    from tableone import TableOne

    t = table1(data, group="grade3", variables=["age", "psa", "sex"], nonnormal=["psa"],
               decimals=1)
    to = TableOne(data, columns=["age", "psa", "sex"], categorical=["sex"], groupby="grade3",
                  nonnormal=["psa"], pval=True, decimals=1, missing=False)
    ours = t.tests.set_index("variable")
    theirs = to.htest_table
    for var, name in [("age", "one-way ANOVA"), ("psa", "Kruskal-Wallis"), ("sex", "chi-square")]:
        assert ours.loc[var, "test"] == name
        assert ours.loc[var, "p"] == pytest.approx(float(theirs.loc[var, "P-Value"]), rel=1e-9)
    # tableone prints "mean (SD)" and "median [Q1,Q3]"; ours "mean ± SD", "median [Q1, Q3]"
    tab = to.tableone.droplevel(0, axis=1)
    f = t.frame.set_index(["variable", "level"])
    for g in ["Overall", "A", "B", "C"]:
        c = g if g == "Overall" else f"grade3 = {g}"
        assert tab.loc[("age, mean (SD)", ""), g] == \
            f.loc[("age", "mean ± SD"), c].replace(" ± ", " (") + ")"
        assert tab.loc[("psa, median [Q1,Q3]", ""), g] == \
            f.loc[("psa", "median [IQR]"), c].replace(", ", ",")
        assert tab.loc[("sex, n (%)", "F"), g] == f.loc[("sex", "F"), c]


# ----------------------------------------------------------------- rules and errors
def test_detection_rule():
    assert detect_categorical(pd.Series(["a", "b"]))
    assert detect_categorical(pd.Series([True, False]))
    assert detect_categorical(pd.Series([1, 2, 3, 4, 5] * 3))
    assert not detect_categorical(pd.Series(np.arange(11.0)))
    assert detect_categorical(pd.Series(np.arange(11.0)), max_levels=11)


def test_format_p():
    assert [format_p(p) for p in (0.00099, 0.001, 0.0456, 1.0, float("nan"))] == \
        ["<0.001", "0.001", "0.046", "1.000", ""]


def test_errors_are_clear(data):
    with pytest.raises(InputError, match="(?i)did you mean 'outcome'"):
        table1(data, group="outcom")
    with pytest.raises(InputError, match="at least two groups"):
        table1(data.assign(one=1), group="one", variables=["age"])
    with pytest.raises(InputError, match="not numbers"):
        table1(data, group="outcome", variables=["sex"], continuous=["sex"])
    t = table1(data, group="outcome", variables=["age"])
    with pytest.raises(InputError, match=".csv, .md or .html"):
        t.write("table.xlsx")


def test_outputs(data, tmp_path):
    t = table1(data, group="outcome", by="cohort", variables=CONT + CAT)
    html = t.to_html()
    assert html.count("<table") == 1 and "cohort = train" in html
    assert "Shapiro-Wilk" in html and "Fisher" in html
    for name in set(t.tests["test"]):
        assert name.split(" (")[0].split()[0] in t.footnote()
    md = t.to_markdown()
    assert md.splitlines()[0].startswith("| variable | level |")
    back, foot = read_table1_csv(t.to_csv(tmp_path / "t1.csv"))
    assert back.equals(t.frame.astype(str)) and " ".join(foot) == t.footnote()
    assert t.write(tmp_path / "t1.md").read_text().startswith("| variable")
    assert "<html>" in t.write(tmp_path / "t1.html").read_text()


def test_rows_with_missing_group_are_reported(data):
    d = data.copy()
    d.loc[:9, "outcome"] = np.nan
    t = table1(d, group="outcome", variables=["age"])
    assert any("10 rows with missing 'outcome'" in n for n in t.notes)
    assert t.frame.iloc[0]["Overall"] == str(len(d) - 10)
