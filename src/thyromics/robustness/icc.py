"""Per-feature ICC over perturbations, and the stable / unstable flag.

The perturbed versions of a case are its "raters": for ``n`` cases each perturbed ``k``
times, every feature gives an ``n x k`` table and its ICC (Zwanenburg et al., Sci Rep
2019;9:614: ICC(1,1); ICC(2,1) and ICC(3,1) on request), computed by
:mod:`thyromics.review.icc` (checked against R's ``psych::ICC``). A feature is stable
when its ICC (or, with ``criterion="lower"``, the lower bound of its 95 % interval) is
at least the threshold (0.9 by default, the paper's).

Missing values are never filled: a feature uses the cases that have a finite value in
every perturbation; a feature left with fewer than 2 such cases, or with no variance,
has no ICC (NaN, with its reason) and is flagged unstable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from thyromics.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["feature_icc", "stable_features", "ratings_cube", "PERTURBATION_COLUMN"]

#: Column of the long perturbed table naming the repetition of a row.
PERTURBATION_COLUMN = "perturbation"


def ratings_cube(long: "pd.DataFrame", features: Sequence[str], *,
                 cases: Sequence[str] | None = None) -> tuple[np.ndarray, list[str], list[int]]:
    """``(n cases, k perturbations, m features)`` from the long table.

    Parameters
    ----------
    long : DataFrame
        One row per (case, perturbation): ``case_id``, :data:`PERTURBATION_COLUMN` and
        the feature columns.
    features : sequence of str
    cases : sequence of str, optional
        Only these cases (e.g. a training fold's); the others are ignored.

    Returns
    -------
    (cube, case_ids, perturbations)
        Cases without a row for some perturbation (a failed extraction) are left out;
        values are NaN where a feature is missing.
    """
    need = {"case_id", PERTURBATION_COLUMN}
    if not need <= set(long.columns):
        raise InputError(f"the perturbed table needs the columns {sorted(need)}; found "
                         f"{list(long.columns[:8])}. Make it with `thyromics robustness`.")
    frame = long
    if cases is not None:
        frame = frame[frame["case_id"].astype(str).isin({str(c) for c in cases})]
    reps = sorted(int(p) for p in frame[PERTURBATION_COLUMN].unique())
    ids = frame["case_id"].astype(str)
    counts = ids.value_counts()
    complete = sorted(c for c, n in counts.items() if n == len(reps))
    frame = frame[ids.isin(complete)].assign(case_id=lambda d: d["case_id"].astype(str))
    frame = frame.sort_values(["case_id", PERTURBATION_COLUMN], kind="stable")
    values = frame[list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    cube = values.reshape(len(complete), len(reps), len(features))
    return cube, complete, reps


def feature_icc(long: "pd.DataFrame", features: Sequence[str], *,
                kinds: Sequence[str] = ("icc1",), cases: Sequence[str] | None = None,
                alpha: float = 0.05) -> "pd.DataFrame":
    """One row per feature: ``feature, filter, family, n_cases`` and, per ICC form,
    ``<kind>, <kind>_lower, <kind>_upper`` (``1 - alpha`` interval), and ``reason``
    (why a value is missing; empty otherwise).
    """
    import pandas as pd

    from thyromics.features.catalogue import parse_column
    from thyromics.review.icc import icc

    cube, _, reps = ratings_cube(long, features, cases=cases)
    m = len(features)
    out: dict[str, np.ndarray] = {}
    n_cases = np.zeros(m, dtype=int)
    reason = np.full(m, "", dtype=object)
    for kind in kinds:
        for suffix in ("", "_lower", "_upper"):
            out[f"{kind}{suffix}"] = np.full(m, np.nan)
    if len(reps) < 2:
        reason[:] = f"{len(reps)} perturbation(s): an ICC needs at least 2"
    else:
        finite = np.isfinite(cube).all(axis=1)  # (n, m): case usable for that feature
        patterns: dict[bytes, list[int]] = {}
        for j in range(m):
            patterns.setdefault(finite[:, j].tobytes(), []).append(j)
        for key, cols in patterns.items():  # features missing in the same cases together
            rows = np.frombuffer(key, dtype=bool)
            n_cases[cols] = int(rows.sum())
            if rows.sum() < 2:
                reason[cols] = f"{int(rows.sum())} case(s) with a value in every perturbation"
                continue
            sub = cube[rows][:, :, cols]
            for kind in kinds:
                res = icc(sub, kind, alpha=alpha)
                out[kind][cols] = res["icc"]
                out[f"{kind}_lower"][cols] = res["lower"]
                out[f"{kind}_upper"][cols] = res["upper"]
            undefined = np.isnan(out[kinds[0]][cols])
            for j, u in zip(cols, undefined):
                if u:
                    reason[j] = "no variance across cases and perturbations"
    parsed = [parse_column(f) for f in features]
    table = pd.DataFrame({"feature": list(features), "filter": [p[0] for p in parsed],
                          "family": [p[1] for p in parsed], "n_cases": n_cases,
                          "n_perturbations": len(reps), **out, "reason": reason})
    return table


def stable_features(icc_table: "pd.DataFrame", *, threshold: float = 0.9, kind: str = "icc1",
                    criterion: Literal["icc", "lower"] = "icc") -> np.ndarray:
    """Boolean per row: the ICC (``criterion="icc"``) or its lower bound (``"lower"``) is
    at least ``threshold``; a missing ICC is never stable."""
    col = kind if criterion == "icc" else f"{kind}_lower"
    if col not in icc_table.columns:
        raise InputError(f"the ICC table has no column {col!r} (ICC forms computed: "
                         f"{[c for c in icc_table.columns if c.startswith('icc') and '_' not in c]})")
    values = icc_table[col].to_numpy(dtype=float)
    return np.where(np.isnan(values), False, values >= threshold)
