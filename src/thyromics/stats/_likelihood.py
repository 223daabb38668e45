"""Likelihood tools behind :mod:`thyromics.stats.logistic`: Firth's penalised logistic
regression, profile-likelihood intervals and generalised VIFs.

* **Firth** (Firth 1993, Biometrika 80:27; Heinze & Schemper 2002, Stat Med 21:2409):
  maximises ``l*(b) = l(b) + 1/2 log det I(b)`` with ``I(b) = X' W X``,
  ``W = diag(p (1 - p))``, by Newton steps on the modified score
  ``U*(b) = X' (y - p + h (1/2 - p))`` (``h`` the diagonal of the hat matrix
  ``W^1/2 X I^-1 X' W^1/2``), halving a step while ``l*`` does not increase. The estimate
  exists also under separation. Standard errors ``sqrt(diag(I(b)^-1))`` at the estimate,
  Wald z and p: the numbers of R ``brglm2`` (``glm(..., method = "brglmFit",
  type = "AS_mean")``, bias reduction in the mean, which is Firth's for the logit link).
* **Profile-likelihood interval** of coefficient ``j``: the ``b_j`` with
  ``2 [l(b_hat) - max_{b_-j} l(b_j, b_-j)] = chi2_{1, 1 - alpha}``, found by Brent's
  method on each side (each profile point is a logistic fit with ``b_j x_j`` as offset).
  R's ``confint`` on a ``glm`` (MASS ``profile.glm``) finds the same points by spline
  interpolation of a grid, so the two agree to about 1e-4.
* **GVIF** (Fox & Monette 1992, JASA 87:178), as ``car::vif`` on a fitted ``glm``: with
  ``R`` the correlation matrix of the estimated coefficients (intercept removed) and
  ``S`` the columns of one predictor (one per dummy of a categorical one),
  ``GVIF = det R_SS det R_-S-S / det R``; ``GVIF^(1/(2 df))`` is comparable across
  predictors with different degrees of freedom ``df = |S|``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

__all__ = ["FirthFit", "firth_logistic", "profile_ci", "gvif"]


class FirthFit:
    """Result of :func:`firth_logistic`: ``params``, ``bse``, ``llf`` (penalised), ``converged``."""

    def __init__(self, params: np.ndarray, bse: np.ndarray, llf: float, converged: bool,
                 iterations: int) -> None:
        self.params = params
        self.bse = bse
        self.llf = llf
        self.converged = converged
        self.iterations = iterations


def _loglik(x: np.ndarray, y: np.ndarray, b: np.ndarray, offset: np.ndarray | float = 0.0) -> float:
    eta = x @ b + offset
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def firth_logistic(x: np.ndarray, y: np.ndarray, *, tol: float = 1e-10,
                   max_iter: int = 200) -> FirthFit:
    """Firth's penalised maximum-likelihood logistic regression (see the module notes).

    Parameters
    ----------
    x : (n, p) float array
        Design matrix with its intercept column.
    y : (n,) array of 0/1
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    b = np.zeros(x.shape[1])

    def penalised(beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        w = p * (1 - p)
        info = x.T @ (x * w[:, None])
        sign, logdet = np.linalg.slogdet(info)
        return (_loglik(x, y, beta) + 0.5 * logdet if sign > 0 else -np.inf), p, info

    lstar, p, info = penalised(b)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        inv = np.linalg.inv(info)
        w = p * (1 - p)
        xw = x * np.sqrt(w)[:, None]
        h = np.einsum("ij,jk,ik->i", xw, inv, xw)
        step = inv @ (x.T @ (y - p + h * (0.5 - p)))
        for _ in range(30):  # step halving on the penalised log-likelihood
            new = b + step
            l_new, p_new, info_new = penalised(new)
            if l_new >= lstar - 1e-12:
                break
            step = step / 2
        b, lstar, p, info = new, l_new, p_new, info_new
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    bse = np.sqrt(np.diag(np.linalg.inv(info)))
    return FirthFit(b, bse, lstar, converged, it)


def _fit_offset(x: np.ndarray, y: np.ndarray, offset: np.ndarray, start: np.ndarray) -> float:
    """Maximum log-likelihood of the logistic model ``x b + offset`` (Newton-Raphson)."""
    b = start.copy()
    ll = _loglik(x, y, b, offset)
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(x @ b + offset)))
        w = p * (1 - p)
        info = x.T @ (x * w[:, None])
        try:
            step = np.linalg.solve(info, x.T @ (y - p))
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            ll_new = _loglik(x, y, b + step, offset)
            if ll_new >= ll - 1e-12:
                break
            step = step / 2
        b = b + step
        ll = ll_new
        if np.max(np.abs(step)) < 1e-11:
            break
    return ll


def profile_ci(x: np.ndarray, y: np.ndarray, b_hat: np.ndarray, se: np.ndarray, llf: float, *,
               alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Profile-likelihood ``1 - alpha`` bounds of every coefficient (NaN where not found).

    ``b_hat``, ``se`` and ``llf`` are the maximum-likelihood fit of ``y`` on ``x``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    crit = float(stats.chi2.ppf(1 - alpha, 1)) / 2.0
    k = x.shape[1]
    low, high = np.full(k, np.nan), np.full(k, np.nan)
    for j in range(k):
        rest = [i for i in range(k) if i != j]
        xr = x[:, rest]

        def gap(bj: float, j: int = j, xr: np.ndarray = xr, rest: list[int] = rest) -> float:
            return llf - _fit_offset(xr, y, bj * x[:, j], b_hat[rest]) - crit

        for side, out in ((-1, low), (1, high)):
            step = max(se[j], 1e-3)
            far = b_hat[j] + side * step
            for _ in range(60):  # widen until the likelihood has dropped far enough
                if gap(far) > 0:
                    break
                step *= 1.6
                far = b_hat[j] + side * step
            else:
                continue
            a, b = sorted((b_hat[j], far))
            out[j] = optimize.brentq(gap, a, b, xtol=1e-12, rtol=1e-12)
    return low, high


def gvif(cov: np.ndarray, groups: Sequence[Sequence[int]]) -> list[tuple[float, int, float]]:
    """``(GVIF, df, GVIF^(1/(2 df)))`` of each group of coefficient positions.

    ``cov`` is the coefficients' covariance matrix *without* the intercept, and the
    positions index it (see the module notes; ``car::vif``).
    """
    sd = np.sqrt(np.diag(cov))
    r = cov / np.outer(sd, sd)
    det_all = np.linalg.det(r)
    out = []
    for g in groups:
        g = list(g)
        other = [i for i in range(r.shape[0]) if i not in g]
        d_other = np.linalg.det(r[np.ix_(other, other)]) if other else 1.0
        v = float(np.linalg.det(r[np.ix_(g, g)]) * d_other / det_all)
        out.append((v, len(g), float(v ** (1.0 / (2 * len(g))))))
    return out
