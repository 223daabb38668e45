"""Hypothesis tests behind Table 1, each matched to the R function it reproduces.

Every function returns a :class:`TestResult` carrying the test's name as printed in
Table 1, its statistic and its two-sided p-value. The conventions are chosen so that the
numbers equal R's (checked in ``tests/stats/test_stats_table1.py`` against fixtures made by
``tests/fixtures/stats/make_fixtures.R``):

=====================  ==========================================  ==========================
test                   thyromics (scipy)                           R
=====================  ==========================================  ==========================
Student t              ``ttest_ind(equal_var=True)``               ``t.test(var.equal=TRUE)``
Welch t                ``ttest_ind(equal_var=False)``              ``t.test()``
Mann-Whitney U         ``mannwhitneyu(method="asymptotic",         ``wilcox.test()`` default:
                       use_continuity=True)`` (tie-corrected);     normal approximation with
                       ``method="exact"`` when both groups have    continuity correction, exact
                       < 50 values and there are no ties           below 50 per group w/o ties
one-way ANOVA          ``f_oneway``                                ``summary(aov())``
Welch ANOVA            Welch (1951) F, this module                 ``oneway.test(var.equal=
                                                                   FALSE)``
Kruskal-Wallis         ``kruskal`` (tie-corrected)                 ``kruskal.test``
chi-square             ``chi2_contingency(correction=True)``:      ``chisq.test()`` (default
                       Yates' correction on 2x2 tables only        ``correct=TRUE``)
Fisher exact 2x2       ``fisher_exact``                            ``fisher.test``
Fisher exact 2xc/rx2   exact enumeration (this module)             ``fisher.test``
Fisher r x c (r,c>2)   Monte-Carlo, ``MonteCarloMethod`` (seeded)  ``fisher.test(simulate.
                       also 2 x c tables too wide to enumerate     p.value=TRUE)``
Levene                 ``levene(center="median")``                 ``car::leveneTest`` default
                       (Brown-Forsythe)
Shapiro-Wilk           ``shapiro``                                 ``shapiro.test``
=====================  ==========================================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = [
    "TestResult",
    "continuous_test",
    "categorical_test",
    "fisher_exact_2xc",
    "is_normal",
    "variances_differ",
    "welch_anova",
    "FISHER_MC_RESAMPLES",
    "WILCOX_EXACT_BELOW",
]

WILCOX_EXACT_BELOW = 50
"""Mann-Whitney is exact when both groups have fewer values than this and no ties (R)."""

FISHER_MC_RESAMPLES = 100_000
"""Monte-Carlo resamples for Fisher's test on tables larger than 2 x c (seeded)."""

_FISHER_EXACT_MAX_TABLES = 5_000_000
# Cumulative partial tables examined before the exact 2 x c enumeration gives up (a few
# seconds); wide sparse tables (hundreds of levels) then go to Monte Carlo at once.
_FISHER_EXACT_MAX_WORK = 3_000_000
# R's fisher.test counts tables whose probability is <= the observed one times
# (1 + 1e-7), to be robust to floating-point ties; we do the same.
_FISHER_REL_TOL = 1e-7


@dataclass(frozen=True)
class TestResult:
    """The outcome of one hypothesis test.

    Attributes
    ----------
    test : str
        Name printed in Table 1 (e.g. ``"Welch t-test"``).
    statistic : float
        Test statistic (t, U, F, H, chi-square; for Fisher's test the probability of
        the observed table under the null, or NaN).
    p : float
        Two-sided p-value; NaN when no test was possible (see ``note``).
    note : str
        Why no test was run, or details of the method (resamples, seed).
    """

    __test__ = False  # not a pytest class

    test: str
    statistic: float
    p: float
    note: str = ""


