"""Rows of Table 1: the column layout, each variable's summaries and its tests.

Private to :mod:`thyromics.stats.table1`, which validates the input, chooses the
variables, writes the p-values into the rows and assembles the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError
from thyromics.stats import _htest, _render

__all__ = ["OVERALL", "Layout", "Tests", "layout", "label", "levels", "categorical_rows",
           "continuous_rows"]

OVERALL = "Overall"
_SEP = " | "
_NS = _render.NS


def label(v: object) -> str:
    """A level as printed: integer-valued floats without their ``.0``."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def levels(s: pd.Series) -> list:
    """Sorted levels: numerically for numbers (also numbers stored as text), else as text."""
    vals = s.dropna().unique().tolist()
    try:
        return sorted(vals)
    except TypeError:
        pass
    try:
        return sorted(vals, key=lambda v: float(v))
    except (TypeError, ValueError):
        return sorted(vals, key=str)


@dataclass(frozen=True, eq=False)
class Layout:
    """The groups and strata of a Table 1, the names of their columns and their rows.

    ``strata`` is ``[None]`` when the table is not stratified.
    """

    data: pd.DataFrame
    group: str
    by: str | None
    groups: list
    strata: list

    @property
    def cells(self) -> list[tuple[Any, Any]]:
        """Every ``(stratum, group)``, stratum by stratum."""
        return [(b, g) for b in self.strata for g in self.groups]

    def col(self, b: Any, name: str) -> str:
        """Column ``name`` of stratum ``b`` (``name`` itself when not stratified)."""
        return name if b is None else f"{self.by}{_NS}{label(b)}{_SEP}{name}"

    def gcol(self, b: Any, g: Any) -> str:
        """Column of group ``g`` in stratum ``b``."""
        return self.col(b, f"{self.group}{_NS}{label(g)}")

    def subset(self, b: Any, g: Any = None) -> pd.DataFrame:
        """Rows of stratum ``b`` (all when None) and group ``g`` (all when None)."""
        m = np.ones(len(self.data), dtype=bool)
        if b is not None:
            m &= (self.data[self.by] == b).to_numpy()
        if g is not None:
            m &= (self.data[self.group] == g).to_numpy()
        return self.data.loc[m]

    def columns(self) -> list[str]:
        """Groups (per stratum), Overall, p and test per stratum, Missing.

        Raises InputError when two of them would have the same name.
        """
        columns = ["variable", "level"] + [self.gcol(b, g) for b, g in self.cells] + [OVERALL]
        for b in self.strata:
            columns += [self.col(b, "p"), self.col(b, "test")]
        columns.append("Missing")
        if len(set(columns)) != len(columns):
            dup = sorted({c for c in columns if columns.count(c) > 1})
            raise InputError(f"Table 1 columns {dup} would repeat: levels of {self.group!r}"
                             + (f" or {self.by!r}" if self.by else "") + " contain ' | ' or "
                             "' = ' in a way that makes two columns the same; rename those levels")
        return columns

    def n_row(self) -> dict:
        """The first row: the number of rows of every group and overall."""
        row = {"variable": "n", "level": ""}
        for b, g in self.cells:
            row[self.gcol(b, g)] = str(len(self.subset(b, g)))
        row[OVERALL] = str(len(self.data))
        return row


def layout(data: pd.DataFrame, group: str, by: str | None) -> Layout:
    """The layout of ``data`` (complete in ``group`` and ``by``); at least two groups."""
    groups = levels(data[group])
    strata = levels(data[by]) if by else [None]
    if len(groups) < 2:
        raise InputError(f"group column {group!r} has {len(groups)} level(s) "
                         f"({groups}); Table 1 needs at least two groups to compare")
    return Layout(data=data, group=group, by=by, groups=groups, strata=strata)


#: The test of each stratum of a variable: ``[(stratum, result), ...]``.
Tests = list[tuple[Any, _htest.TestResult]]


def categorical_rows(var: str, s: pd.Series, n_missing: int, lay: Layout, *,
                     min_expected: float, seed: int, d: int) -> tuple[list[dict], Tests]:
    """A head row then one ``n (%)`` row per level, and the test of each stratum."""
    lvls = levels(s)
    head = {"variable": var, "level": "", "Missing": str(n_missing)}
    level_rows = [{"variable": var, "level": label(lv)} for lv in lvls]
    for b, g in lay.cells:
        x = s.loc[lay.subset(b, g).index].dropna()
        for r, lv in zip(level_rows, lvls):
            k = int((x == lv).sum())
            pct = 100.0 * k / len(x) if len(x) else float("nan")
            r[lay.gcol(b, g)] = f"{k} ({pct:.{d}f})"
    x_all = s.dropna()
    for r, lv in zip(level_rows, lvls):
        k = int((x_all == lv).sum())
        r[OVERALL] = f"{k} ({100.0 * k / len(x_all):.{d}f})" if len(x_all) else "-"
    tests = []
    for b in lay.strata:
        sub = lay.subset(b)
        tab = pd.crosstab(s.loc[sub.index], sub[lay.group]).reindex(
            index=lvls, columns=lay.groups, fill_value=0).to_numpy()
        tests.append((b, _htest.categorical_test(tab, min_expected=min_expected, seed=seed)))
    return [head] + level_rows, tests


def _cont_summary(x: np.ndarray, normal: bool, d: int) -> str:
    if x.size == 0:
        return "-"
    if normal:
        sd = np.std(x, ddof=1) if x.size > 1 else float("nan")
        return f"{np.mean(x):.{d}f} ± {sd:.{d}f}"
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return f"{med:.{d}f} [{q1:.{d}f}, {q3:.{d}f}]"


def continuous_rows(var: str, s: pd.Series, n_missing: int, lay: Layout, *, nonnormal: bool,
                    alpha_normality: float, alpha_levene: float,
                    d: int) -> tuple[dict, bool, Tests]:
    """The row of a numeric variable, whether it was taken as normal, and its tests.

    Normal (mean ± SD, parametric test) unless ``nonnormal`` or Shapiro-Wilk rejects
    normality at ``alpha_normality`` in any cell; otherwise median [IQR] and a rank test.
    """
    x_of = {(b, g): s.loc[lay.subset(b, g).index].dropna().to_numpy(dtype=float)
            for b, g in lay.cells}
    if nonnormal:
        normal = False
    else:
        normal, _ = _htest.is_normal(list(x_of.values()), alpha_normality)
    row = {"variable": var, "level": "mean ± SD" if normal else "median [IQR]",
           "Missing": str(n_missing)}
    for (b, g), x in x_of.items():
        row[lay.gcol(b, g)] = _cont_summary(x, normal, d)
    row[OVERALL] = _cont_summary(s.dropna().to_numpy(dtype=float), normal, d)
    tests = [(b, _htest.continuous_test([x_of[(b, g)] for g in lay.groups], normal=normal,
                                        alpha_levene=alpha_levene))
             for b in lay.strata]
    return row, normal, tests
