"""Calibration of predicted probabilities.

All statistics need probabilities in [0, 1]; a score on another scale (a diameter, a
logit, a rating) has no calibration and raises :class:`~thyromics.errors.InputError`.

* **Brier score** ``mean((p - y)^2)`` (Brier 1950), as ``rms::val.prob`` "Brier".
* **Calibration-in-the-large** (``calibration_in_the_large``): ``a`` in
  ``logit P(y=1) = a + 1 * logit(p)``, a logistic model with ``logit(p)`` as offset
  (Van Calster et al. 2016, J Clin Epidemiol 74:167; Steyerberg, Clinical Prediction
  Models, 2nd ed., ch. 15). 0 is perfect; ``a > 0`` means the predictions are too low on
  average. Same as R ``glm(y ~ 1, offset = qlogis(p), family = binomial)``. It is *not*
  one of the numbers of ``rms::val.prob``.
* **Intercept and Slope, as rms::val.prob names them** (``val_prob_intercept``,
  ``calibration_slope``): ``a'`` and ``b`` in the logistic recalibration model
  ``logit P(y=1) = a' + b logit(p)`` (Cox 1958); the slope is 1 when perfect, ``b < 1``
  means predictions too extreme (overfitting). The intercept of this model is *not*
  calibration-in-the-large (it depends on the slope). As in val.prob, predictions of
  exactly 0 or 1 (infinite logit) are left out of the logistic fits.
* **Hosmer-Lemeshow** test (Hosmer & Lemeshow 1980): ``g`` groups cut at the
  quantiles of ``p`` (R ``quantile`` type 7; duplicate breaks dropped; intervals
  ``(a, b]``, the first closed), ``chi2 = sum over groups and both outcomes of
  (O - E)^2 / E``. Degrees of freedom: ``groups - 2`` on the development data (the
  model was fitted on these cases; ``ResourceSelection::hoslem.test``), ``groups`` on
  validation data (predictions of cases the model was not fitted on: out-of-fold,
  internal or external cohorts; Hosmer, Lemeshow & Sturdivant, Applied Logistic
  Regression, 3rd ed., 2013, section 5.2.2). ``groups`` counts the groups actually formed
  (fewer than ``g`` when ties merge quantiles).
* **Reliability curve**: the same bins (``strategy="quantile"``) or ``n_bins`` equal
  widths on [0, 1] (``strategy="uniform"``): per bin the count, mean predicted
  probability, observed event rate and its Wilson 95% CI.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2 as chi2_dist

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary, as_scores, warn_undefined
from thyromics.evaluate.metrics import wilson_ci

__all__ = ["calibration", "brier", "calibration_intercept_slope", "hosmer_lemeshow", "as_probabilities"]


def as_probabilities(prob: ArrayLike, *, n: int | None = None, name: str = "prob") -> NDArray[np.float64]:
    """Finite probabilities in [0, 1], or :class:`InputError` saying what was found."""
    p = as_scores(prob, n=n, name=name)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise InputError(
            f"{name}: calibration needs predicted probabilities in [0, 1], found values from "
            f"{p.min():g} to {p.max():g}. Calibrate or convert the score to a probability "
            "first (a score on another scale has no calibration)."
        )
    return p


def brier(y_true: ArrayLike, prob: ArrayLike) -> float:
    """Brier score ``mean((p - y)^2)``: 0 is perfect, 0.25 is a constant 0.5."""
    y = as_binary(y_true)
    p = as_probabilities(prob, n=y.size)
    return float(np.mean((p - y) ** 2))


def _logistic(y: NDArray[np.float64], x: NDArray[np.float64] | None,
              offset: NDArray[np.float64]) -> NDArray[np.float64]:
    """Maximum-likelihood logistic coefficients (intercept[, slope]) by Newton-Raphson."""
    X = np.ones((y.size, 1)) if x is None else np.column_stack([np.ones(y.size), x])
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        eta = offset + X @ beta
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1 - mu)
        grad = X.T @ (y - mu)
        hess = X.T @ (X * w[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return np.full(X.shape[1], np.nan)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(beta))):
            break
    else:
        return np.full(X.shape[1], np.nan)
    return beta


def calibration_intercept_slope(y_true: ArrayLike, prob: ArrayLike) -> dict[str, float]:
    """``{"intercept", "slope", "recalibration_intercept"}`` (see the module notes).

    Predictions of exactly 0 or 1 are left out of the fits (as ``rms::val.prob``).
    When the outcome is separated by ``logit(p)`` (or a class is missing) the maximum
    likelihood estimate does not exist: NaN with an ``UndefinedMetricWarning``.
    """
    y = as_binary(y_true).astype(float)
    p = as_probabilities(prob, n=y.size)
    keep = (p > 0) & (p < 1)
    if not keep.all():
        warn_undefined(f"{int((~keep).sum())} prediction(s) of exactly 0 or 1 left out of the calibration fits.")
    y, p = y[keep], p[keep]
    nan = float("nan")
    if y.size < 2 or y.min() == y.max():
        warn_undefined("calibration intercept/slope need both outcomes; reported as NaN.")
        return {"intercept": nan, "slope": nan, "recalibration_intercept": nan}
    lp = np.log(p / (1 - p))
    with np.errstate(over="ignore"):
        (a,) = _logistic(y, None, lp)
        a2, b = _logistic(y, lp, np.zeros_like(lp))
    lo_pos, hi_neg = lp[y == 1].min(), lp[y == 0].max()
    if lo_pos > hi_neg or lp[y == 0].min() > lp[y == 1].max() or not np.isfinite([a2, b]).all():
        warn_undefined("outcome perfectly separated by the predictions: calibration slope and "
                       "recalibration intercept do not exist; reported as NaN.")
        a2 = b = nan
    return {"intercept": float(a), "slope": float(b), "recalibration_intercept": float(a2)}


def _bins(p: NDArray[np.float64], n_bins: int, strategy: str) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    if n_bins < 1:
        raise InputError(f"n_bins must be a positive integer, found {n_bins}.")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise InputError(f"strategy must be 'quantile' or 'uniform', found {strategy!r}.")
    if edges.size == 1:  # all predictions equal
        return np.zeros(p.size, dtype=np.intp), np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges, p, side="left"), 1, edges.size - 1) - 1
    return idx, edges


def hosmer_lemeshow(y_true: ArrayLike, prob: ArrayLike, *, g: int = 10,
                    sample: Literal["development", "validation"] = "development") -> dict[str, float]:
    """Hosmer-Lemeshow goodness-of-fit test on ``g`` quantile groups.

    Returns ``{"chi2", "df", "p", "groups", "sample"}``; empty groups are dropped.
    ``df`` is the number of groups formed minus 2 for ``sample="development"`` (the
    model was fitted on these cases) and the number of groups for ``"validation"``
    (out-of-fold or external predictions); NaN p with a warning when ``df < 1``.
    """
    if sample not in ("development", "validation"):
        raise InputError(f"sample must be 'development' or 'validation', found {sample!r}.")
    y = as_binary(y_true).astype(float)
    p = as_probabilities(prob, n=y.size)
    idx, _ = _bins(p, g, "quantile")
    chi2 = 0.0
    groups = 0
    for k in np.unique(idx):
        sel = idx == k
        o1, e1 = y[sel].sum(), p[sel].sum()
        o0, e0 = sel.sum() - o1, sel.sum() - e1
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2 += (o1 - e1) ** 2 / e1 + (o0 - e0) ** 2 / e0
        groups += 1
    df = groups - 2 if sample == "development" else groups
    if df < 1 or not np.isfinite(chi2):
        warn_undefined(f"Hosmer-Lemeshow test undefined ({groups} group(s), chi2={chi2!r}); p is NaN.")
        return {"chi2": float(chi2), "df": df, "p": float("nan"), "groups": groups, "sample": sample}
    return {"chi2": float(chi2), "df": df, "p": float(chi2_dist.sf(chi2, df)), "groups": groups,
            "sample": sample}


def calibration(y_true: ArrayLike, prob: ArrayLike, *, n_bins: int = 10,
                strategy: Literal["quantile", "uniform"] = "quantile", alpha: float = 0.05,
                sample: Literal["development", "validation"] = "development") -> dict:
    """All calibration statistics of predicted probabilities.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary outcome (1 = event).
    prob : array of shape (N,)
        Predicted probabilities of the event, in [0, 1].
    n_bins : int
        Groups of the Hosmer-Lemeshow test and bins of the reliability curve.
    strategy : {"quantile", "uniform"}
        Binning of the reliability curve (the HL test always uses quantile groups).
    alpha : float
        1 - confidence level of the observed-rate CIs of the curve.
    sample : {"development", "validation"}
        Whether the model was fitted on these cases (Hosmer-Lemeshow df = groups - 2)
        or not (df = groups).

    Returns
    -------
    dict
        ``brier``, ``intercept`` (calibration-in-the-large; also as
        ``calibration_in_the_large``), ``slope`` (val.prob "Slope"),
        ``recalibration_intercept`` (val.prob "Intercept"; also as
        ``val_prob_intercept``), ``hosmer_lemeshow`` ({chi2, df, p, groups, sample}) and
        ``bins``: list of {lower, upper, n, mean_predicted, observed, observed_ci}.
    """
    y = as_binary(y_true)
    p = as_probabilities(prob, n=y.size)
    fits = calibration_intercept_slope(y, p)
    hl = hosmer_lemeshow(y, p, g=n_bins, sample=sample)
    idx, edges = _bins(p, n_bins, strategy)
    bins = []
    for k in range(edges.size - 1):
        sel = idx == k
        n = int(sel.sum())
        if n == 0:
            continue
        x = int(y[sel].sum())
        bins.append({"lower": float(edges[k]), "upper": float(edges[k + 1]), "n": n,
                     "mean_predicted": float(p[sel].mean()), "observed": x / n,
                     "observed_ci": list(wilson_ci(x, n, alpha=alpha))})
    return {"brier": float(np.mean((p - y) ** 2)), **fits,
            "calibration_in_the_large": fits["intercept"],
            "val_prob_intercept": fits["recalibration_intercept"], "hosmer_lemeshow": hl,
            "bins": bins, "strategy": strategy}
