"""The constrained threshold (sensitivity and NPV floors, weighted score), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from thyromics.evaluate._checks import UndefinedMetricWarning
from thyromics.evaluate.thresholds import choose_threshold, constrained


def _stats(y, s, c):
    pred = s >= c
    tp, fn = np.sum(pred & (y == 1)), np.sum(~pred & (y == 1))
    tn, fp = np.sum(~pred & (y == 0)), np.sum(pred & (y == 0))
    npv = tn / (tn + fn) if tn + fn else np.nan
    return tp / (tp + fn), tn / (tn + fp), npv


def test_constrained_by_brute_force():
    rng = np.random.default_rng(3)
    y = (rng.random(60) < 0.3).astype(int)
    s = rng.normal(y * 1.0, 1.0)
    best, best_c = -np.inf, None
    for c in np.sort(np.unique(s))[::-1]:  # every observed cut-point, highest first
        sens, spec, npv = _stats(y, s, c)
        if sens >= 0.7 and npv >= 0.5:
            v = 0.5 * sens + 0.3 * npv + 0.2 * spec
            if v > best + 1e-12:
                best, best_c = v, c
    assert constrained(y, s) == pytest.approx(best_c)
    assert choose_threshold(y, s, "constrained") == pytest.approx(best_c)
    sens, _, npv = _stats(y, s, constrained(y, s))
    assert sens >= 0.7 and npv >= 0.5


def test_tiny_hand_example():
    y = np.array([0, 0, 0, 1, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    # c=0.6: sens 2/3 < 0.7 -> out. c=0.4: sens 1, spec 3/4, npv 1 -> 0.5+0.3+0.15=0.95.
    # c=0.5 fails sens (2/3). c=0.3: sens 1, spec 2/4, npv 1 -> 0.9. So 0.4 wins.
    assert constrained(y, s) == pytest.approx(0.4)


def test_unreachable_constraints_fall_back_with_a_warning():
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    with pytest.warns(UndefinedMetricWarning):
        c = constrained(y, s, min_sensitivity=0.7, min_npv=0.99)
    assert _stats(y, s, c)[0] >= 0.7