def is_normal(groups: list[np.ndarray], alpha: float = 0.05) -> tuple[bool, list[float]]:
    """Shapiro-Wilk normality rule applied to every group.

    A variable is treated as normal when the Shapiro-Wilk test (Royston 1995, as
    ``scipy.stats.shapiro`` and R's ``shapiro.test``) does not reject normality at
    ``alpha`` in *any* group. Groups with fewer than 3 values cannot be tested and do
    not vote; if no group can be tested the variable is treated as non-normal. For
    n > 5000 the p-value is approximate (scipy warns; R refuses).

    Returns
    -------
    normal : bool
    pvalues : list of float
        Shapiro-Wilk p-value per group (NaN where not testable).
    """
    pvals: list[float] = []
    for g in groups:
        if g.size < 3 or np.ptp(g) == 0:
            pvals.append(float("nan"))
            continue
        pvals.append(float(stats.shapiro(g).pvalue))
    tested = [p for p in pvals if not np.isnan(p)]
    return (bool(tested) and all(p >= alpha for p in tested)), pvals


def variances_differ(groups: list[np.ndarray], alpha: float = 0.05) -> tuple[bool, float]:
    """Brown-Forsythe/Levene test (centre = median) for unequal variances.

    Returns ``(p < alpha, p)``. The statistic is the one-way ANOVA F of
    ``|x - median(group)|`` (Brown & Forsythe 1974), i.e. ``car::leveneTest``'s default.
    """
    p = float(stats.levene(*groups, center="median").pvalue)
    return (p < alpha), p


