"""Decision curve analysis (Vickers & Elkin 2006, Med Decis Making 26:565).

At a threshold probability ``pt`` a patient is treated when ``p >= pt`` (the same
``>=`` rule as ``dcurves``). The net benefit of a model is::

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

"Treat all" has ``NB = prevalence - (1 - prevalence) * pt / (1 - pt)`` and "treat
none" ``NB = 0``. Written from the formula (a few lines, no hidden state) and checked
against the ``dcurves`` package in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary
from thyromics.evaluate.calibration import as_probabilities

__all__ = ["decision_curve", "TREAT_ALL", "TREAT_NONE"]

TREAT_ALL = "treat_all"
TREAT_NONE = "treat_none"


def decision_curve(y_true: ArrayLike, probs: Mapping[str, ArrayLike],
                   thresholds: ArrayLike = np.arange(0.01, 0.99, 0.01)) -> pd.DataFrame:
    """Net benefit of each model, of treat-all and of treat-none over thresholds.

    Parameters
    ----------
    y_true : array of shape (N,)
        Binary outcome (1 = event).
    probs : dict of name -> array of shape (N,)
        Predicted event probabilities in [0, 1] of each model.
    thresholds : array
        Threshold probabilities ``pt`` in [0, 1).

    Returns
    -------
    pandas.DataFrame
        Long table with columns ``model, threshold, n, prevalence, tp, fp, tp_rate,
        fp_rate, net_benefit``; models in the given order, then ``treat_all`` and
        ``treat_none``.
    """
    y = as_binary(y_true)
    pt = np.asarray(thresholds, dtype=float).ravel()
    if pt.size == 0 or np.any(~np.isfinite(pt)) or pt.min() < 0 or pt.max() >= 1:
        raise InputError("decision_curve: thresholds must be finite probabilities in [0, 1).")
    clash = {TREAT_ALL, TREAT_NONE} & set(probs)
    if clash:
        raise InputError(f"decision_curve: model names {sorted(clash)} are reserved; rename them.")
    n = y.size
    if n == 0:
        raise InputError("decision_curve: no cases.")
    odds = pt / (1 - pt)
    rows = []
    for name, prob in probs.items():
        p = as_probabilities(prob, n=n, name=f"model {name!r}")
        treated = p[None, :] >= pt[:, None]
        tp = (treated & (y == 1)).sum(axis=1)
        fp = (treated & (y == 0)).sum(axis=1)
        rows.append(pd.DataFrame({"model": name, "threshold": pt, "tp": tp, "fp": fp}))
    n_pos = int(y.sum())
    rows.append(pd.DataFrame({"model": TREAT_ALL, "threshold": pt, "tp": n_pos, "fp": n - n_pos}))
    rows.append(pd.DataFrame({"model": TREAT_NONE, "threshold": pt, "tp": 0, "fp": 0}))
    out = pd.concat(rows, ignore_index=True)
    out.insert(2, "n", n)
    out.insert(3, "prevalence", n_pos / n)
    out["tp_rate"] = out["tp"] / n
    out["fp_rate"] = out["fp"] / n
    out["net_benefit"] = out["tp_rate"] - out["fp_rate"] * np.tile(odds, len(rows))
    return out
