"""One score (or a pair of scores) summarised as the JSON blocks of ``thyromics evaluate``.

The blocks are plain dicts of JSON types; undefined numbers are ``None`` (``null``),
each announced by an :class:`~thyromics.evaluate._checks.UndefinedMetricWarning`.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from thyromics.errors import InputError, did_you_mean
from thyromics.evaluate._checks import warn_undefined
from thyromics.evaluate.calibration import calibration
from thyromics.evaluate.metrics import METRICS, metrics_at_threshold
from thyromics.evaluate.roc import bootstrap_auc_ci, delong_ci, delong_test

__all__ = ["score_block", "auc_block", "calibration_block", "comparisons", "holm", "jsonable",
           "check_columns"]


def jsonable(obj: Any) -> Any:
    """Recursively turn numpy scalars into Python ones and NaN/inf into ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _both(y: NDArray[np.int8]) -> bool:
    return 0 < int(y.sum()) < y.size


def calibration_block(y: NDArray[np.int8], s: NDArray[np.float64], *, alpha: float,
                      sample: str = "development", probabilities: bool = True) -> dict[str, Any]:
    """The calibration keys of a score block (``None`` with ``calibration_note`` when undefined).

    ``brier``; ``calibration_in_the_large`` (offset model, Van Calster 2016);
    ``val_prob_intercept`` and ``calibration_slope`` (``rms::val.prob``'s "Intercept" and
    "Slope"); ``hosmer_lemeshow`` (df = groups - 2 on ``sample="development"``, groups on
    ``"validation"``). See :mod:`thyromics.evaluate.calibration`.
    """
    keys = ("brier", "calibration_in_the_large", "val_prob_intercept", "calibration_slope",
            "hosmer_lemeshow")
    in_unit = bool(s.size and s.min() >= 0 and s.max() <= 1)
    if probabilities and in_unit and _both(y):
        cal = calibration(y, s, alpha=alpha, sample=sample)  # type: ignore[arg-type]
        return {"brier": cal["brier"], "calibration_in_the_large": cal["calibration_in_the_large"],
                "val_prob_intercept": cal["val_prob_intercept"], "calibration_slope": cal["slope"],
                "hosmer_lemeshow": cal["hosmer_lemeshow"], "calibration_note": None}
    why = ("lower scores mean positive: the score is not a probability of the positive class"
           if not probabilities else "scores are not probabilities in [0, 1]" if not in_unit
           else "a single class")
    return {**{k: None for k in keys}, "calibration_note": f"no calibration: {why}"}


def auc_block(y: NDArray[np.int8], s: NDArray[np.float64], *, bootstrap: int | None, seed: int,
              alpha: float) -> dict[str, Any]:
    """``auc, auc_ci, auc_ci_method, auc_se, auc_ci_note`` (DeLong, or bootstrap with DeLong beside)."""
    out: dict[str, Any] = {}
    if _both(y):
        res = (bootstrap_auc_ci(y, s, n_boot=bootstrap, seed=seed, alpha=alpha)
               if bootstrap else delong_ci(y, s, alpha=alpha))
        out.update(auc=res.auc, auc_ci=[res.ci_low, res.ci_high], auc_ci_method=res.method, auc_se=res.se,
                   auc_ci_note=res.note)
        if bootstrap:
            d = delong_ci(y, s, alpha=alpha)
            out["auc_ci_delong"] = [d.ci_low, d.ci_high]
            out["auc_n_boot"] = bootstrap
    else:
        warn_undefined(f"AUC undefined on {y.size} case(s) of a single class; reported as null.")
        out.update(auc=None, auc_ci=[None, None], auc_ci_method="bootstrap" if bootstrap else "delong",
                   auc_se=None, auc_ci_note="AUC undefined: a single class")
    return out


