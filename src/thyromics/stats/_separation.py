"""Detection of complete and quasi-complete separation in binary logistic regression.

Rule (Konis 2007; Albert & Anderson 1984). Let ``s_i = 2 y_i - 1`` and ``z_i = s_i x_i``
(rows of the design matrix, intercept included, non-constant columns scaled to unit SD).
The maximum-likelihood estimate is infinite exactly when a direction ``b != 0`` exists with
``z_i . b >= 0`` for every case: along it the likelihood increases for ever.

* *Quasi-complete (or complete) separation* is declared when the linear programme
  ``max sum_i z_i . b  s.t.  z_i . b >= 0,  -1 <= b_j <= 1`` (HiGHS via
  ``scipy.optimize.linprog``) has an optimum above ``1e-6 * n``. The terms with
  ``|b_j| > 1e-6`` are the ones whose estimates run to infinity (not reported). Terms
  that separate on their own (the same LP on the intercept and that term only) are named
  first in the report.
* *Complete separation* is declared when additionally
  ``max t  s.t.  z_i . b >= t,  -1 <= b_j <= 1,  t <= 1`` has ``t > 1e-6``: every case
  lies strictly on its own side of a hyperplane. No finite estimate of any term exists
  then, and none is reported.

The check is exact up to the LP tolerance and costs one or two small LPs, so it runs
before every fit rather than relying on huge coefficients or statsmodels'
``PerfectSeparationWarning`` after the fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import linprog

__all__ = ["SeparationReport", "detect_separation"]

_TOL = 1e-6


@dataclass(frozen=True)
class SeparationReport:
    """Separation found in a logistic design.

    Attributes
    ----------
    kind : {"complete", "quasi-complete"}
    terms : tuple of str
        The terms named as separating: those that separate the outcome on their own
        (with the intercept), else the terms of the separating direction.
    infinite : tuple of str
        Terms whose estimates are not reported: every term (intercept included) under
        complete separation, the terms of the separating direction under quasi-complete
        separation.
    direction : tuple of float
        The separating direction found by the LP in standardised units, for the
        non-intercept terms with a non-zero component.
    message : str
        The finding in words, with what to do.
    """

    kind: Literal["complete", "quasi-complete"]
    terms: tuple[str, ...]
    infinite: tuple[str, ...]
    direction: tuple[float, ...]
    message: str


def _lp_sum(z: np.ndarray) -> np.ndarray | None:
    n, p = z.shape
    res = linprog(c=-z.sum(axis=0), A_ub=-z, b_ub=np.zeros(n), bounds=[(-1, 1)] * p,
                  method="highs")
    if res.status != 0 or -res.fun <= _TOL * n:
        return None
    return res.x


def _lp_complete(z: np.ndarray) -> bool:
    n, p = z.shape
    c = np.zeros(p + 1)
    c[-1] = -1.0  # maximise t
    a_ub = np.hstack([-z, np.ones((n, 1))])  # t - z.b <= 0
    res = linprog(c=c, A_ub=a_ub, b_ub=np.zeros(n), bounds=[(-1, 1)] * p + [(None, 1)],
                  method="highs")
    return res.status == 0 and -res.fun > _TOL


def detect_separation(x: np.ndarray, y: np.ndarray, names: list[str],
                      describe: dict[str, str] | None = None) -> SeparationReport | None:
    """Return a :class:`SeparationReport` when ``(x, y)`` is separated, else None.

    Parameters
    ----------
    x : (n, p) float array
        Design matrix including the intercept column.
    y : (n,) array of 0/1
    names : list of str
        Term names, one per column of ``x`` (``"const"`` for the intercept).
    describe : dict, optional
        Extra words per term (e.g. "level 'C' of grade: 12 of 12 cases are events"),
        added to the message.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    sd = x.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    z = (2 * y - 1)[:, None] * (x / scale)
    b = _lp_sum(z)
    if b is None:
        return None
    complete = _lp_complete(z)
    support = [j for j in range(len(names)) if abs(b[j]) > _TOL and names[j] != "const"]
    if not support:  # only the intercept moves: the outcome has a single class
        support = [j for j in range(len(names)) if abs(b[j]) > _TOL]
    # Name first the terms that separate on their own (with the intercept only).
    const = [j for j in range(len(names)) if names[j] == "const"]
    alone = [j for j in range(len(names)) if names[j] != "const"
             and _lp_sum(z[:, const + [j]]) is not None]
    named = alone or support
    terms = tuple(names[j] for j in named)
    infinite = tuple(names) if complete else tuple(names[j] for j in support)
    kind: Literal["complete", "quasi-complete"] = "complete" if complete else "quasi-complete"
    parts = [f"{kind.capitalize()} separation: the outcome is perfectly predicted "
             + ("for every case" if complete else "for a subset of cases")
             + f" by {', '.join(repr(t) for t in terms)}"
             + (" on its own." if len(alone) == 1 else (" each on its own." if alone else "."))]
    for t in terms:
        if describe and t in describe:
            parts.append(describe[t])
    parts.append(("No finite maximum-likelihood estimate exists, so no odds ratio of this "
                  "model is reported." if complete else
                  "Maximum-likelihood odds ratios of "
                  + ", ".join(repr(names[j]) for j in support)
                  + " are infinite (or zero), so they are not reported.")
                 + " What to do: fit Firth's penalised logistic regression (e.g. R "
                 "logistf), merge sparse levels or drop the separating predictor, or report "
                 "the finding descriptively.")
    return SeparationReport(kind=kind, terms=terms, infinite=infinite,
                            direction=tuple(float(b[j]) for j in support),
                            message=" ".join(parts))
