"""Thresholds (cutpointr / pROC Youden) and metrics with Wilson CIs (R prop.test)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from thyromics.errors import InputError
from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.metrics import METRICS, metrics_at_threshold, wilson_ci
from thyromics.evaluate.thresholds import choose_threshold, for_sensitivity, for_specificity, youden

_spec = importlib.util.spec_from_file_location(
    "evaluate_refs", Path(__file__).parents[1] / "fixtures" / "evaluate" / "evaluate_refs.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)

REF = refs.reference()


@pytest.fixture(params=[*refs.SYNTHETIC, "lidc"])
def case(request):
    name = request.param
    lidc = request.getfixturevalue("lidc_dir") if name == "lidc" else None
    return name, refs.dataset(name, lidc), REF["datasets"][name]


def test_youden_matches_cutpointr(case):
    name, d, ref = case
    for s in ("a", "b"):
        r = ref[s]["youden_cutpointr"]
        assert youden(d.y, d[s], ties="median", warn=False) == pytest.approx(r["cutpoint"], rel=1e-9), (name, s)


def test_youden_midpoint_matches_proc(case):
    name, d, ref = case
    for s in ("a", "b"):
        r = np.atleast_1d(ref[s]["youden_proc"]["threshold"]).astype(float)
        # pROC returns every tied best threshold; we return their median
        assert youden(d.y, d[s], convention="midpoint", ties="median",
                      warn=False) == pytest.approx(float(np.median(r)), rel=1e-9)


def test_metrics_at_cutpointr_threshold_match_r(case):
    name, d, ref = case
    for s in ("a", "b"):
        r = ref[s]["at_cutpointr"]
        m = metrics_at_threshold(d.y, d[s], ref[s]["youden_cutpointr"]["cutpoint"])
        assert m["counts"] == {k: r[k] for k in ("tp", "fp", "tn", "fn")}, (name, s)
        sens = r["tp"] / (r["tp"] + r["fn"])
        assert m["sensitivity"]["value"] == pytest.approx(sens)
        assert m["sensitivity"]["value"] == pytest.approx(ref[s]["youden_cutpointr"]["sensitivity"], abs=1e-9)
        assert m["specificity"]["value"] == pytest.approx(ref[s]["youden_cutpointr"]["specificity"], abs=1e-9)
        for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv"):
            assert m[k]["method"] == "wilson"
            np.testing.assert_allclose(m[k]["ci"], r[k], atol=1e-6, err_msg=f"{name} {s} {k}")


def test_wilson_hand_computed():
    # x = 0: lower bound 0, upper bound z^2 / (n + z^2)
    z = 1.959963984540054
    lo, hi = wilson_ci(0, 10)
    assert lo == 0 and hi == pytest.approx(z * z / (10 + z * z))
    lo, hi = wilson_ci(5, 10)  # symmetric around 0.5
    assert lo + hi == pytest.approx(1.0)
    assert np.isnan(wilson_ci(0, 0)[0])


def test_f1_and_counts_hand_computed():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    s = [0.9, 0.8, 0.3, 0.7, 0.1, 0.2, 0.4, 0.6]
    m = metrics_at_threshold(y, s, 0.5)  # positive when >= 0.5: 0.9 0.8 0.7 0.6
    assert m["counts"] == {"tp": 3, "fp": 1, "tn": 3, "fn": 1}
    assert m["f1"]["value"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    lo, hi = m["f1"]["ci"]
    assert 0 <= lo < m["f1"]["value"] < hi <= 1
    assert m["f1"]["ci"] == metrics_at_threshold(y, s, 0.5)["f1"]["ci"]  # seeded
    assert set(METRICS) <= set(m)
    # the threshold is inclusive: a score equal to it is positive
    assert metrics_at_threshold(y, s, 0.6)["counts"]["tp"] == 3


def test_f1_bootstrap_ci_covers_like_a_naive_case_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    s = rng.normal(size=120) + y
    m = metrics_at_threshold(y, s, 0.5, n_boot=4000, seed=1)
    # naive oracle: resample rows
    f1 = []
    for _ in range(4000):
        i = rng.integers(0, 120, 120)
        p = s[i] >= 0.5
        tp = np.sum(p & (y[i] == 1))
        f1.append(2 * tp / (2 * tp + np.sum(p & (y[i] == 0)) + np.sum(~p & (y[i] == 1))))
    np.testing.assert_allclose(m["f1"]["ci"], np.quantile(f1, [0.025, 0.975]), atol=0.02)


def test_undefined_ppv_warns():
    with pytest.warns(UndefinedMetricWarning, match="ppv"):
        m = metrics_at_threshold([0, 1, 0], [0.1, 0.2, 0.3], 5.0)
    assert np.isnan(m["ppv"]["value"])


def test_sensitivity_and_specificity_targets_hand():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [1, 2, 3, 5, 4, 6, 7, 8]
    assert for_sensitivity(y, s, 1.0) == 4       # lowest case score
    assert for_sensitivity(y, s, 0.75) == 6
    assert for_specificity(y, s, 1.0) == 6       # just above the highest control
    assert for_specificity(y, s, 0.75) == 4
    assert youden(y, s, ties="median") == 5      # J = 0.75 at 6 and at 4: median of the ties (J 0.5)
    assert youden(y, s) == 6                     # default: the middle tied optimum (of two, the higher)
    y2, s2 = [0, 1, 0, 1], [1, 2, 3, 4]          # J ties at 4 (0.5) and 2 (0.5): median 3
    assert youden(y2, s2, ties="median") == pytest.approx(3.0)


def test_choose_threshold_rules():
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    s = [1, 2, 3, 5, 4, 6, 7, 8]
    assert choose_threshold(y, s, "youden") == youden(y, s)
    assert choose_threshold(y, s, 4.5) == 4.5
    assert choose_threshold(y, s, "4.5") == 4.5
    assert choose_threshold(y, s, {"sensitivity": 1.0}) == 4
    assert choose_threshold(y, s, {"specificity": 1.0}) == 6
    with pytest.raises(InputError, match="Did you mean 'youden'"):
        choose_threshold(y, s, "yuoden")
    with pytest.raises(InputError, match="Did you mean 'sensitivity'"):
        choose_threshold(y, s, {"sensitvity": 0.9})


def test_threshold_carried_unchanged_to_another_set():
    rng = np.random.default_rng(2)
    y1, y2 = rng.integers(0, 2, 100), rng.integers(0, 2, 50)
    s1, s2 = rng.normal(size=100) + y1, rng.normal(size=50) + y2
    t = youden(y1, s1)
    m = metrics_at_threshold(y2, s2, t)
    pred = s2 >= t
    assert m["counts"]["tp"] == int(np.sum(pred & (y2 == 1)))
    assert m["counts"]["fp"] == int(np.sum(pred & (y2 == 0)))


def test_specificity_unreachable_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        for_specificity([0, 1], [1, 2], 1.0)
    with pytest.warns(UndefinedMetricWarning):
        assert for_specificity([0, 1], [2, 2], 1.0) == np.inf