def welch_anova(groups: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Welch's heteroscedastic one-way ANOVA (Welch 1951), as R's ``oneway.test``.

    With ``w_i = n_i / s_i^2``, ``m = sum w_i xbar_i / sum w_i`` and
    ``t = sum (1 - w_i / sum w)^2 / (n_i - 1)``:
    ``F = [sum w_i (xbar_i - m)^2 / (k - 1)] / [1 + 2 (k - 2) t / (k^2 - 1)]`` on
    ``k - 1`` and ``(k^2 - 1) / (3 t)`` degrees of freedom.

    Returns ``(F, df1, df2, p)``.
    """
    n = np.array([g.size for g in groups], dtype=float)
    mean = np.array([g.mean() for g in groups])
    var = np.array([g.var(ddof=1) for g in groups])
    k = len(groups)
    w = n / var
    m = np.sum(w * mean) / np.sum(w)
    tmp = np.sum((1 - w / w.sum()) ** 2 / (n - 1))
    f = (np.sum(w * (mean - m) ** 2) / (k - 1)) / (1 + 2 * (k - 2) * tmp / (k * k - 1))
    df2 = (k * k - 1) / (3 * tmp)
    return float(f), float(k - 1), float(df2), float(stats.f.sf(f, k - 1, df2))


def continuous_test(groups: list[np.ndarray], *, normal: bool,
                    alpha_levene: float = 0.05) -> TestResult:
    """Compare a continuous variable between groups.

    Two groups: Student's t-test when ``normal`` and the Levene test (median centre)
    does not reject equal variances at ``alpha_levene``, Welch's t-test when it does;
    Mann-Whitney U when not ``normal``: exact when both groups have fewer than
    :data:`WILCOX_EXACT_BELOW` values and no value is tied, otherwise the normal
    approximation with continuity and tie correction (R's ``wilcox.test`` default).
    More than two groups: one-way ANOVA when ``normal`` and Levene does not reject,
    Welch's ANOVA (``oneway.test``) when it does; else Kruskal-Wallis (tie-corrected
    chi-square approximation).

    Parameters
    ----------
    groups : list of 1-D float arrays
        Non-missing values per group (empty groups are left out).
    normal : bool
        Whether to use the parametric test.
    alpha_levene : float
        Significance level of the Levene test deciding equal vs unequal variances.
    """
    groups = [np.asarray(g, dtype=float) for g in groups if len(g) > 0]
    if len(groups) < 2:
        return TestResult("not tested", np.nan, np.nan, "fewer than two non-empty groups")
    if len(groups) == 2:
        a, b = groups
        if normal:
            if min(a.size, b.size) < 2:
                return TestResult("not tested", np.nan, np.nan, "a group has < 2 values")
            differ, p_lev = variances_differ(groups, alpha_levene)
            res = stats.ttest_ind(a, b, equal_var=not differ)
            name = "Welch t-test" if differ else "Student t-test"
            return TestResult(name, float(res.statistic), float(res.pvalue),
                              f"Levene (median) p = {p_lev:.3g}")
        both = np.concatenate([a, b])
        exact = (max(a.size, b.size) < WILCOX_EXACT_BELOW
                 and np.unique(both).size == both.size)
        res = stats.mannwhitneyu(a, b, method="exact" if exact else "asymptotic",
                                 use_continuity=True, alternative="two-sided")
        return TestResult("Mann-Whitney U (exact)" if exact else "Mann-Whitney U",
                          float(res.statistic), float(res.pvalue))
    if normal:
        if min(g.size for g in groups) < 2:
            return TestResult("not tested", np.nan, np.nan, "a group has < 2 values")
        differ, p_lev = variances_differ(groups, alpha_levene)
        if differ:
            f, _, df2, p = welch_anova(groups)
            return TestResult("Welch ANOVA", f, p,
                              f"Levene (median) p = {p_lev:.3g}; df = {len(groups) - 1}, {df2:.4g}")
        res = stats.f_oneway(*groups)
        return TestResult("one-way ANOVA", float(res.statistic), float(res.pvalue),
                          f"Levene (median) p = {p_lev:.3g}")
    res = stats.kruskal(*groups)
    return TestResult("Kruskal-Wallis", float(res.statistic), float(res.pvalue))


def _log_comb(c, x):
    return special.gammaln(c + 1) - special.gammaln(x + 1) - special.gammaln(c - x + 1)


def _rest_bounds(caps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of ``sum_k log C(c_k, x_k)`` over ``0 <= x_k <= c_k``, ``sum x = R``.

    Returned as arrays indexed by ``R = 0 .. sum(caps)``. The function is concave and
    separable, so the maximum is reached by greedy allocation (nested in ``R``) and the
    minimum at a vertex: every column empty or full except at most one. With more than
    12 columns the minimum is replaced by its lower bound 0.
    """
    total = int(caps.sum())
    gains = np.concatenate([np.log((c - np.arange(c)) / (np.arange(c) + 1.0))
                            for c in caps]) if total else np.zeros(0)
    hi = np.concatenate([[0.0], np.cumsum(np.sort(gains)[::-1])])
    lo = np.full(total + 1, np.inf)
    m = len(caps)
    if m == 0:
        return np.zeros(1), np.zeros(1)
    if m > 12:
        return np.zeros(total + 1), hi
    for mask in range(1 << m):
        full = sum(int(caps[k]) for k in range(m) if mask >> k & 1)
        lo[full] = min(lo[full], 0.0)
        for f in range(m):
            if mask >> f & 1:
                continue
            x = np.arange(1, int(caps[f]))
            if x.size:
                np.minimum.at(lo, full + x, _log_comb(caps[f], x))
    return lo, hi


def fisher_exact_2xc(table: np.ndarray) -> float:
    """Exact two-sided Fisher test for a 2 x c (or r x 2) table, as R's ``fisher.test``.

    The p-value is the total hypergeometric probability of all tables with the observed
    margins whose probability does not exceed the observed table's (times ``1 + 1e-7``,
    R's tolerance for ties). With column totals ``c_j`` and first-row total ``r1``,
    ``P(x) = prod_j C(c_j, x_j) / C(N, r1)``.

    Algorithm: a network algorithm in the spirit of Mehta & Patel (1983). Tables are
    built column by column; partial tables with the same row sum and the same partial
    probability are merged; a partial table whose every completion is at most as probable
    as the observed one is counted at once (``sum of completions = C(rest, r1 - s)``,
    Vandermonde's identity), and one whose every completion is more probable is dropped,
    using the exact maximum and minimum over completions (:func:`_rest_bounds`).

    Raises
    ------
    OverflowError
        When more than 5 million partial tables would be kept (the caller falls back
        to Monte Carlo).
    """
    t = np.asarray(table, dtype=np.int64)
    if t.shape[0] != 2:
        t = t.T
    if t.shape[0] != 2:
        raise ValueError(f"fisher_exact_2xc needs a 2 x c or r x 2 table, got {t.shape}")
    cols = t.sum(axis=0)
    r1, n = int(t[0].sum()), int(cols.sum())
    log_denom = _log_comb(n, r1)
    thr = float(np.sum(_log_comb(cols, t[0]))) + np.log1p(_FISHER_REL_TOL)
    m = len(cols)
    p = 0.0
    work = 0
    sums = np.zeros(1, dtype=np.int64)
    logw = np.zeros(1)      # sum of log C(c_k, x_k) over the columns placed so far
    mult = np.ones(1)       # number of merged partial tables
    for j in range(m):
        caps = cols[j + 1:]
        cap = int(caps.sum())
        lo, hi = _rest_bounds(caps)
        x = np.arange(cols[j] + 1)
        s_new = (sums[:, None] + x[None, :]).ravel()
        w_new = (logw[:, None] + _log_comb(cols[j], x)[None, :]).ravel()
        k_new = np.repeat(mult, x.size)
        need = r1 - s_new
        ok = (need >= 0) & (need <= cap)
        s_new, w_new, k_new, need = s_new[ok], w_new[ok], k_new[ok], need[ok]
        all_in = w_new + hi[need] <= thr
        if all_in.any():
            p += float(np.sum(k_new[all_in] * np.exp(
                w_new[all_in] + _log_comb(cap, need[all_in]) - log_denom)))
        keep = ~all_in & (w_new + lo[need] <= thr)
        s_new, w_new, k_new = s_new[keep], w_new[keep], k_new[keep]
        if s_new.size:  # merge equal (row sum, partial probability)
            key = np.stack([s_new, np.round(w_new * 1e9).astype(np.int64)], axis=1)
            uniq, inv = np.unique(key, axis=0, return_inverse=True)
            inv = inv.ravel()
            k_m = np.bincount(inv, weights=k_new)
            w_m = np.zeros(len(uniq))
            w_m[inv] = w_new
            s_new, w_new, k_new = uniq[:, 0], w_m, k_m
        work += s_new.size
        if s_new.size > _FISHER_EXACT_MAX_TABLES or work > _FISHER_EXACT_MAX_WORK:
            raise OverflowError(f"more than {_FISHER_EXACT_MAX_TABLES} partial tables, or "
                                f"{_FISHER_EXACT_MAX_WORK} examined")
        sums, logw, mult = s_new, w_new, k_new
    # after the last column the remaining states are complete tables (lo = hi = 0) and
    # were all counted or dropped above.
    return float(min(1.0, p))


def categorical_test(table: np.ndarray, *, min_expected: float = 5,
                     seed: int = 0) -> TestResult:
    """Test independence in a contingency table (rows = levels, columns = groups).

    Pearson's chi-square test when every expected count is at least ``min_expected``
    (Yates' continuity correction on 2 x 2 tables only, as R's ``chisq.test`` default);
    otherwise Fisher's exact test: exact for 2 x 2, 2 x c and r x 2 tables (as R's
    ``fisher.test``; a 2 x c table too wide to enumerate within the work limit goes to
    Monte Carlo), Monte-Carlo with ``FISHER_MC_RESAMPLES`` seeded resamples for
    larger tables (as ``fisher.test(simulate.p.value=TRUE)``; R's exact network
    algorithm has no scipy equivalent). Empty rows/columns are dropped first.
    """
    t = np.asarray(table, dtype=np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.ndim != 2 or min(t.shape) < 2:
        return TestResult("not tested", np.nan, np.nan,
                          "fewer than two observed levels or groups")
    expected = stats.contingency.expected_freq(t)
    if expected.min() >= min_expected:
        res = stats.chi2_contingency(t, correction=True)
        name = "chi-square (Yates)" if t.shape == (2, 2) else "chi-square"
        return TestResult(name, float(res.statistic), float(res.pvalue))
    if t.shape == (2, 2):
        res = stats.fisher_exact(t)
        return TestResult("Fisher exact", np.nan, float(res.pvalue))
    if 2 in t.shape:
        try:
            return TestResult("Fisher exact", np.nan, fisher_exact_2xc(t))
        except OverflowError:
            pass
    method = stats.MonteCarloMethod(n_resamples=FISHER_MC_RESAMPLES,
                                    rng=np.random.default_rng(seed))
    res = stats.fisher_exact(t, method=method)
    # scipy returns 0-d or 1-element arrays depending on the table's shape
    return TestResult("Fisher exact (Monte Carlo)", float(np.ravel(res.statistic)[0]),
                      float(np.ravel(res.pvalue)[0]),
                      f"{FISHER_MC_RESAMPLES} resamples, seed {seed}")