def score_block(y: NDArray[np.int8], s: NDArray[np.float64], threshold: float, *, threshold_rule: Any,
                bootstrap: int | None, seed: int, alpha: float, sign: int = 1,
                calibration_sample: str = "development",
                threshold_note: str | None = None) -> dict[str, Any]:
    """Everything reported for one score on one set of cases.

    ``s`` and ``threshold`` are on the *effective* scale, where higher means positive:
    the score itself (``sign = 1``, direction "higher") or its negative (``sign = -1``,
    direction "lower"); the threshold is reported on the score's own scale
    (``sign * threshold``) with ``positive_when`` saying which side is positive.
    ``threshold`` is applied as given (positive when ``effective score >= threshold``).
    AUC and its CI need both classes; without them they are ``None`` with a warning.
    A constant score has AUC 0.5 and a ``None`` CI; perfect separation has AUC 1 and a
    ``None`` CI (not estimable). ``auc_ci_note`` and ``threshold_note`` say why a CI or
    threshold is ``None`` or how it was chosen. Calibration needs probabilities of the
    positive class in [0, 1] (so direction "higher"); otherwise ``None`` and
    ``calibration_note`` says why.
    """
    out: dict[str, Any] = {"n": int(y.size), "n_pos": int(y.sum())}
    out.update(auc_block(y, s, bootstrap=bootstrap, seed=seed, alpha=alpha))
    out["direction"] = "higher" if sign > 0 else "lower"
    out["threshold"] = float(sign * threshold)
    out["threshold_rule"] = threshold_rule
    out["positive_when"] = "score >= threshold" if sign > 0 else "score <= threshold"
    notes = [threshold_note] if threshold_note else []
    if not math.isfinite(threshold):
        notes.append(f"no finite threshold ({threshold}): every case is called "
                     f"{'negative' if threshold > 0 else 'positive'}"
                     + (" (the score is constant)" if s.size and s.min() == s.max() else ""))
    out["threshold_note"] = "; ".join(notes) or None
    m = metrics_at_threshold(y, s, threshold, alpha=alpha, n_boot=bootstrap or 2000, seed=seed)
    for name in METRICS:
        out[name] = {"value": m[name]["value"], "ci": m[name]["ci"], "method": m[name]["method"]}
    out["counts"] = m["counts"]
    out.update(calibration_block(y, s, alpha=alpha, sample=calibration_sample, probabilities=sign > 0))
    return out


def comparisons(y: NDArray[np.int8], scores: dict[str, NDArray[np.float64]], *,
                alpha: float) -> list[dict[str, Any]]:
    """Paired DeLong test of every pair of scores (in the given order: a before b)."""
    out = []
    for a, b in combinations(scores, 2):
        if not _both(y):
            warn_undefined(f"DeLong test of {a!r} vs {b!r} undefined on a single class; reported as null.")
            out.append({"a": a, "b": b, "method": "delong", "paired": True, "auc_a": None, "auc_b": None,
                        "auc_diff": None, "auc_diff_ci": [None, None], "z": None, "p": None})
            continue
        r = delong_test(y, scores[a], scores[b], alpha=alpha)
        out.append({"a": a, "b": b, "method": "delong", "paired": True, "auc_a": r.auc_a, "auc_b": r.auc_b,
                    "auc_diff": r.auc_diff, "auc_diff_ci": [r.ci_low, r.ci_high], "z": r.z, "p": r.p})
    return out


def holm(p: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (Holm 1979), as R ``p.adjust(p, "holm")``.

    ``None``/NaN entries are left out of the family and stay ``None``.
    """
    idx = [i for i, v in enumerate(p) if v is not None and math.isfinite(v)]
    out: list[float | None] = [None] * len(p)
    m = len(idx)
    order = sorted(idx, key=lambda i: p[i])  # type: ignore[arg-type, return-value]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p[i])))  # type: ignore[arg-type]
        out[i] = running
    return out


def check_columns(columns: list[str], wanted: list[str], *, what: str) -> None:
    """Raise :class:`InputError` naming missing columns and the closest present ones."""

    for col in wanted:
        if col not in columns:
            hint = did_you_mean(col, columns, n=3)
            raise InputError(f"{what} column {col!r} not found; the table has {len(columns)} columns.{hint}")
