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

from thyromics.errors import InputError
from thyromics.evaluate._checks import warn_undefined
from thyromics.evaluate.calibration import calibration
from thyromics.evaluate.metrics import METRICS, metrics_at_threshold
from thyromics.evaluate.roc import bootstrap_auc_ci, delong_ci, delong_test

__all__ = ["score_block", "comparisons", "jsonable", "check_columns"]


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


def score_block(y: NDArray[np.int8], s: NDArray[np.float64], threshold: float, *, threshold_rule: Any,
                bootstrap: int | None, seed: int, alpha: float) -> dict[str, Any]:
    """Everything reported for one score on one set of cases.

    ``threshold`` is applied as given (positive when ``score >= threshold``).
    AUC and its CI need both classes; without them they are ``None`` with a warning.
    A constant score has AUC 0.5 and a ``None`` CI. ``auc_ci_note`` and
    ``threshold_note`` say why a CI or threshold is ``None`` (``None`` when defined).
    Calibration needs probabilities in [0, 1]; for other scales it is ``None`` and
    ``calibration_note`` says why.
    """
    out: dict[str, Any] = {"n": int(y.size), "n_pos": int(y.sum())}
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
    out["threshold"] = float(threshold)
    out["threshold_rule"] = threshold_rule
    out["threshold_note"] = None if math.isfinite(threshold) else (
        f"no finite threshold ({threshold}): every case is called "
        f"{'negative' if threshold > 0 else 'positive'}"
        + (" (the score is constant)" if s.size and s.min() == s.max() else ""))
    m = metrics_at_threshold(y, s, threshold, alpha=alpha, n_boot=bootstrap or 2000, seed=seed)
    for name in METRICS:
        out[name] = {"value": m[name]["value"], "ci": m[name]["ci"], "method": m[name]["method"]}
    out["counts"] = m["counts"]
    if s.size and s.min() >= 0 and s.max() <= 1 and _both(y):
        cal = calibration(y, s, alpha=alpha)
        out.update(brier=cal["brier"], calibration_intercept=cal["intercept"],
                   calibration_slope=cal["slope"], hosmer_lemeshow=cal["hosmer_lemeshow"],
                   calibration_note=None)
    else:
        why = ("scores are not probabilities in [0, 1]" if not (s.size and s.min() >= 0 and s.max() <= 1)
               else "a single class")
        out.update(brier=None, calibration_intercept=None, calibration_slope=None, hosmer_lemeshow=None,
                   calibration_note=f"no calibration: {why}")
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


def check_columns(columns: list[str], wanted: list[str], *, what: str) -> None:
    """Raise :class:`InputError` naming missing columns and the closest present ones."""
    import difflib

    for col in wanted:
        if col not in columns:
            close = difflib.get_close_matches(col, columns, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise InputError(f"{what} column {col!r} not found; the table has {len(columns)} columns.{hint}")
