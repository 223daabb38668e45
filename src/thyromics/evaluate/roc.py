"""ROC curves, AUC, DeLong confidence intervals and DeLong tests.

Direction
---------
Like pROC with ``direction = "<"``: controls (label 0) are expected to have *lower*
scores than cases (label 1), i.e. a higher score means "more likely positive". The
AUC is then ``P(S_case > S_control) + 0.5 P(S_case = S_control)`` and may fall below
0.5 for a score that points the other way: it is never flipped silently. Pass
``direction=">"`` for scores where lower means positive (equivalent to negating the
score). Scores may be on any scale (probabilities, logits, diameters in mm, ratings);
only their order matters.

DeLong
------
Variances and covariances of the AUCs are DeLong's structural-components estimates
(DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837), computed with the fast
midrank algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21:1389,
"Fast implementation of DeLong's algorithm for comparing the areas under correlated
receiver operating characteristic curves"), O((m+n) log(m+n)) per score instead of
O(mn). Sample variances use the ``m - 1`` / ``n - 1`` denominators, as pROC does, so
numbers agree with ``pROC::ci.auc(method = "delong")`` and ``pROC::roc.test``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary, as_scores, need_both_classes, warn_undefined

__all__ = [
    "AUCResult",
    "CONSTANT_SCORE",
    "SEPARATED",
    "ComparisonResult",
    "Direction",
    "auc",
    "delong_ci",
    "bootstrap_auc_ci",
    "delong_test",
    "delong_test_unpaired",
    "roc_curve",
    "delong_covariance",
]

Direction = Literal["<", ">"]


@dataclass(frozen=True)
class AUCResult:
    """An AUC with its confidence interval.

    Attributes
    ----------
    auc : float
        Area under the ROC curve (Mann-Whitney estimate, ties count 1/2).
    ci_low, ci_high : float
        Bounds of the ``1 - alpha`` confidence interval, clipped to [0, 1].
    se : float
        Standard error (DeLong), or the standard deviation of the bootstrap AUCs.
    method : str
        ``"delong"`` or ``"bootstrap"`` (percentile interval).
    alpha : float
        1 - confidence level.
    n_boot : int or None
        Number of bootstrap resamples (bootstrap only).
    note : str or None
        Why the CI is NaN (a constant score, a single case or control); None otherwise.
    """

    auc: float
    ci_low: float
    ci_high: float
    se: float
    method: str = "delong"
    alpha: float = 0.05
    n_boot: int | None = None
    note: str | None = None


CONSTANT_SCORE = ("the score is constant: every case ties with every control, so the AUC is "
                  "0.5 by ties alone and has no confidence interval")


SEPARATED = ("the score separates the classes perfectly (every case above every control, or "
             "below): the AUC is {auc:g} and its DeLong variance is 0, so a confidence interval "
             "is not estimable from these data (a zero-width interval would claim certainty)")


def _separated(y: NDArray[np.int8], s: NDArray[np.float64], method: str, alpha: float,
               n_boot: int | None = None) -> AUCResult | None:
    """The not-estimable-CI result of a perfectly separating score (with a warning), else None."""
    pos, neg = s[y == 1], s[y == 0]
    if pos.min() > neg.max():
        a = 1.0
    elif pos.max() < neg.min():
        a = 0.0
    else:
        return None
    note = SEPARATED.format(auc=a)
    warn_undefined(f"{note}; CI reported as NaN.")
    nan = float("nan")
    return AUCResult(a, nan, nan, 0.0, method, alpha, n_boot, note=note)


def _constant(s: NDArray[np.float64], method: str, alpha: float,
              n_boot: int | None = None) -> AUCResult | None:
    """The undefined-CI result of a constant score (with a warning), else None."""
    if s.min() != s.max():
        return None
    warn_undefined(f"{CONSTANT_SCORE}; CI and SE reported as NaN.")
    nan = float("nan")
    return AUCResult(0.5, nan, nan, nan, method, alpha, n_boot, note=CONSTANT_SCORE)


@dataclass(frozen=True)
class ComparisonResult:
    """DeLong test of two AUCs (``auc_diff = auc_a - auc_b``).

    ``ci_low``/``ci_high`` bound the difference with the DeLong variance; ``z`` is the
    test statistic and ``p`` the two-sided p-value. Paired: standard normal reference
    (``df`` is None). Unpaired: Student t reference with Welch-Satterthwaite ``df``,
    as pROC's unpaired DeLong test (its statistic is called ``D`` there).
    """

    auc_a: float
    auc_b: float
    auc_diff: float
    ci_low: float
    ci_high: float
    z: float
    p: float
    method: str = "delong"
    paired: bool = True
    alpha: float = 0.05
    df: float | None = None


def _prepare(y_true: ArrayLike, score: ArrayLike, direction: Direction,
             what: str) -> tuple[NDArray[np.int8], NDArray[np.float64]]:
    y = as_binary(y_true)
    s = as_scores(score, n=y.size)
    if direction not in ("<", ">"):
        raise InputError(f"direction must be '<' (higher score = positive) or '>', found {direction!r}.")
    need_both_classes(y, what=what)
    return y, (s if direction == "<" else -s)


def delong_covariance(y_true: ArrayLike, scores: ArrayLike, *,
                      direction: Direction = "<") -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUCs of K scores on the same cases and their DeLong covariance matrix.

    Fast algorithm of Sun & Xu (2014). With ``m`` cases and ``n`` controls, for score
    ``k`` let ``T_x``, ``T_y`` and ``T_z`` be the midranks of the case scores among the
    cases, of the control scores among the controls and of all scores together.
    Then ``AUC_k = (sum_i T_z(x_i) - m(m+1)/2) / (m n)``, the structural components are
    ``V10_i = (T_z(x_i) - T_x(x_i)) / n`` (cases) and
    ``V01_j = 1 - (T_z(y_j) - T_y(y_j)) / m`` (controls), and
    ``Cov = S10 / m + S01 / n`` with ``S10``, ``S01`` the sample covariance matrices
    (denominators ``m - 1``, ``n - 1``) of the components over the K scores.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary labels, 1 = case (positive).
    scores : array of shape (K, N) or (N,)
        K scores of the same N cases.
    direction : {"<", ">"}
        ``"<"``: higher score = positive (pROC ``direction = "<"``).

    Returns
    -------
    aucs : array of shape (K,)
    cov : array of shape (K, K)
        NaN where a class has a single member (variance undefined, as in pROC).
    """
    y = as_binary(y_true)
    need_both_classes(y, what="DeLong covariance")
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    for k in range(s.shape[0]):
        as_scores(s[k], n=y.size, name=f"score {k}")
    if direction not in ("<", ">"):
        raise InputError(f"direction must be '<' (higher score = positive) or '>', found {direction!r}.")
    if direction == ">":
        s = -s
    pos, neg = s[:, y == 1], s[:, y == 0]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)
    ty = rankdata(neg, axis=1)
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    k = s.shape[0]
    s10 = np.cov(v10).reshape(k, k) if m > 1 else np.full((k, k), np.nan)
    s01 = np.cov(v01).reshape(k, k) if n > 1 else np.full((k, k), np.nan)
    return aucs, s10 / m + s01 / n


