"""Classification metrics at a fixed threshold, each with a confidence interval.

A case is positive when ``score >= threshold`` (see :mod:`thyromics.evaluate.thresholds`).

Confidence intervals
--------------------
* accuracy, sensitivity, specificity, PPV, NPV are proportions ``x / n``; their CI is
  the **Wilson score interval** (Wilson 1927, JASA 22:209), identical to R's
  ``prop.test(x, n, correct = FALSE)$conf.int``::

      centre = (p + z^2 / (2n)) / (1 + z^2 / n)
      half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

  with ``z = Phi^-1(1 - alpha/2)``. Denominators: accuracy all N; sensitivity the
  positives (TP + FN); specificity the negatives (TN + FP); PPV the predicted
  positives (TP + FP); NPV the predicted negatives (TN + FN).
* F1 = 2 TP / (2 TP + FP + FN) is not a proportion; its CI is a seeded percentile
  bootstrap over cases. Resampling N cases with replacement is the same as drawing
  the four confusion-matrix cells from a multinomial with the observed cell
  frequencies, which is what is done (``numpy.random.default_rng(seed)``, ``n_boot``
  draws; resamples where F1 is undefined are dropped).

A metric with an empty denominator (e.g. PPV when nothing is called positive) is NaN
with an :class:`~thyromics.evaluate._checks.UndefinedMetricWarning`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

from thyromics.evaluate._checks import as_binary, as_scores, warn_undefined

__all__ = ["METRICS", "wilson_ci", "confusion_counts", "metrics_at_threshold", "metrics_from_counts"]

#: Metric names returned by :func:`metrics_at_threshold`, in display order.
METRICS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")

_WILSON = "wilson"


def wilson_ci(x: int, n: int, *, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for ``x`` successes out of ``n`` (NaN bounds if ``n == 0``)."""
    if n <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(1 - alpha / 2))
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def confusion_counts(y_true: ArrayLike, score: ArrayLike, threshold: float) -> dict[str, int]:
    """``{"tp", "fp", "tn", "fn"}`` with positive = ``score >= threshold``."""
    y = as_binary(y_true)
    s = as_scores(score, n=y.size)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _f1_bootstrap(c: dict[str, int], alpha: float, n_boot: int, seed: int) -> tuple[float, float]:
    n = sum(c.values())
    if n == 0 or 2 * c["tp"] + c["fp"] + c["fn"] == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    freq = np.array([c["tp"], c["fp"], c["fn"], c["tn"]], dtype=float) / n
    draws = rng.multinomial(int(round(n)), freq, size=n_boot)
    den = 2 * draws[:, 0] + draws[:, 1] + draws[:, 2]
    ok = den > 0
    f1 = 2 * draws[ok, 0] / den[ok]
    lo, hi = np.quantile(f1, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def metrics_at_threshold(y_true: ArrayLike, score: ArrayLike, threshold: float, *,
                         alpha: float = 0.05, n_boot: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Accuracy, sensitivity, specificity, PPV, NPV and F1 at ``threshold``, with CIs.

    Parameters
    ----------
    y_true, score : arrays of shape (N,)
        Binary labels (1 = positive) and scores on any scale.
    threshold : float
        Fixed threshold on the score scale (positive when ``score >= threshold``); it
        is applied as given, never re-chosen on these data.
    alpha : float
        1 - confidence level of every CI.
    n_boot, seed : int
        Bootstrap draws and seed of the F1 interval.

    Returns
    -------
    dict
        ``{name: {"value", "ci": [lo, hi], "method", "x", "n"}}`` for each name in
        :data:`METRICS` (``x``/``n``: numerator/denominator; for F1 ``x = 2 TP`` and
        ``n = 2 TP + FP + FN``), plus ``"counts": {"tp", "fp", "tn", "fn"}``.
    """
    c = confusion_counts(y_true, score, threshold)
    return metrics_from_counts(c, alpha=alpha, n_boot=n_boot, seed=seed, at=f"threshold {threshold!r}")


def metrics_from_counts(c: dict[str, float], *, alpha: float = 0.05, n_boot: int = 2000,
                        seed: int = 0, at: str = "these predictions") -> dict[str, dict]:
    """The metrics of :func:`metrics_at_threshold` from confusion counts.

    ``c`` holds ``tp, fp, tn, fn``. They are usually integers; cross-validation repeated
    ``R`` times passes the confusion matrix averaged over the repeats (each case counted
    once), whose cells may be fractional: the Wilson interval is then computed with the
    averaged numerator and denominator, i.e. as if each case had been predicted once.
    """
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    fractions = {
        "accuracy": (tp + tn, tp + tn + fp + fn),
        "sensitivity": (tp, tp + fn),
        "specificity": (tn, tn + fp),
        "ppv": (tp, tp + fp),
        "npv": (tn, tn + fn),
    }
    out: dict[str, dict] = {}
    for name, (x, n) in fractions.items():
        if n == 0:
            warn_undefined(f"{name} is undefined at {at}: its denominator is 0.")
        value = x / n if n else float("nan")
        lo, hi = wilson_ci(x, n, alpha=alpha)
        out[name] = {"value": value, "ci": [lo, hi], "method": _WILSON, "x": x, "n": n}
    den = 2 * tp + fp + fn
    if den == 0:
        warn_undefined(f"f1 is undefined at {at}: no positives and no predicted positives.")
    lo, hi = _f1_bootstrap(c, alpha, n_boot, seed)
    out["f1"] = {"value": 2 * tp / den if den else float("nan"), "ci": [lo, hi],
                 "method": f"bootstrap_percentile(n_boot={n_boot}, seed={seed})", "x": 2 * tp, "n": den}
    out["counts"] = dict(c)
    return out
