"""ICC(1,1), ICC(2,1), ICC(3,1) over perturbations against R's psych::ICC, and stable flags.

References: tests/fixtures/icc/make_reference.R (Shrout & Fleiss' Table 2 and a seeded set)
and tests/fixtures/icc/make_perturbation_reference.R (a fixed perturbation table, one
feature with a missing value).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.review.icc import icc, icc1_1, icc2_1, icc3_1
from thyromics.robustness.icc import feature_icc, ratings_cube, stable_features

from conftest import FIXTURES

ICC_DIR = FIXTURES / "icc"
TYPES = {"icc1": "ICC1", "icc2": "ICC2", "icc3": "ICC3"}


@pytest.mark.parametrize("dataset", ["shrout_fleiss", "seeded"])
@pytest.mark.parametrize("kind", list(TYPES))
def test_each_form_equals_psych(dataset, kind):
    data = pd.read_csv(ICC_DIR / "icc_data.csv")
    ref = pd.read_csv(ICC_DIR / "icc_reference.csv")
    m = data[data.dataset == dataset].pivot(index="target", columns="rater", values="rating")
    got = icc(m.to_numpy(), kind)
    want = ref[(ref.dataset == dataset) & (ref.type == TYPES[kind])].iloc[0]
    for key in ("icc", "f", "df1", "df2", "p", "lower", "upper"):
        assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), key


def test_shrout_fleiss_published_values():
    data = pd.read_csv(ICC_DIR / "icc_data.csv")
    m = data[data.dataset == "shrout_fleiss"].pivot(index="target", columns="rater",
                                                     values="rating").to_numpy()
    assert round(icc1_1(m)["icc"], 2) == 0.17
    assert round(icc2_1(m)["icc"], 2) == 0.29
    assert round(icc3_1(m)["icc"], 2) == 0.71


def test_feature_icc_equals_psych_on_the_perturbation_table():
    long = pd.read_csv(ICC_DIR / "perturbation_icc_data.csv")
    ref = pd.read_csv(ICC_DIR / "perturbation_icc_reference.csv")
    feats = ["stable", "biased", "unstable", "missing"]
    table = feature_icc(long, feats, kinds=("icc1", "icc2", "icc3")).set_index("feature")
    for row in ref.itertuples():
        kind = row.type.lower()
        assert table.loc[row.feature, kind] == pytest.approx(row.icc, rel=1e-9)
        assert table.loc[row.feature, f"{kind}_lower"] == pytest.approx(row.lower, rel=1e-9)
        assert table.loc[row.feature, f"{kind}_upper"] == pytest.approx(row.upper, rel=1e-9)
        assert table.loc[row.feature, "n_cases"] == row.n_cases
    stable = stable_features(table.reset_index(), threshold=0.9)
    assert stable.tolist() == [True, True, False, True]
    # the lower-bound criterion is stricter: ICC2's lower bound of 'biased' is 0.87
    lower = stable_features(table.reset_index(), threshold=0.9, kind="icc2", criterion="lower")
    assert lower.tolist() == [True, False, False, True]


def test_the_vectorised_cube_matches_feature_by_feature():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(15, 4, 7)) + rng.normal(size=(15, 1, 7)) * 3
    for kind in TYPES:
        whole = icc(y, kind)
        for j in range(7):
            one = icc(y[:, :, j], kind)
            assert whole["icc"][j] == pytest.approx(one["icc"], rel=1e-12)
            assert whole["lower"][j] == pytest.approx(one["lower"], rel=1e-12)


def test_cases_missing_a_perturbation_are_left_out_and_undefined_features_flagged():
    long = pd.DataFrame({"case_id": ["a", "a", "b", "b", "c", "d", "d"],
                         "perturbation": [0, 1, 0, 1, 0, 0, 1],
                         "x": [1.0, 1.1, 2.0, 2.2, 9.0, 3.0, 2.9],
                         "const": [5.0] * 7})
    cube, cases, reps = ratings_cube(long, ["x", "const"])
    assert cases == ["a", "b", "d"] and reps == [0, 1] and cube.shape == (3, 2, 2)
    table = feature_icc(long, ["x", "const"])
    assert np.isfinite(table.loc[0, "icc1"]) and table.loc[0, "n_cases"] == 3
    assert np.isnan(table.loc[1, "icc1"]) and "no variance" in table.loc[1, "reason"]
    assert stable_features(table).tolist()[1] is False
    only = feature_icc(long, ["x"], cases=["a", "b"])
    assert only.loc[0, "n_cases"] == 2


def test_errors_name_the_problem():
    with pytest.raises(InputError, match="unknown ICC form"):
        icc(np.ones((3, 2)), "icc4")
    with pytest.raises(InputError, match="perturbation"):
        feature_icc(pd.DataFrame({"case_id": ["a"], "x": [1.0]}), ["x"])
