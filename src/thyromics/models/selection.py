"""Feature filters and selectors, each a scikit-learn ``SelectorMixin`` transformer.

All of them learn from the ``X, y`` given to ``fit`` only; inside a pipeline they are
therefore refitted on the training part of every fold. They keep pandas column names
(``get_feature_names_out``) so selected features can be reported.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["NearZeroVariance", "CorrelationFilter", "LassoSelector", "UnivariateSelector",
           "MRMRSelector", "lasso_path_cv"]


class _Selector(SelectorMixin, BaseEstimator):
    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class NearZeroVariance(_Selector):
    """Drop constant and near-zero-variance columns (caret ``nearZeroVar`` rule).

    A column is dropped when its variance is 0, or when both the ratio of the most
    to the second most frequent value exceeds ``freq_cut`` and the percentage of
    distinct values is below ``unique_cut`` (Kuhn, caret: defaults 95/5 = 19 and 10 %).
    The rule is scale-invariant, so its place before or after z-scoring is immaterial.
    """

    def __init__(self, *, freq_cut: float = 19.0, unique_cut: float = 10.0) -> None:
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut

    def fit(self, X, y=None) -> NearZeroVariance:
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        n = X.shape[0]
        keep = np.ones(X.shape[1], bool)
        for j in range(X.shape[1]):
            col = X[:, j][np.isfinite(X[:, j])]
            values, counts = np.unique(col, return_counts=True)
            if len(values) <= 1:
                keep[j] = False
                continue
            top2 = np.sort(counts)[-2:]
            ratio = top2[1] / top2[0]
            pct_unique = 100.0 * len(values) / n
            keep[j] = not (ratio > self.freq_cut and pct_unique < self.unique_cut)
        self.support_ = keep
        return self


class CorrelationFilter(_Selector):
    """Drop one of every pair of columns with ``|Pearson r| > threshold``.

    Greedy and deterministic: columns are visited from the least to the most
    redundant (ascending mean absolute correlation with all others, ties by column
    order) and a column is kept only if its ``|r|`` with every column kept so far is
    ``<= threshold``; of two near-duplicates the one more correlated with the rest is
    dropped, as caret's ``findCorrelation`` intends.
    """

    def __init__(self, *, threshold: float = 0.9) -> None:
        self.threshold = threshold

    def fit(self, X, y=None) -> CorrelationFilter:
        X = validate_data(self, X)
        p = X.shape[1]
        if p <= 1:
            self.support_ = np.ones(p, bool)
            return self
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(np.corrcoef(X, rowvar=False))
        r = np.nan_to_num(r, nan=0.0)
        np.fill_diagonal(r, 0.0)
        order = np.argsort(r.mean(axis=0), kind="stable")
        kept: list[int] = []
        for j in order:
            if not kept or np.max(r[j, kept]) <= self.threshold:
                kept.append(int(j))
        keep = np.zeros(p, bool)
        keep[kept] = True
        self.support_ = keep
        return self


def lasso_path_cv(X: np.ndarray, y: np.ndarray, Cs: np.ndarray, cv: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the held-out binomial deviance along an L1 path.

    For every inverse penalty ``C`` in ``Cs`` an L1 logistic regression (liblinear) is
    fitted on ``cv - 1`` folds of a seeded stratified split and scored on the held-out
    fold by the mean deviance ``-2 mean(y log p + (1-y) log(1-p))`` (glmnet's default
    ``type.measure = "deviance"``). Returns ``(mean, se)`` over folds, one per ``C``,
    with ``se = sd / sqrt(cv)``.
    """
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    dev = np.zeros((cv, len(Cs)))
    for f, (tr, te) in enumerate(folds.split(X, y)):
        for c, C in enumerate(Cs):
            m = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=float(C),
                                   max_iter=1000, random_state=seed).fit(X[tr], y[tr])
            p = np.clip(m.predict_proba(X[te])[:, 1], 1e-12, 1 - 1e-12)
            dev[f, c] = -2.0 * np.mean(y[te] * np.log(p) + (1 - y[te]) * np.log(1 - p))
    return dev.mean(axis=0), dev.std(axis=0, ddof=1) / np.sqrt(cv)


