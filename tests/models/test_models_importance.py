"""Importance: OOB VIMP, held-out permutation importance, SHAP; the family analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from sklearn.ensemble import RandomForestClassifier

from thyromics.models.families import family_analysis
from thyromics.models.importance import (oob_vimp, permutation_importance_auc, pipeline_vimp,
                                         shap_importance)
from thyromics.models.pipeline import PipelineSettings, build_pipeline


def _strong(n: int = 300, p: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"original_glcm_f{i}" for i in range(p)])
    y = (X["original_glcm_f2"] + 0.3 * rng.normal(size=n) > 0).astype(int).to_numpy()
    return X, y


def test_oob_vimp_strong_feature_first_and_noise_near_zero() -> None:
    X, y = _strong()
    rf = RandomForestClassifier(n_estimators=60, random_state=0).fit(X.to_numpy(), y)
    v = oob_vimp(rf, X.to_numpy(), y, seed=0)
    assert int(np.argmax(v)) == 2
    assert v[2] > 0.2
    assert np.all(np.abs(np.delete(v, 2)) < 0.05)


def test_oob_vimp_matches_a_naive_loop() -> None:
    """Second implementation: one tree, its OOB cases, one permutation per variable."""
    X, y = _strong(n=120, p=3, seed=1)
    Xn = X.to_numpy()
    rf = RandomForestClassifier(n_estimators=1, random_state=0).fit(Xn, y)
    tree, inbag = rf.estimators_[0], rf.estimators_samples_[0]
    oob = np.array([i for i in range(len(y)) if i not in set(inbag)])
    rng = np.random.default_rng(7)
    base = np.mean((tree.predict_proba(Xn[oob])[:, 1] >= 0.5) != y[oob])
    naive = []
    for j in range(3):
        Xp = Xn[oob].copy()
        Xp[:, j] = rng.permutation(Xp[:, j])
        naive.append(np.mean((tree.predict_proba(Xp)[:, 1] >= 0.5) != y[oob]) - base)
    assert oob_vimp(rf, Xn, y, seed=7) == pytest.approx(np.array(naive))


def test_pipeline_vimp_and_shap_rank_the_signal_first() -> None:
    X, y = _strong()
    s = PipelineSettings(selector="none", n_estimators=40)
    for name in ("rf", "rfq"):
        pipe = build_pipeline(name, s, numeric=list(X.columns)).fit(X, y)
        assert pipeline_vimp(pipe, X, y).idxmax() == "original_glcm_f2"
        assert shap_importance(pipe, X, max_cases=80).idxmax() == "original_glcm_f2"
    pipe = build_pipeline("lightgbm", s, numeric=list(X.columns)).fit(X, y)
    assert shap_importance(pipe, X, max_cases=80).idxmax() == "original_glcm_f2"
    assert pipeline_vimp(pipe, X, y) is None  # not a bootstrap forest


def test_permutation_importance_on_held_out_cases() -> None:
    X, y = _strong(seed=2)
    pipe = build_pipeline("lr", PipelineSettings(selector="none"),
                          numeric=list(X.columns)).fit(X.iloc[:200], y[:200])
    imp = permutation_importance_auc(pipe, X.iloc[200:], y[200:], n_repeats=3)
    assert imp.idxmax() == "original_glcm_f2" and imp.max() > 0.2
    assert imp.drop("original_glcm_f2").abs().max() < 0.05


def test_batched_permutations_equal_one_copy_at_a_time() -> None:
    """The batched scoring gives exactly the drop of the textbook loop (a copy of the
    cases with one column permuted, scored alone), numeric and categorical inputs."""
    from thyromics.evaluate.roc import auc

    X, y = _strong(seed=3)
    X = X.assign(site=np.where(np.arange(len(X)) % 3 == 0, "a", "b"))
    num = [c for c in X.columns if c != "site"]
    pipe = build_pipeline("lr", PipelineSettings(selector="none"), numeric=num,
                          categorical=["site"]).fit(X.iloc[:200], y[:200])
    Xte, yte = X.iloc[200:].reset_index(drop=True), y[200:]
    cols = ["original_glcm_f2", "site", num[0]]
    rng = np.random.default_rng(7)
    base = auc(yte, pipe.predict_proba(Xte)[:, 1])
    expected = {}
    for col in cols:
        drops = []
        for _ in range(4):
            Xp = Xte.copy()
            Xp[col] = Xte[col].to_numpy()[rng.permutation(len(Xte))]
            drops.append(base - auc(yte, pipe.predict_proba(Xp)[:, 1]))
        expected[col] = np.mean(drops)
    for max_cells in (1, 10_000, 10**9):  # one copy per batch, a few, all at once
        got = permutation_importance_auc(pipe, Xte, yte, columns=cols, n_repeats=4, seed=7,
                                         max_cells=max_cells)
        assert got.to_dict() == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_family_analysis_finds_the_discriminative_family() -> None:
    rng = np.random.default_rng(0)
    n = 80
    y = np.r_[np.zeros(40), np.ones(40)].astype(int)
    cols = {}
    for j in range(4):
        cols[f"original_glcm_f{j}"] = rng.normal(size=n) + 1.5 * y  # shifted family
        cols[f"original_glrlm_f{j}"] = rng.normal(size=n)           # noise family
    cols["original_fractal_Dimension"] = rng.normal(size=n)         # one-feature family
    table = pd.DataFrame(cols).assign(label=y)
    out = family_analysis(table, label="label", seed=0).set_index("family")
    assert out.index[0] == "glcm"
    assert out.loc["glcm", "p_representative"] < 1e-4
    assert out.loc["glrlm", "p_representative"] > 0.01
    assert out.loc["fractal", "representative"] == "single feature"
    assert out.loc["glcm", "representative"] == "umap"
    # geometric mean of per-feature Mann-Whitney p-values, independently
    ps = [mannwhitneyu(table[f"original_glrlm_f{j}"][y == 1], table[f"original_glrlm_f{j}"][y == 0]).pvalue
          for j in range(4)]
    assert out.loc["glrlm", "p_geomean"] == pytest.approx(float(np.prod(ps) ** 0.25))
    p_fr = mannwhitneyu(table["original_fractal_Dimension"][y == 1],
                        table["original_fractal_Dimension"][y == 0]).pvalue
    assert out.loc["fractal", "p_representative"] == pytest.approx(p_fr)


def test_importance_frame_ranks_nan_last():
    import numpy as np
    import pandas as pd

    from thyromics.models.api import _importance_frame

    df = _importance_frame({"m": pd.Series([1.0, np.nan, 2.0], index=list("abc"))}, "vimp")
    assert dict(zip(df.feature, df["rank"])) == {"c": 1, "a": 2, "b": 3}


def test_family_values_are_the_representative_values():
    import numpy as np
    import pandas as pd

    from thyromics.models.families import family_analysis

    rng = np.random.default_rng(0)
    n = 40
    y = np.repeat([0, 1], n // 2)
    table = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "label": y,
                          "original_firstorder_Mean": rng.normal(y, 1.0),
                          "original_fractal_Dim": rng.normal(size=n)})
    values: list = []
    summary = family_analysis(table, label="label", values=values)
    vals = pd.concat(values, ignore_index=True)
    assert set(vals.family) == set(summary.family) == {"firstorder", "fractal"}
    single = vals[vals.family == "fractal"].value.to_numpy()
    raw = table["original_fractal_Dim"]
    np.testing.assert_allclose(single, (raw - raw.mean()) / raw.std(ddof=1), atol=1e-9)  # sample SD
