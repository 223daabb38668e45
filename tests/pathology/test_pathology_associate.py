"""Associations on synthetic tables: a planted effect is found, noise is not, the guard holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from thyromics.errors import InputError
from thyromics.pathology.associate import (AssociationSettings, associate, cochran_armitage, cramers_v,
                                           phenotype, spearman_ci)
from thyromics.pathology.composite import CircularityError, check_disjoint, composite_split


def _cohort(n=60, n_noise=30, seed=0, effect=1.5):
    rng = np.random.default_rng(seed)
    ids = [f"P{i:03d}" for i in range(n)]
    score = rng.uniform(0, 1, n)
    high = score >= 0.5
    cols = {"patient_id": ids, "area_ith": rng.normal(0, 1, n) - effect * high}  # lower when high risk
    cols.update({f"noise_{j}": rng.normal(0, 1, n) for j in range(n_noise)})
    path = pd.DataFrame(cols)
    grades = np.where(high, rng.choice(4, n, p=[0.5, 0.3, 0.15, 0.05]), rng.choice(4, n, p=[0.05, 0.15, 0.3, 0.5]))
    protein = pd.DataFrame({"patient_id": ids, "SUCLG1": grades, "VDAC2": rng.choice(4, n)})
    imaging = pd.DataFrame({"patient_id": ids, "risk_score": score, "iTED": score + rng.normal(0, 0.2, n),
                            "split": np.where(np.arange(n) < n // 2, "train", "test"),
                            "M1": (rng.uniform(0, 1, n) < 0.2 + 0.5 * high).astype(int)})
    return imaging, path, protein


def test_planted_effect_found_with_sign_and_fdr():
    imaging, path, protein = _cohort()
    res = associate(imaging, {"pathology": path, "protein": protein},
                    AssociationSettings(by="risk_score", threshold=0.5, scores=("risk_score", "iTED")))
    g = res["groups"].set_index("feature")
    hit = g.loc["area_ith"]
    assert hit["q"] < 0.01 and hit["significant"] and hit["diff"] < 0 and hit["rank_biserial"] < 0
    assert hit["effect_d"] < -0.8 and hit["test"].startswith("Mann-Whitney U")  # "(exact)" for small groups
    assert g.filter(like="noise_", axis=0)["significant"].sum() <= 1
    prot = g.loc["SUCLG1"]
    assert prot["kind"] == "ordinal" and prot["q"] < 0.01 and prot["trend_z"] < 0 and prot["p_trend"] < 0.01
    assert 0.3 < prot["cramers_v"] <= 1
    c = res["correlations"].set_index(["feature", "score"])
    assert c.loc[("area_ith", "iTED"), "rho"] < -0.3 and c.loc[("area_ith", "iTED"), "q"] < 0.05
    # q-values are BH within each source table
    from statsmodels.stats.multitest import multipletests
    pp = res["groups"][res["groups"].source == "pathology"]
    np.testing.assert_allclose(pp["q"], multipletests(pp["p"], method="fdr_bh")[1])


def test_noise_false_discoveries_near_the_nominal_rate():
    any_discovery, pvals = 0, []
    for seed in range(20):
        imaging, path, _ = _cohort(n=40, n_noise=100, seed=100 + seed, effect=0.0)
        g = associate(imaging, {"pathology": path},
                      AssociationSettings(by="risk_score", threshold=0.5))["groups"]
        any_discovery += bool(g["significant"].any())
        pvals += g["p"].tolist()
    assert any_discovery <= 4  # BH keeps P(any false discovery) <= 0.05 under the global null
    assert 0.03 < np.mean(np.array(pvals) < 0.05) < 0.07  # p-values are calibrated


def test_cramers_v_cochran_armitage_and_spearman_ci_formulas():
    t = np.array([[10, 20], [30, 40]])
    chi2 = stats.chi2_contingency(t, correction=False).statistic
    assert cramers_v(t) == pytest.approx(np.sqrt(chi2 / 100))
    low, high = np.array([0, 0, 1, 1, 2, 3]), np.array([1, 2, 2, 3, 3, 3])
    z, p = cochran_armitage(low, high)
    # linear-by-linear association: M^2 = (N - 1) r^2 of group and grade, z = sign(r) M
    x = np.r_[np.zeros(6), np.ones(6)]
    r = np.corrcoef(x, np.r_[low, high])[0, 1]
    assert z == pytest.approx(np.sqrt(11) * r) and p == pytest.approx(2 * stats.norm.sf(abs(z)))
    lo, hi = spearman_ci(0.5, 30)
    se = np.sqrt(1.06 / 27)
    assert (lo, hi) == pytest.approx((np.tanh(np.arctanh(0.5) - 1.959964 * se), np.tanh(np.arctanh(0.5) + 1.959964 * se)))


def test_phenotype_rules():
    df = pd.DataFrame({"patient_id": list("abcd"), "s": [0.1, 0.5, 0.7, 0.2], "g": ["Low", "High", "High", "Low"],
                       "k": ["x", "y", "x", "y"]})
    assert phenotype(df, AssociationSettings(by="s", threshold=0.5)).tolist() == ["low", "high", "high", "low"]
    assert phenotype(df, AssociationSettings(by="g")).tolist() == ["low", "high", "high", "low"]
    assert phenotype(df, AssociationSettings(by="s")) is None  # a continuous score: correlations only
    with pytest.raises(InputError, match="--high"):
        phenotype(df, AssociationSettings(by="k"))
    assert phenotype(df, AssociationSettings(by="k", high="y")).tolist() == ["low", "high", "low", "high"]


def test_duplicate_patients_refused_or_reduced():
    imaging, path, _ = _cohort(n=20, n_noise=2)
    dup = pd.concat([imaging, imaging.iloc[:3]])
    with pytest.raises(InputError, match="several rows"):
        associate(dup, {"p": path}, AssociationSettings(by="risk_score", threshold=0.5))
    res = associate(dup, {"p": path}, AssociationSettings(by="risk_score", threshold=0.5, reduce="max"))
    assert res["groups"]["n_high"].iloc[0] + res["groups"]["n_low"].iloc[0] == 20


def test_composite_is_never_tested_on_the_patients_that_chose_it():
    imaging, path, _ = _cohort(n=80, n_noise=5)
    frame = imaging.merge(path, on="patient_id")
    feats = [c for c in path.columns if c != "patient_id"]
    with pytest.raises(CircularityError, match="circular"):
        composite_split(frame, feats, "M1", None)
    with pytest.raises(CircularityError):
        composite_split(frame.assign(split="train"), feats, "M1", "split")
    comp, test = composite_split(frame, feats, "M1", "split")
    assert set(test["patient_id"]).isdisjoint(comp.fitted_on) and len(test) == 40
    with pytest.raises(CircularityError):
        comp.score(frame)  # scoring the training patients again is refused
    with pytest.raises(CircularityError):
        check_disjoint(["a", "b"], ["b", "c"])
