"""ComBat inside the folds: a planted centre shift, its recovery, and the leak detected.

The synthetic two-centre cohort: 80 cases per centre, 30 features, 5 carry the outcome
(+0.8 SD); centre B's scanner lowers those 5 by about 2 SD and scales every feature
by about 1.35, outcome prevalence the same in both centres.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.models.api import fit_and_compare, run_model_stage
from thyromics.models.cv import LeakageWarning
from thyromics.models.harmonize import HarmonizationWarning, combat, covariate_design
from thyromics.models.persist import predict_table
from thyromics.models.pipeline import PipelineSettings

FAST = PipelineSettings(selector="none", tune=False, near_zero_variance=False,
                        correlation_threshold=None)


def two_centres(seed: int = 0, n: int = 80, p: int = 30, k: int = 5, effect: float = 0.8,
                shift: float = 2.0, scale: float = 0.3, centres: str = "AB") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols = [f"original_firstorder_F{j:02d}" for j in range(p)]
    sh = np.zeros(p)
    sh[:k] = -rng.normal(shift, 0.3, k)
    sc = np.exp(rng.normal(scale, 0.1, p))
    parts = []
    for i, c in enumerate(centres):
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, p))
        x[:, :k] += effect * y[:, None]
        if i > 0:
            x = x * sc ** i + sh * i
        part = pd.DataFrame(x, columns=cols)
        part.insert(0, "label", y)
        part.insert(1, "centre", c)
        parts.append(part)
    t = pd.concat(parts, ignore_index=True)
    t.insert(0, "case_id", [f"c{i:03d}" for i in range(len(t))])
    t.insert(1, "patient_id", t["case_id"])
    return t


def cv_auc(table, settings=FAST, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit_and_compare(table, label="label", group="patient_id", models=["lr"], cv=5,
                              settings=settings, importance=(), **kw)
    return res, caught


@pytest.mark.slow
def test_harmonisation_inside_the_folds_recovers_the_auc():
    table = two_centres()
    clean, _ = cv_auc(two_centres(shift=0.0, scale=0.0))
    raw, _ = cv_auc(table)
    inside, _ = cv_auc(table, FAST.model_copy(update={"harmonize": "centre"}))
    a_clean, a_raw, a_in = (r.comparison.auc.iloc[0] for r in (clean, raw, inside))
    assert a_raw < a_clean - 0.1  # the shift costs AUC
    assert a_in > a_raw + 0.1  # harmonisation inside the folds gets it back
    assert abs(a_in - a_clean) < 0.05
    assert len(inside.leakage) == 0 and len(raw.leakage) == 0
    fitted = inside.models["lr"]
    assert fitted.passengers == ["centre"]
    assert fitted.training["harmonize"]["batches"] == ["A", "B"]
    assert "centre" not in fitted.numeric + fitted.categorical  # never a predictor


def test_combat_fitted_on_all_cases_is_caught_by_the_leakage_check():
    table = two_centres()
    cols = [c for c in table.columns if c.startswith("original_")]
    leaky = table.copy()
    cov, _ = covariate_design(table, ["label"])
    leaky[cols] = combat(table[cols].to_numpy(), table["centre"], cov)
    res, caught = cv_auc(leaky)
    assert any(issubclass(w.category, LeakageWarning) and "harmonised across" in str(w.message)
               for w in caught)
    row = res.leakage[res.leakage.column == "centre"]
    assert len(row) == 1 and row.separation.iloc[0] < 0.5
    # without covariates too, and when the centre column is named for ComBat
    leaky[cols] = combat(table[cols].to_numpy(), table["centre"])
    res, _ = cv_auc(leaky.rename(columns={"centre": "hospital"}))
    assert "hospital" in set(res.leakage.column)


def test_the_outcome_cannot_be_a_combat_covariate():
    with pytest.raises(InputError, match="cannot be a ComBat covariate"):
        cv_auc(two_centres(), FAST.model_copy(update={"harmonize": "centre",
                                                      "harmonize_covariates": ("label",)}))
    with pytest.raises(ValueError, match="reference batch"):
        PipelineSettings(harmonize="centre", harmonize_unseen="reference")


@pytest.mark.slow
def test_external_centre_refused_or_passed_with_a_reference(tmp_path):
    table = two_centres(centres="ABC")
    table["split"] = np.where(table["centre"] == "C", "external", "train")
    path = tmp_path / "t.parquet"
    table.to_parquet(path)
    with pytest.raises(InputError, match="not in the data ComBat was fitted on"):
        run_model_stage(path, split="split", models=["lr"], out_dir=tmp_path / "m1",
                        settings=FAST.model_copy(update={"harmonize": "centre"}),
                        importance=(), harmonize_compare=False)
    settings = FAST.model_copy(update={"harmonize": "centre", "harmonize_reference": "A",
                                       "harmonize_unseen": "reference"})
    with pytest.warns(HarmonizationWarning, match="left unadjusted"):
        res = run_model_stage(path, split="split", models=["lr"], out_dir=tmp_path / "m2",
                              settings=settings, importance=())
    assert set(res.comparison.cohort) == {"cv", "external"}
    out = tmp_path / "m2"
    for name in ("auc.csv", "batch_f.csv", "distributions.png", "embedding.png"):
        assert (out / "harmonization" / name).exists(), name
    auc = pd.read_csv(out / "harmonization" / "auc.csv")
    cv_row = auc[auc.cohort == "cv"].iloc[0]
    assert cv_row.auc_harmonized > cv_row.auc_raw
    # the saved model needs the centre column to score new cases, and scores them unchanged
    new = table[table.split == "external"].head(10)
    with pytest.raises(InputError, match="centre"):
        predict_table(out / "models" / "lr", new.drop(columns="centre"))
    with pytest.warns(HarmonizationWarning):
        scored = predict_table(out / "models" / "lr", new)
    preds = pd.read_parquet(out / "predictions.parquet")
    ext = preds[(preds.cohort == "external")].set_index("case_id").loc[scored.case_id, "score"]
    np.testing.assert_allclose(scored.score.to_numpy(), ext.to_numpy(), rtol=1e-12)
