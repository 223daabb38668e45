"""Input checks shared by the evaluation modules (private).

Every public function of :mod:`thyromics.evaluate` validates its inputs here, so the
error messages are the same everywhere:

* truth must be binary (0/1, or booleans, or two distinct values given as 0/1-like
  numbers); anything else raises :class:`~thyromics.errors.InputError` naming the
  values found. Two other values (``benign`` / ``Malignant``) are accepted only with
  the positive one named (``positive=``): no class is ever chosen by sort order;
* scores must be finite numbers; NaN or infinite scores raise naming the rows
  (0-based positions, or the index labels of a DataFrame when given);
* a metric that needs both classes raises :class:`~thyromics.errors.InputError`
  when only one class is present. Functions that report many numbers at once
  (:func:`thyromics.evaluate.api.evaluate_scores` on subgroups) catch that and write
  ``null`` instead, with an :class:`UndefinedMetricWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["UndefinedMetricWarning", "as_binary", "as_scores", "need_both_classes", "warn_undefined",
           "positive_level"]

_RECODE = "Recode the outcome column as 0 (negative) / 1 (positive)."


class UndefinedMetricWarning(ThyromicsWarning):
    """A metric is undefined for these data (e.g. PPV with no predicted positive).

    The value is reported as NaN (``null`` in JSON) and this warning says why.
    """


def warn_undefined(message: str) -> None:
    """Emit an :class:`UndefinedMetricWarning` pointing at the caller's caller."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def _row_names(bad: NDArray[np.bool_], index: Sequence[object] | None, limit: int = 10) -> str:
    pos = np.flatnonzero(bad)
    names = [str(index[i]) if index is not None else str(i) for i in pos[:limit]]
    more = f" and {pos.size - limit} more" if pos.size > limit else ""
    return ", ".join(names) + more


def positive_level(y_true: ArrayLike, positive: object, *, name: str = "truth") -> object:
    """The value of ``y_true`` that is ``positive`` (equal as given, as text or as a number).

    ``y_true`` (no missing values) must hold exactly two distinct values, one of them
    ``positive``; otherwise :class:`InputError` lists the values found.
    """
    levels = sorted({v for v in np.asarray(y_true).tolist()}, key=str)

    def same(v: object) -> bool:
        if v == positive or str(v) == str(positive):
            return True
        try:
            return float(v) == float(positive)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    if len(levels) != 2:
        raise InputError(f"{name}: expected exactly two labels, found {len(levels)}: {levels[:10]}. "
                         "Recode the outcome to two labels.")
    match = [v for v in levels if same(v)]
    if len(match) != 1:
        raise InputError(f"{name}: positive class {positive!r} is not one of its labels {levels}; "
                         "name one of them.")
    return match[0]


def as_binary(y_true: ArrayLike, *, name: str = "truth", index: Sequence[object] | None = None,
              positive: object = None, fix: str = _RECODE) -> NDArray[np.int8]:
    """Return ``y_true`` as an int8 array of 0/1.

    Accepts booleans or numbers equal to 0 and 1 (``1.0`` is fine), or, when
    ``positive`` names one of them, any two distinct values (1 where equal to
    ``positive``, see :func:`positive_level`). Missing values and any other value raise
    :class:`InputError` naming the rows and the values found, ending with ``fix``.
    """
    arr = np.asarray(y_true)
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array of 0/1 labels, found shape {arr.shape}.")
    if positive is not None:
        import pandas as pd

        _no_missing(np.asarray(pd.isna(arr), dtype=bool), name, index)
        return (arr == positive_level(arr, positive, name=name)).astype(np.int8)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    try:
        num = arr.astype(float)
    except (TypeError, ValueError) as e:
        found = sorted({str(v) for v in arr.tolist()})[:10]
        raise InputError(f"{name}: expected binary labels 0/1, found non-numeric values {found}. "
                         f"{fix}") from e
    _no_missing(np.isnan(num), name, index)
    bad = ~np.isin(num, (0.0, 1.0))
    if bad.any():
        found = sorted(set(np.unique(num[bad]).tolist()))[:10]
        raise InputError(
            f"{name}: expected binary labels 0/1, found other values {found} at row(s) "
            f"{_row_names(bad, index)}. {fix}"
        )
    return num.astype(np.int8)


def _no_missing(missing: NDArray[np.bool_], name: str, index: Sequence[object] | None) -> None:
    if missing.any():
        raise InputError(
            f"{name}: {int(missing.sum())} missing label(s) at row(s) {_row_names(missing, index)}. "
            "Drop those rows or fill the outcome before evaluating."
        )


def as_scores(score: ArrayLike, *, n: int | None = None, name: str = "score",
              index: Sequence[object] | None = None) -> NDArray[np.float64]:
    """Return ``score`` as a finite float64 array; NaN/inf raise naming the rows."""
    try:
        arr = np.asarray(score, dtype=float)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: expected numeric scores, found non-numeric values.") from e
    if arr.ndim != 1:
        raise InputError(f"{name}: expected a 1-D array of scores, found shape {arr.shape}.")
    if n is not None and arr.size != n:
        raise InputError(f"{name}: expected {n} scores (one per label), found {arr.size}.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(
            f"{name}: {int(bad.sum())} missing or infinite score(s) at row(s) "
            f"{_row_names(bad, index)}. Remove those rows or fix the predictions."
        )
    return arr


def need_both_classes(y: NDArray[np.int8], *, what: str) -> tuple[int, int]:
    """Return ``(n_pos, n_neg)``; raise :class:`InputError` if a class is absent."""
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "positive (1)" if n_neg == 0 else "negative (0)"
        raise InputError(
            f"{what} needs both classes, but all {y.size} labels are {only}. "
            "Evaluate on a set that holds cases of both classes."
        )
    return n_pos, n_neg