class LassoSelector(_Selector):
    """LASSO (L1 logistic regression) with the penalty chosen by inner cross-validation.

    ``rule="min"`` takes the ``C`` with the lowest mean held-out deviance;
    ``rule="1se"`` takes the smallest ``C`` (the strongest penalty, fewest features)
    whose mean deviance is within one standard error of that minimum (Hastie,
    Tibshirani & Friedman, *Elements of Statistical Learning*, 2nd ed., 7.10; glmnet's
    ``lambda.1se``). The model is then refitted on all of ``X`` at that ``C`` and the
    columns with a non-zero coefficient are kept. If none is non-zero, the single
    column with the largest ``|coef|`` at the largest ``C`` is kept (``fallback_``).

    Parameters
    ----------
    rule : {"min", "1se"}
    n_Cs : int
        Length of the log-spaced ``C`` grid from ``1e-3`` to ``1e2``.
    cv : int
        Inner folds (stratified, not grouped: only the penalty is chosen here).
    random_state : int
    """

    def __init__(self, *, rule: str = "min", n_Cs: int = 15, cv: int = 5,
                 random_state: int = 0) -> None:
        self.rule = rule
        self.n_Cs = n_Cs
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y) -> LassoSelector:
        X, y = validate_data(self, X, y)
        y = (y == np.unique(y)[-1]).astype(float)
        if self.rule not in ("min", "1se"):
            raise ValueError(f"LassoSelector rule must be 'min' or '1se', got {self.rule!r}")
        Cs = np.logspace(-3, 2, self.n_Cs)
        cv = int(max(2, min(self.cv, np.bincount(y.astype(int)).min())))
        mean, se = lasso_path_cv(X, y, Cs, cv, self.random_state)
        best = int(np.argmin(mean))
        if self.rule == "1se":
            best = int(np.flatnonzero(mean <= mean[best] + se[best])[0])
        self.C_ = float(Cs[best])
        self.cv_deviance_ = mean
        self.cv_deviance_se_ = se
        model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=self.C_,
                                   max_iter=1000, random_state=self.random_state).fit(X, y)
        self.coef_ = model.coef_.ravel()
        keep = self.coef_ != 0
        self.fallback_ = not keep.any()
        if self.fallback_:
            full = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=float(Cs[-1]),
                                      max_iter=1000, random_state=self.random_state).fit(X, y)
            keep[int(np.argmax(np.abs(full.coef_.ravel())))] = True
        self.support_ = keep
        return self


class UnivariateSelector(_Selector):
    """Keep the ``k`` columns with the smallest univariate test p-value.

    ``test="f"``: ANOVA F-test (two groups: the two-sample t-test);
    ``test="mannwhitney"``: Mann-Whitney U (two-sided). ``k`` is capped at the number
    of columns.
    """

    def __init__(self, *, k: int = 20, test: str = "f") -> None:
        self.k = k
        self.test = test

    def fit(self, X, y) -> UnivariateSelector:
        X, y = validate_data(self, X, y)
        pos = y == np.unique(y)[-1]
        if self.test == "f":
            _, p = f_classif(X, y)
        elif self.test == "mannwhitney":
            p = stats.mannwhitneyu(X[pos], X[~pos], axis=0).pvalue
        else:
            raise ValueError(f"UnivariateSelector test must be 'f' or 'mannwhitney', "
                             f"got {self.test!r}")
        p = np.nan_to_num(np.asarray(p, float), nan=1.0)
        self.pvalues_ = p
        keep = np.zeros(X.shape[1], bool)
        keep[np.argsort(p, kind="stable")[: min(self.k, X.shape[1])]] = True
        self.support_ = keep
        return self


class MRMRSelector(_Selector):
    """Minimum-redundancy maximum-relevance selection, F-test/correlation quotient.

    Greedy: the first column maximises the relevance ``F_j`` (ANOVA F against ``y``);
    each next one maximises ``F_j / mean_{s in S} |r_js|`` over the selected set ``S``
    (the "FCQ" scheme of Ding & Peng, J Bioinform Comput Biol 2005;3:185-205, as in
    Zhao, Anand & Wang, "Maximum relevance and minimum redundancy feature selection
    methods for a marketing machine learning platform", IEEE DSAA 2019).
    """

    def __init__(self, *, k: int = 20) -> None:
        self.k = k

    def fit(self, X, y) -> MRMRSelector:
        X, y = validate_data(self, X, y)
        f, _ = f_classif(X, y)
        f = np.nan_to_num(np.asarray(f, float), nan=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.nan_to_num(np.abs(np.corrcoef(X, rowvar=False)), nan=0.0)
        r = np.atleast_2d(r)
        k = min(self.k, X.shape[1])
        selected = [int(np.argmax(f))]
        redundancy = r[:, selected[0]].copy()
        while len(selected) < k:
            score = f / np.maximum(redundancy / len(selected), 1e-6)
            score[selected] = -np.inf
            j = int(np.argmax(score))
            selected.append(j)
            redundancy += r[:, j]
        keep = np.zeros(X.shape[1], bool)
        keep[selected] = True
        self.support_ = keep
        self.ranking_ = np.array(selected)
        return self
