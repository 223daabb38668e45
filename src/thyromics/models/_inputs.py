"""Checks of the model stage's inputs (private): the outcome, and the cases of ``predict``.

* The outcome follows :func:`thyromics.evaluate._checks.as_binary`, the rule of
  ``thyromics evaluate``: 0/1 numbers or booleans as they are; two other values
  (``benign`` / ``Malignant``) only with the positive one named, never by sort order.
* New cases must carry every column the saved model uses: a used column empty in every
  case, or holding text where the model expects numbers, would give each case the same
  imputed value; it is refused with the columns named. Empty cells in some cases only
  are imputed by the model, as in training.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["binary_outcome", "used_inputs", "check_new_cases"]


def binary_outcome(values: pd.Series, label: str, positive: Any = None) -> tuple[np.ndarray, Any]:
    """The labelled outcome as 0/1 and its positive class.

    Parameters
    ----------
    values : Series
        The label column, missing values already dropped.
    label : str
        Its name, for messages.
    positive : optional
        The positive class; required unless the values are 0/1 or booleans.

    Returns
    -------
    (y, positive_class)
        ``y`` int array (1 = positive); ``positive_class`` the value of ``values`` that
        is positive (``1`` or ``True`` when ``positive`` is None).

    Raises
    ------
    InputError
        Text or other values without ``positive`` (the values found are listed), not
        two values, ``positive`` not among them, or a single class.
    """
    from thyromics.evaluate._checks import as_binary, need_both_classes, positive_level

    name = f"label column {label!r}"
    fix = ("Name the positive class with --positive LABEL (API: positive=LABEL), or recode "
           "the column as 0 (negative) / 1 (positive).")
    arr = values.to_numpy()
    y = as_binary(arr, name=name, positive=positive, fix=fix).astype(int)
    need_both_classes(y, what=f"modelling ({name})")
    if positive is not None:
        return y, positive_level(arr, positive, name=name)
    return y, (True if pd.api.types.is_bool_dtype(values) else 1)


def used_inputs(pipeline, numeric: Sequence[str], categorical: Sequence[str]) -> list[str]:
    """Input columns of a fitted pipeline that reach its classifier (after selection)."""
    from thyromics.models.pipeline import transformed_feature_names

    used = set(transformed_feature_names(pipeline))
    out = [c for c in numeric if c in used]
    out += [c for c in categorical if any(u.startswith(f"{c}_") for u in used)]
    return out


def check_new_cases(table: pd.DataFrame, pipeline, meta: dict[str, Any], *,
                    id_column: str = "case_id") -> None:
    """Refuse new cases the saved model cannot score apart; warn on repeated case ids.

    Raises
    ------
    InputError
        A column the model uses is empty in every case, or holds text where the model
        expects numbers (the columns, and the text found, are named).
    """
    numeric, categorical = meta["numeric_columns"], meta["categorical_columns"]
    used = used_inputs(pipeline, numeric, categorical)
    problems = [f"{c!r} is empty in all {len(table)} case(s)" for c in used if table[c].isna().all()]
    for c in (c for c in used if c in numeric):
        given = table[c].dropna()
        text = given[pd.to_numeric(given, errors="coerce").isna()]
        if len(text):
            found = ", ".join(repr(str(v)) for v in pd.unique(text.astype(str))[:3])
            problems.append(f"{c!r} holds text where numbers are expected in {len(text)} case(s): "
                            f"{found}")
    if problems:
        raise InputError(
            f"model {meta['model_id']!r} uses column(s) that cannot be scored: "
            f"{'; '.join(problems)}. Every case would get the same imputed value. Give these "
            "columns as numbers, extracted with the same settings as the training table "
            "(cells empty in some cases only are imputed).")
    if id_column in table.columns:
        ids = table[id_column].astype(str)
        dup = ids[ids.duplicated(keep=False)]
        if len(dup):
            warnings.warn(f"{dup.nunique()} {id_column} value(s) appear more than once among the "
                          f"{len(table)} new cases, e.g. {sorted(dup.unique())[:5]}: every row is "
                          "scored, so the predictions repeat them. Give each case one row.",
                          ThyromicsWarning, stacklevel=3)
