"""ComBat (Johnson 2007, with Fortin's covariates) against R's sva::ComBat, and its rules.

Reference: tests/fixtures/combat/make_reference.R (sva 3.46): 36 cases, 3 batches, 15
features, covariates group and age; plain, covariates, reference batch, mean only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.models.harmonize import (ComBatHarmonizer, HarmonizationWarning, combat,
                                        combat_apply, combat_fit, covariate_design)

from conftest import FIXTURES

DIR = FIXTURES / "combat"


@pytest.fixture(scope="module")
def data():
    frame = pd.read_csv(DIR / "combat_data.csv")
    ref = pd.read_csv(DIR / "combat_reference.csv")
    feats = [c for c in frame.columns if c.startswith("f")]
    return frame, ref, feats


@pytest.mark.parametrize("scenario,kwargs", [
    ("plain", {}), ("covariates", {"cov": True}), ("reference", {"cov": True, "reference": "B"}),
    ("meanonly", {"cov": True, "mean_only": True})])
def test_equals_sva_combat(data, scenario, kwargs):
    frame, ref, feats = data
    cov = covariate_design(frame, ["group", "age"])[0] if kwargs.pop("cov", False) else None
    got = combat(frame[feats].to_numpy(), frame["batch"], cov, **kwargs)
    want = ref[ref.scenario == scenario][feats].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_reference_batch_is_left_unchanged(data):
    frame, _, feats = data
    cov = covariate_design(frame, ["group", "age"])[0]
    got = combat(frame[feats].to_numpy(), frame["batch"], cov, reference="B")
    b = (frame["batch"] == "B").to_numpy()
    np.testing.assert_array_equal(got[b], frame.loc[b, feats].to_numpy())


def test_fitted_on_a_part_applies_unchanged_to_new_cases(data):
    frame, _, feats = data
    train, test = frame.iloc[::2], frame.iloc[1::2]
    cov_tr, levels = covariate_design(train, ["group", "age"])
    params = combat_fit(train[feats].to_numpy(), train["batch"], cov_tr)
    cov_te, _ = covariate_design(test, ["group", "age"], levels)
    one = combat_apply(params, test[feats].to_numpy(), test["batch"], cov_te)
    # case by case gives the same: nothing is estimated from the cases harmonised
    rows = [combat_apply(params, test[feats].to_numpy()[i:i + 1], test["batch"].iloc[i:i + 1],
                         cov_te[i:i + 1]) for i in range(len(test))]
    np.testing.assert_allclose(np.vstack(rows), one, rtol=0, atol=1e-12)


def test_a_batch_unseen_at_fit_is_refused_or_passed_with_a_reference(data):
    frame, _, feats = data
    train = frame[frame.batch != "C"]
    new = frame[frame.batch == "C"]
    params = combat_fit(train[feats].to_numpy(), train["batch"])
    with pytest.raises(InputError, match=r"not in the data ComBat was fitted on.*reference"):
        combat_apply(params, new[feats].to_numpy(), new["batch"])
    ref = combat_fit(train[feats].to_numpy(), train["batch"], reference="A")
    with pytest.warns(HarmonizationWarning, match="left unadjusted"):
        out = combat_apply(ref, new[feats].to_numpy(), new["batch"], unseen="reference")
    np.testing.assert_array_equal(out, new[feats].to_numpy())
    with pytest.raises(InputError, match="not in the data"):  # no reference: no rule to apply
        combat_apply(params, new[feats].to_numpy(), new["batch"], unseen="reference")


def test_missing_values_and_constant_features():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 6)) + np.repeat([[0.0], [2.0]], 15, axis=0)
    x[:, 5] = 1.0  # constant: left alone, as sva does
    x[3, 2] = np.nan
    batch = ["a"] * 15 + ["b"] * 15
    out = combat(x, batch)
    assert np.isnan(out[3, 2]) and np.isfinite(np.delete(out[:, 2], 3)).all()
    np.testing.assert_array_equal(out[:, 5], x[:, 5])
    assert abs(out[:15, 0].mean() - out[15:, 0].mean()) < 0.3


def test_design_problems_are_named():
    x = np.random.default_rng(1).normal(size=(10, 4))
    with pytest.raises(InputError, match="at least 2 batches"):
        combat_fit(x, ["a"] * 10)
    with pytest.raises(InputError, match="confounded"):
        combat_fit(x, ["a"] * 5 + ["b"] * 5, np.r_[np.zeros(5), np.ones(5)])
    with pytest.warns(HarmonizationWarning, match="single case"):
        combat_fit(x, ["a"] * 9 + ["b"])


def test_the_pipeline_step_reads_its_columns_and_keeps_the_others(data):
    frame, _, feats = data
    step = ComBatHarmonizer(batch="batch", features=feats, covariates=["group", "age"])
    out = step.fit(frame.iloc[:30]).transform(frame)
    assert list(out.columns) == list(frame.columns)
    np.testing.assert_array_equal(out["age"], frame["age"])
    params = step.params_
    step.transform(frame.iloc[30:])  # transforming never refits
    assert step.params_ is params
    with pytest.raises(InputError, match="not in the table"):
        step.transform(frame.drop(columns="age"))
