"""Evaluation per subgroup (e.g. lesion diameter >= 10 mm, 5-9 mm, <= 4 mm).

Every subgroup gets the same blocks as the whole set (AUC with CI, metrics with CIs,
calibration, paired DeLong comparisons). The thresholds are those chosen on the whole
set (or carried from another set) and are applied unchanged inside each subgroup; they
are never re-chosen on the subgroup. A subgroup holding a single class reports its
AUC-based numbers as ``null`` with an ``UndefinedMetricWarning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from thyromics.errors import InputError
from thyromics.evaluate.summary import comparisons, score_block

__all__ = ["bin_column", "evaluate_subgroups", "MISSING", "missing_key"]

#: Key of the subgroup of rows whose subgroup value is missing (NaN / None). When a
#: real value is literally this text, the missing rows get ``"missing (no value)"`` (and
#: more parentheses if needed): a value "missing" is never merged with the NaN rows.
MISSING = "missing"


def missing_key(values: set[str]) -> str:
    """A key for the missing rows that no real subgroup value uses."""
    key = MISSING
    while key in values:
        key = f"{key} (no value)"
    return key


def bin_column(values: ArrayLike, edges: Sequence[float], labels: Sequence[str] | None = None,
               *, right: bool = False) -> pd.Series:
    """Cut a continuous column into labelled subgroups.

    ``bin_column(diam, [0, 5, 10, np.inf], ["<5 mm", "5-9 mm", ">=10 mm"])`` puts
    ``[0, 5)``, ``[5, 10)`` and ``[10, inf)`` (``right=False``, left-closed) in
    three groups. Missing values stay missing.
    """
    if labels is not None and len(labels) != len(edges) - 1:
        raise InputError(f"bin_column: {len(edges)} edges make {len(edges) - 1} bins, "
                         f"but {len(labels)} labels were given.")
    cut = pd.cut(pd.Series(values, dtype=float), bins=list(edges), labels=labels, right=right,
                 include_lowest=True)
    return cut.astype(object).where(cut.notna(), None)


def evaluate_subgroups(y: NDArray[np.int8], scores: dict[str, NDArray[np.float64]],
                       groups: ArrayLike, thresholds: dict[str, float], *, threshold_rules: dict[str, Any],
                       bootstrap: int | None = None, seed: int = 0, alpha: float = 0.05,
                       signs: dict[str, int] | None = None,
                       calibration_sample: str = "development") -> dict[str, Any]:
    """Blocks per subgroup value: ``{value: {"n", "n_pos", "scores", "comparisons"}}``.

    Values are sorted; rows with a missing group value form the group ``"missing"``
    (:func:`missing_key` when a real value is "missing"). ``scores`` and ``thresholds``
    are on the effective scale (higher = positive); ``signs`` gives each score's
    direction (+1 higher, -1 lower) for the reported thresholds.
    """
    g = pd.Series(np.asarray(groups, dtype=object))
    missing = g.isna().to_numpy()
    text = g.astype(str).to_numpy()
    values = {str(v) for v in text[~missing]}
    keys = sorted(values, key=_natural)
    key_missing = missing_key(values)
    if missing.any():
        keys.append(key_missing)
    signs = signs or {}
    out: dict[str, Any] = {}
    for key in keys:
        sel = missing if key == key_missing and missing.any() else (~missing & (text == key))
        ys = y[sel]
        sub = {name: s[sel] for name, s in scores.items()}
        out[key] = {
            "n": int(sel.sum()),
            "n_pos": int(ys.sum()),
            "scores": {name: score_block(ys, s, thresholds[name], threshold_rule=threshold_rules[name],
                                         bootstrap=bootstrap, seed=seed, alpha=alpha,
                                         sign=signs.get(name, 1), calibration_sample=calibration_sample)
                       for name, s in sub.items()},
            "comparisons": comparisons(ys, sub, alpha=alpha),
        }
    return out


def _natural(key: str) -> tuple[int, float | str]:
    try:
        return (0, float(key))
    except ValueError:
        return (1, key)