def auc(y_true: ArrayLike, score: ArrayLike, *, direction: Direction = "<") -> float:
    """Area under the ROC curve (Mann-Whitney U / (m n); ties count 1/2).

    Raises :class:`~thyromics.errors.InputError` when only one class is present.

    Examples
    --------
    Three of the four positive-negative pairs are ranked right:

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    y, s = _prepare(y_true, score, direction, "AUC")
    m = int(y.sum())
    n = y.size - m
    r = rankdata(s)
    return float((r[y == 1].sum() - m * (m + 1) / 2.0) / (m * n))


def delong_ci(y_true: ArrayLike, score: ArrayLike, *, alpha: float = 0.05,
              direction: Direction = "<") -> AUCResult:
    """AUC with DeLong's ``1 - alpha`` confidence interval.

    ``AUC +/- z_{1-alpha/2} * SE`` with the DeLong SE (Sun & Xu 2014 algorithm),
    bounds clipped to [0, 1], as ``pROC::ci.auc(method = "delong")``. With a single
    case or control the SE is undefined: SE and bounds are NaN with an
    :class:`~thyromics.evaluate._checks.UndefinedMetricWarning`. A constant score has
    AUC 0.5 and no CI (NaN, :data:`CONSTANT_SCORE` in ``note``), not a zero-width one;
    a perfectly separating score has AUC 1 (or 0) and no CI either (NaN, :data:`SEPARATED`
    in ``note``, SE 0, with a warning): pROC would print the zero-width ``1-1``.
    """
    y, s = _prepare(y_true, score, direction, "DeLong AUC CI")
    if (res := _constant(s, "delong", alpha)) is not None:
        return res
    if (res := _separated(y, s, "delong", alpha)) is not None:
        return res
    aucs, cov = delong_covariance(y, s)
    a, var = float(aucs[0]), float(cov[0, 0])
    if not np.isfinite(var):
        warn_undefined("DeLong SE is undefined with a single case or control; CI is NaN.")
        nan = float("nan")
        return AUCResult(a, nan, nan, nan, "delong", alpha,
                         note="the DeLong SE is undefined with a single case or control")
    se = float(np.sqrt(max(var, 0.0)))
    zq = float(norm.ppf(1 - alpha / 2))
    return AUCResult(a, max(0.0, a - zq * se), min(1.0, a + zq * se), se, "delong", alpha)


def _auc_rows(pos: NDArray[np.float64], neg: NDArray[np.float64]) -> NDArray[np.float64]:
    """AUC of each row of (B, m) case scores against (B, n) control scores."""
    m, n = pos.shape[1], neg.shape[1]
    r = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    return (r[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)


def bootstrap_auc_ci(y_true: ArrayLike, score: ArrayLike, *, n_boot: int = 2000, seed: int = 0,
                     stratified: bool = True, alpha: float = 0.05,
                     direction: Direction = "<") -> AUCResult:
    """AUC with a percentile bootstrap ``1 - alpha`` confidence interval.

    Resamples cases with replacement ``n_boot`` times (``numpy.random.default_rng(seed)``).
    ``stratified=True`` (default, as ``pROC::ci.auc(method="bootstrap",
    stratified=TRUE)``) draws the cases and the controls separately, keeping their
    counts; otherwise all rows are drawn together and resamples holding one class only
    are drawn again. The interval is the ``alpha/2`` and ``1-alpha/2`` quantiles of the
    bootstrap AUCs (linear interpolation, R's ``quantile`` type 7); ``se`` is their SD.
    A constant score has AUC 0.5 and no CI, as in :func:`delong_ci`.
    """
    y, s = _prepare(y_true, score, direction, "bootstrap AUC CI")
    if n_boot < 1:
        raise InputError(f"n_boot must be a positive integer, found {n_boot}.")
    if (res := _constant(s, "bootstrap", alpha, n_boot)) is not None:
        return res
    if (res := _separated(y, s, "bootstrap", alpha, n_boot)) is not None:
        return res
    rng = np.random.default_rng(seed)
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    out = np.empty(n_boot)
    chunk = max(1, 200_000 // (m + n))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        if stratified:
            bp = pos[rng.integers(0, m, size=(b, m))]
            bn = neg[rng.integers(0, n, size=(b, n))]
            out[done:done + b] = _auc_rows(bp, bn)
            done += b
        else:
            for _ in range(b):
                idx = rng.integers(0, y.size, size=y.size)
                yb = y[idx]
                if yb.min() == yb.max():
                    continue
                out[done] = _auc_rows(s[idx][yb == 1][None, :], s[idx][yb == 0][None, :])[0]
                done += 1
    lo, hi = np.quantile(out, [alpha / 2, 1 - alpha / 2])
    return AUCResult(auc(y, s), float(lo), float(hi), float(np.std(out, ddof=1)) if n_boot > 1 else 0.0,
                     "bootstrap", alpha, n_boot)


def _compare(auc_a: float, auc_b: float, var: float, alpha: float, paired: bool,
             df: float | None = None) -> ComparisonResult:
    """z (or t) statistic, two-sided p and CI of ``auc_a - auc_b`` with variance ``var``."""
    diff = auc_a - auc_b
    nan = float("nan")
    if not np.isfinite(var) or var < 0 or (var == 0 and diff != 0):
        warn_undefined(
            "DeLong test is undefined: the variance of the AUC difference is "
            f"{var!r} with a difference of {diff!r} (perfect separation, or a single "
            "case/control); z, p and the CI are NaN."
        )
        return ComparisonResult(auc_a, auc_b, diff, nan, nan, nan, nan, "delong", paired, alpha, df)
    if var == 0:  # identical AUCs with no variance: z = 0 as in pROC
        return ComparisonResult(auc_a, auc_b, diff, 0.0, 0.0, 0.0, 1.0, "delong", paired, alpha, df)
    se = float(np.sqrt(var))
    z = diff / se
    if df is None:
        p = float(2 * norm.sf(abs(z)))
        q = float(norm.ppf(1 - alpha / 2))
    else:
        p = float(2 * student_t.sf(abs(z), df))
        q = float(student_t.ppf(1 - alpha / 2, df))
    return ComparisonResult(auc_a, auc_b, diff, diff - q * se, diff + q * se, float(z), p,
                            "delong", paired, alpha, df)


def delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, *, alpha: float = 0.05,
                direction: Direction = "<") -> ComparisonResult:
    """Paired DeLong test of two scores on the same cases.

    ``z = (AUC_a - AUC_b) / sqrt(V_a + V_b - 2 C_ab)`` with the DeLong covariance
    matrix (:func:`delong_covariance`); two-sided ``p = 2 (1 - Phi(|z|))``; CI of the
    difference ``diff +/- z_{1-alpha/2} SE``. Matches
    ``pROC::roc.test(r1, r2, method = "delong", paired = TRUE)``.
    """
    y = as_binary(y_true)
    sa = as_scores(score_a, n=y.size, name="score_a")
    sb = as_scores(score_b, n=y.size, name="score_b")
    need_both_classes(y, what="DeLong test")
    aucs, cov = delong_covariance(y, np.vstack([sa, sb]), direction=direction)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return _compare(float(aucs[0]), float(aucs[1]), var, alpha, True)


def delong_test_unpaired(y_a: ArrayLike, score_a: ArrayLike, y_b: ArrayLike, score_b: ArrayLike, *,
                         alpha: float = 0.05, direction: Direction = "<") -> ComparisonResult:
    """Unpaired DeLong test of two AUCs from independent cohorts.

    As ``pROC::roc.test(r1, r2, method = "delong", paired = FALSE)``:
    ``D = (AUC_a - AUC_b) / sqrt(V_a + V_b)`` with each DeLong variance ``V``, referred
    to a Student t distribution with Welch-Satterthwaite degrees of freedom
    ``df = (V_a + V_b)^2 / (V_a^2 / (N_a - 1) + V_b^2 / (N_b - 1))`` (N = all cases of a
    cohort). ``z`` holds ``D``; the CI of the difference is ``diff +/- t_{1-alpha/2, df} SE``
    (pROC gives none).
    """
    ya, sa = _prepare(y_a, score_a, direction, "DeLong test (cohort a)")
    yb, sb = _prepare(y_b, score_b, direction, "DeLong test (cohort b)")
    auc_a, cov_a = delong_covariance(ya, sa)
    auc_b, cov_b = delong_covariance(yb, sb)
    va, vb = float(cov_a[0, 0]), float(cov_b[0, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        df = float((va + vb) ** 2 / (va ** 2 / (ya.size - 1) + vb ** 2 / (yb.size - 1)))
    return _compare(float(auc_a[0]), float(auc_b[0]), va + vb, alpha, False, df)


def roc_curve(y_true: ArrayLike, score: ArrayLike, *,
              direction: Direction = "<") -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Empirical ROC curve.

    Returns ``(fpr, tpr, thresholds)``, one point per distinct score plus the first
    point ``(0, 0)`` at threshold ``+inf``; thresholds decrease. A case is called
    positive when ``score >= threshold`` (for ``direction=">"``: when
    ``score <= threshold``, thresholds then increase from ``-inf``).
    """
    y, s = _prepare(y_true, score, direction, "ROC curve")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / y.sum()]
    fpr = np.r_[0.0, fp / (y.size - y.sum())]
    thr = np.r_[np.inf, s_sorted[last]]
    if direction == ">":
        thr = -thr
    return fpr, tpr, thr
