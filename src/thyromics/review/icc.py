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

__all__ = ["icc2_1"]


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
    """
    from scipy import stats

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
    df1, df2 = n - 1, (n - 1) * (k - 1)
    msr, msc, mse = ss_rows / df1, ss_cols / (k - 1), ss_err / df2
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
    undefined = ss_total <= 1e-12 * np.maximum(1.0, np.abs(grand)) ** 2
    out: dict[str, np.ndarray | float] = {}
    for name, val in (("icc", icc), ("f", f), ("p", p), ("lower", lower), ("upper", upper)):
        val = np.where(undefined, np.nan, val)
        out[name] = float(val[0]) if squeeze else val
    out["df1"], out["df2"] = float(df1), float(df2)
    return out
