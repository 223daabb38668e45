"""Choosing a decision threshold on a score.

Convention used everywhere in thyromics: a case is called **positive when
``score >= threshold``** (higher score = positive, as pROC ``direction = "<"`` and
cutpointr ``direction = ">="``). A threshold is a number on the score's own scale; a
threshold chosen on one set (training, or cross-validation predictions) is applied
unchanged to any other set (test, external) with
:func:`thyromics.evaluate.metrics.metrics_at_threshold`, it is never re-optimised.

Returned cut-points follow **cutpointr** (``method = maximize_metric``,
``use_midpoints = FALSE``): the threshold is an observed score value ``c``, so that
the cases with ``score >= c`` are positive. pROC's ``coords(best.method = "youden")``
reports the same split as the midpoint between ``c`` and the next lower observed
score (``-Inf`` when ``c`` is the lowest score); ask for that with
``convention="midpoint"``.

Tied optima. When several cut-points reach the maximum J (within ``tol``), cutpointr
(``break_ties = median``) and pROC return the *median of the tied cut-points*, which
need not be optimal itself: with optima at 0.9 and 0.3 and worse cut-points between, the
median 0.6 can have J = 0.33 where the maximum is 0.67. thyromics' default
(``ties="middle"``) takes the middle one *of the tied optimal cut-points* (in score
order; of two middle ones, the higher), so the threshold always reaches the maximum J.
A :class:`TiedCutpointWarning` names the tied cut-points, as cutpointr warns "Multiple
optimal cutpoints found". ``ties="median"`` gives cutpointr's number.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thyromics.errors import InputError, ThyromicsWarning, did_you_mean
from thyromics.evaluate._checks import as_binary, as_scores, need_both_classes, warn_undefined

__all__ = ["ThresholdRule", "TiedCutpointWarning", "youden", "youden_ties", "for_sensitivity", "for_specificity", "choose_threshold",
           "constrained", "candidate_cutpoints", "RULES"]

ThresholdRule = str | float | Mapping[str, float]

class TiedCutpointWarning(ThyromicsWarning):
    """Several cut-points reach the same optimum (Youden's J); one of them was taken."""


#: How ties between optimal Youden cut-points are broken (``ties=``), in words.
TIE_RULES = {
    "middle": "of the tied optimal cut-points, the middle one in score order (of two, the higher)",
    "median": "median of the tied optimal cut-points (cutpointr break_ties = median; may not be optimal)",
}

#: Named rules accepted by :func:`choose_threshold` (dict keys or the string "youden").
RULES: tuple[str, ...] = ("youden", "sensitivity", "specificity", "constrained")


def candidate_cutpoints(y_true: ArrayLike, score: ArrayLike
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Sensitivity and specificity at every candidate cut-point.

    Candidates are ``+inf`` (all negative) and each distinct observed score, in
    decreasing order, as in cutpointr's ``roc()``.

    Returns
    -------
    cuts, sensitivity, specificity : arrays of equal length
    """
    y = as_binary(y_true)
    s = as_scores(score, n=y.size)
    n_pos, n_neg = need_both_classes(y, what="threshold selection")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    cuts = np.r_[np.inf, s_sorted[last]]
    sens = np.r_[0.0, tp / n_pos]
    spec = np.r_[1.0, 1.0 - fp / n_neg]
    return cuts, sens, spec


def constrained(y_true: ArrayLike, score: ArrayLike, *, min_sensitivity: float = 0.70,
                min_npv: float = 0.50, weights: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> float:
    """Clinically constrained cut-point (the rule of the CRIT/iTED study's LightGBM code).

    Among observed cut-points with sensitivity >= ``min_sensitivity`` and NPV >=
    ``min_npv``, the one maximising ``w_sens * sensitivity + w_npv * NPV + w_spec *
    specificity`` (THCA-ITH code, github.com/Spr1te123/THCA-ITH: 0.5, 0.3, 0.2); ties go
    to the highest cut-point. When no cut-point meets both constraints, the highest
    cut-point reaching the sensitivity constraint alone is returned, with an
    ``UndefinedMetricWarning``. Unlike the THCA-ITH code, the candidates are the observed
    scores (no fixed 0.05-0.49 grid, no 0.25 cap), and the rule is meant for the training
    or validation predictions only; the threshold is then carried unchanged to other
    cohorts.
    """
    cuts, sens, spec = candidate_cutpoints(y_true, score)
    y = as_binary(y_true)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    tn = spec * n_neg
    fn = (1.0 - sens) * n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        npv = np.where(tn + fn > 0, tn / (tn + fn), np.nan)
    ok = (sens >= min_sensitivity - 1e-12) & (np.nan_to_num(npv, nan=-1.0) >= min_npv - 1e-12)
    finite = np.isfinite(cuts)
    if not (ok & finite).any():
        warn_undefined(f"no cut-point reaches sensitivity >= {min_sensitivity} and NPV >= "
                       f"{min_npv}; the highest cut-point with sensitivity >= "
                       f"{min_sensitivity} is used instead.")
        reach = np.flatnonzero((sens >= min_sensitivity - 1e-12) & finite)
        return float(cuts[reach[0]])
    w_sens, w_npv, w_spec = weights
    value = np.where(ok & finite, w_sens * sens + w_npv * np.nan_to_num(npv) + w_spec * spec, -np.inf)
    return float(cuts[int(np.argmax(value))])  # argmax: first = highest cut-point on ties


def youden_ties(y_true: ArrayLike, score: ArrayLike, *, tol: float = 1e-6
                ) -> tuple[NDArray[np.float64], float]:
    """The cut-points reaching the maximum Youden's J (within ``tol``), decreasing, and J."""
    cuts, sens, spec = candidate_cutpoints(y_true, score)
    j = sens + spec - 1.0
    best = np.flatnonzero(j >= j.max() - tol)
    return cuts[best], float(j.max())


def youden(y_true: ArrayLike, score: ArrayLike, *, tol: float = 1e-6,
           convention: Literal["cutpointr", "midpoint"] = "cutpointr",
           ties: Literal["middle", "median"] = "middle", warn: bool = True) -> float:
    """Cut-point maximising Youden's J = sensitivity + specificity - 1.

    Parameters
    ----------
    y_true, score : arrays of shape (N,)
        Binary labels (1 = positive) and scores on any scale (higher = positive).
    tol : float
        Cut-points whose J is within ``tol`` of the maximum are tied (cutpointr's
        ``tol_metric = 1e-6``).
    convention : {"cutpointr", "midpoint"}
        ``"cutpointr"`` (default) returns the observed score ``c`` with positives
        ``score >= c`` (= ``cutpointr(..., method = maximize_metric, metric = youden)``).
        ``"midpoint"`` returns the midpoint between each tied ``c`` and the next lower
        observed score (= ``pROC::coords(best.method = "youden")``; the lowest score
        gives ``-inf``).
    ties : {"middle", "median"}
        Tied optima: ``"middle"`` (default) the middle tied optimal cut-point, which is
        optimal; ``"median"`` their median (cutpointr's ``break_ties = median``), which
        may fall on a worse split (see the module notes).
    warn : bool
        Emit a :class:`TiedCutpointWarning` when optima are tied.

    Returns
    -------
    float
        The threshold on the score's scale.

    Examples
    --------
    Separable scores: every cut between 2 and 3 gives J = 1; cutpointr reports the
    lowest score called positive (``score >= threshold``):

    >>> youden([0, 0, 1, 1], [1, 2, 3, 4])
    3.0
    """
    if ties not in TIE_RULES:
        raise InputError(f"ties must be one of {sorted(TIE_RULES)}, found {ties!r}.")
    if convention not in ("cutpointr", "midpoint"):
        raise InputError(f"convention must be 'cutpointr' or 'midpoint', found {convention!r}.")
    cuts_all, _, _ = candidate_cutpoints(y_true, score)
    chosen, jmax = youden_ties(y_true, score, tol=tol)
    if convention == "midpoint":
        pos = np.searchsorted(-cuts_all, -chosen)  # positions of the tied cuts (decreasing)
        lower = np.r_[cuts_all[1:], -np.inf][pos]
        with np.errstate(invalid="ignore"):
            chosen = np.where(np.isinf(lower), -np.inf, (chosen + lower) / 2.0)
    if chosen.size == 1:
        return float(chosen[0])
    median = float(np.median(chosen))
    middle = float(chosen[(chosen.size - 1) // 2])  # decreasing order: of two middle ones, the higher
    value = middle if ties == "middle" else median
    if warn:
        shown = ", ".join(f"{c:.6g}" for c in chosen[:8]) + (" ..." if chosen.size > 8 else "")
        warnings.warn(f"Multiple optimal cut-points found: {chosen.size} reach Youden's J = "
                      f"{jmax:.4g} ({shown}); using {value:.6g} ({TIE_RULES[ties]}).",
                      TiedCutpointWarning, stacklevel=2)
    return value


def for_sensitivity(y_true: ArrayLike, score: ArrayLike, target: float) -> float:
    """Highest cut-point whose sensitivity is at least ``target`` (0-1).

    Among the cut-points reaching the target sensitivity this one has the highest
    specificity. Returns an observed score (positive when ``score >= threshold``).
    """
    if not 0.0 <= target <= 1.0:
        raise InputError(f"target sensitivity must lie in [0, 1], found {target}.")
    cuts, sens, _ = candidate_cutpoints(y_true, score)
    ok = np.flatnonzero(sens >= target - 1e-12)
    return float(cuts[ok[0]])


def for_specificity(y_true: ArrayLike, score: ArrayLike, target: float) -> float:
    """Lowest cut-point whose specificity is at least ``target`` (0-1).

    Among the cut-points reaching the target specificity this one has the highest
    sensitivity. When only "call everything negative" reaches the target, returns
    ``+inf`` with an :class:`UndefinedMetricWarning`.
    """
    if not 0.0 <= target <= 1.0:
        raise InputError(f"target specificity must lie in [0, 1], found {target}.")
    cuts, _, spec = candidate_cutpoints(y_true, score)
    ok = np.flatnonzero(spec >= target - 1e-12)
    c = float(cuts[ok[-1]])
    if np.isinf(c):
        warn_undefined(f"only an infinite threshold reaches specificity {target}; nothing is called positive.")
    return c


def choose_threshold(y_true: ArrayLike, score: ArrayLike, rule: ThresholdRule = "youden") -> float:
    """Choose a threshold by a rule.

    Parameters
    ----------
    rule : "youden" | float | {"sensitivity": x} | {"specificity": x}
        ``"youden"``: :func:`youden`; a number (or a numeric string): used as is
        (``inf`` calls every case negative, as Youden does for constant scores);
        ``{"sensitivity": 0.9}``: :func:`for_sensitivity`;
        ``{"specificity": 0.9}``: :func:`for_specificity`;
        ``"constrained"`` or ``{"constrained": {"min_sensitivity": .., "min_npv": ..}}``:
        :func:`constrained`.
    """
    if isinstance(rule, bool):
        raise InputError(f"threshold rule must be 'youden', a number or a dict, found {rule!r}.")
    if isinstance(rule, (int, float, np.floating, np.integer)):
        if np.isnan(rule):
            raise InputError(f"a fixed threshold must be a number, found {rule!r}.")
        # +inf (every case negative) is what Youden gives constant scores; carried as is.
        return float(rule)
    if isinstance(rule, str):
        try:
            return choose_threshold(y_true, score, float(rule))
        except ValueError:
            pass
        if rule.strip().lower() == "youden":
            return youden(y_true, score)
        if rule.strip().lower() == "constrained":
            return constrained(y_true, score)
        hint = did_you_mean(rule, RULES, n=2)
        raise InputError(f"unknown threshold rule {rule!r}: use 'youden', a number, "
                         f"{{'sensitivity': x}} or {{'specificity': x}}.{hint}")
    if isinstance(rule, Mapping):
        if len(rule) != 1:
            raise InputError(f"a threshold rule dict has exactly one key, found {dict(rule)!r}.")
        (key, target), = rule.items()
        if key == "sensitivity":
            return for_sensitivity(y_true, score, float(target))
        if key == "specificity":
            return for_specificity(y_true, score, float(target))
        if key == "constrained":
            return constrained(y_true, score, **dict(target or {}))
        hint = did_you_mean(str(key), RULES[1:], n=1)
        raise InputError(f"unknown threshold rule key {key!r}: use 'sensitivity' or 'specificity'.{hint}")
    raise InputError(f"threshold rule must be 'youden', a number or a dict, found {type(rule).__name__}.")
