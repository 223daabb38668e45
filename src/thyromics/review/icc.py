"""ICC(2,1): two-way random effects, absolute agreement, single rater, with its CI.

For ``n`` targets (cases) each rated by the same ``k`` raters (readers' masks), from the
two-way ANOVA mean squares ``MSR`` (targets), ``MSC`` (raters) and ``MSE`` (residual):

    ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

(Shrout & Fleiss 1979, Psychol Bull 86:420, case 2; McGraw & Wong 1996, Psychol Methods
1:30, "ICC(A,1)"). ``F = MSR / MSE`` on ``(n - 1, (n - 1)(k - 1))`` degrees of freedom
tests ICC = 0. The confidence interval is Satterthwaite's approximation given by
McGraw & Wong (1996, Table 7, case 2A) as in R's ``psych::ICC`` and ``irr::icc``:

    v  = (k - 1)(n - 1) (k I Fj + n (1 + (k - 1) I) - k I)^2
         / ((n - 1) k^2 I^2 Fj^2 + (n (1 + (k - 1) I) - k I)^2),   Fj = MSC / MSE
    lower = n (MSR - F* MSE) / (F* (k MSC + (k n - k - n) MSE) + n MSR),
            F* = F_{1 - alpha/2}(n - 1, v)
    upper = n (F** MSR - MSE) / (k MSC + (k n - k - n) MSE + n F** MSR),
            F** = F_{1 - alpha/2}(v, n - 1)

The computation is vectorised over features: ``ratings`` of shape ``(n, k, m)`` gives
``m`` ICCs at once (PyRadiomics' hundreds of features in milliseconds). Checked against
``psych::ICC`` on Shrout & Fleiss' Table 2 and on a seeded data set
(``tests/fixtures/icc/make_reference.R``). Pingouin's ``intraclass_corr`` gives the same
point estimates but rounds its intervals to two decimals and takes about 15 ms a
feature, which is why it is not used here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from thyromics.errors import InputError

__all__ = ["icc2_1", "icc1_1", "icc3_1", "icc", "ICC_KINDS"]

#: ICC forms by name: Shrout & Fleiss cases 1, 2 and 3, single rater.
ICC_KINDS = ("icc1", "icc2", "icc3")


def icc2_1(ratings: ArrayLike, *, alpha: float = 0.05) -> dict[str, np.ndarray | float]:
    """ICC(2,1) with its ``1 - alpha`` confidence interval.

    Parameters
    ----------
    ratings : array, shape ``(n, k)`` or ``(n, k, m)``
        ``n`` targets x ``k`` raters (x ``m`` features); no missing values.
    alpha : float
        0.05 gives the 95% interval.

    Returns
    -------
    dict
        ``icc, f, df1, df2, p, lower, upper``: floats for a 2-D input, arrays of length
        ``m`` for a 3-D one. A feature with no variance at all (every rating equal) has
        NaN everywhere: the ICC is undefined.

    Raises
    ------
    InputError
        Fewer than 2 targets or raters, NaN or infinite ratings.

    Examples
    --------
    Shrout & Fleiss' (1979) six targets rated by four judges; they report ICC(2,1) = 0.29:

    >>> ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
    ...            [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(float(icc2_1(ratings)["icc"]), 2)
    0.29
    """
    from scipy import stats

    _, squeeze, n, k, ms = _mean_squares(ratings)
    msr, msc, mse = ms["msr"], ms["msc"], ms["mse"]
    df1, df2 = n - 1, (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        f = msr / mse
        p = stats.f.sf(f, df1, df2)
        fj = msc / mse
        a = k * icc
        b = n * (1 + (k - 1) * icc) - a
        v = (k - 1) * (n - 1) * (a * fj + b) ** 2 / ((n - 1) * a ** 2 * fj ** 2 + b ** 2)
        f_up = stats.f.ppf(1 - alpha / 2, df1, v)
        f_lo = stats.f.ppf(1 - alpha / 2, v, df1)
        common = k * msc + (k * n - k - n) * mse
        lower = n * (msr - f_up * mse) / (f_up * common + n * msr)
        upper = n * (f_lo * msr - mse) / (common + n * f_lo * msr)
    return _finish({"icc": icc, "f": f, "p": p, "lower": lower, "upper": upper},
                   ms["undefined"], squeeze, df1, df2)


def _mean_squares(ratings: ArrayLike) -> tuple[np.ndarray, bool, int, int, dict[str, np.ndarray]]:
    """The checked ``(n, k, m)`` array and its one- and two-way ANOVA mean squares."""
    y = np.asarray(ratings, dtype=np.float64)
    squeeze = y.ndim == 2
    if squeeze:
        y = y[:, :, None]
    if y.ndim != 3:
        raise InputError(f"ratings must be (targets, raters) or (targets, raters, features), found shape {y.shape}.")
    n, k, _ = y.shape
    if n < 2 or k < 2:
        raise InputError(f"ICC needs at least 2 targets and 2 raters, found {n} and {k}.")
    if not np.isfinite(y).all():
        raise InputError("ICC ratings contain NaN or infinite values; drop those targets first.")
    grand = y.mean(axis=(0, 1))
    ss_total = ((y - grand) ** 2).sum(axis=(0, 1))
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum(axis=0)
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum(axis=0)
    ss_err = np.maximum(ss_total - ss_rows - ss_cols, 0.0)
    ms = {"msr": ss_rows / (n - 1), "msc": ss_cols / (k - 1),
          "mse": ss_err / ((n - 1) * (k - 1)),
          "msw": np.maximum(ss_total - ss_rows, 0.0) / (n * (k - 1)),
          "undefined": ss_total <= 1e-12 * np.maximum(1.0, np.abs(grand)) ** 2}
    return y, squeeze, n, k, ms


def _finish(values: dict[str, np.ndarray], undefined: np.ndarray, squeeze: bool,
            df1: float, df2: float) -> dict[str, np.ndarray | float]:
    out: dict[str, np.ndarray | float] = {}
    for name in ("icc", "f", "p", "lower", "upper"):
        val = np.where(undefined, np.nan, values[name])
        out[name] = float(val[0]) if squeeze else val
    out["df1"], out["df2"] = float(df1), float(df2)
    return out


def _consistency_form(msr: np.ndarray, msx: np.ndarray, k: int, df1: float, df2: float,
                      alpha: float) -> dict[str, np.ndarray]:
    """ICC = (MSR - MSX) / (MSR + (k - 1) MSX) with its exact F-based interval."""
    from scipy import stats

    with np.errstate(divide="ignore", invalid="ignore"):
        icc = (msr - msx) / (msr + (k - 1) * msx)
        f = msr / msx
        p = stats.f.sf(f, df1, df2)
        f_lo = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_up = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        lower = (f_lo - 1) / (f_lo + k - 1)
        upper = (f_up - 1) / (f_up + k - 1)
    return {"icc": icc, "f": f, "p": p, "lower": lower, "upper": upper}


def icc1_1(ratings: ArrayLike, *, alpha: float = 0.05) -> dict[str, np.ndarray | float]:
    """ICC(1,1): one-way random effects, single rater, with its ``1 - alpha`` interval.

    Each target may be rated by a different set of raters (here: each case by its own
    perturbed images), so rater and residual variance are pooled into the within-target
    mean square ``MSW = (SS_total - SS_rows) / (n (k - 1))``:

        ICC(1,1) = (MSR - MSW) / (MSR + (k - 1) MSW),   F = MSR / MSW on (n - 1, n (k - 1))
        lower = (F_L - 1) / (F_L + k - 1),  F_L = F / F_{1 - alpha/2}(n - 1, n (k - 1))
        upper = (F_U - 1) / (F_U + k - 1),  F_U = F x F_{1 - alpha/2}(n (k - 1), n - 1)

    (Shrout & Fleiss 1979, case 1; McGraw & Wong 1996, "ICC(1)"), as R's ``psych::ICC``
    ``ICC1``. This is the form Zwanenburg et al. (Sci Rep 2019;9:614) use for robustness
    over image perturbations. Input, output and errors as :func:`icc2_1`.

    Examples
    --------
    Shrout & Fleiss' (1979) six targets rated by four judges; they report ICC(1,1) = 0.17:

    >>> ratings = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
    ...            [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> round(float(icc1_1(ratings)["icc"]), 2)
    0.17
    """
    _, squeeze, n, k, ms = _mean_squares(ratings)
    df1, df2 = n - 1, n * (k - 1)
    vals = _consistency_form(ms["msr"], ms["msw"], k, df1, df2, alpha)
    return _finish(vals, ms["undefined"], squeeze, df1, df2)


def icc3_1(ratings: ArrayLike, *, alpha: float = 0.05) -> dict[str, np.ndarray | float]:
    """ICC(3,1): two-way mixed effects, consistency, single rater, with its interval.

        ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE),   F = MSR / MSE on (n - 1, (n - 1)(k - 1))

    with the interval of :func:`icc1_1` on these degrees of freedom (Shrout & Fleiss 1979,
    case 3; McGraw & Wong 1996, "ICC(C,1)"), as R's ``psych::ICC`` ``ICC3``. Input,
    output and errors as :func:`icc2_1`.
    """
    _, squeeze, n, k, ms = _mean_squares(ratings)
    df1, df2 = n - 1, (n - 1) * (k - 1)
    vals = _consistency_form(ms["msr"], ms["mse"], k, df1, df2, alpha)
    return _finish(vals, ms["undefined"], squeeze, df1, df2)


def icc(ratings: ArrayLike, kind: str = "icc1", *, alpha: float = 0.05
        ) -> dict[str, np.ndarray | float]:
    """The ICC form ``kind`` (``icc1``, ``icc2`` or ``icc3``) of :data:`ICC_KINDS`.

    Raises
    ------
    InputError
        An unknown ``kind`` (the valid ones are named), or bad ratings.
    """
    funcs = {"icc1": icc1_1, "icc2": icc2_1, "icc3": icc3_1}
    key = str(kind).lower().replace("(", "").replace(")", "").replace(",1", "").replace("_", "")
    if key not in funcs:
        raise InputError(f"unknown ICC form {kind!r}; expected one of {', '.join(ICC_KINDS)} "
                         "(Shrout & Fleiss cases 1, 2, 3, single rater).")
    return funcs[key](ratings, alpha=alpha)
