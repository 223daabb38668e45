"""Table 1: characteristics of the study population by group (and cohort).

Rules (all overridable, all written into the table's footnote):

* **Variable type.** A column is *categorical* when it is not numeric (text, category,
  boolean) or when it is numeric with at most ``max_levels`` (default 10) distinct
  non-missing values; otherwise *continuous*. ``categorical=`` / ``continuous=`` force
  the type. A numeric column tabulated as categorical is named in the notes and its levels
  are sorted numerically (as R's ``factor``). When ``variables`` is not given, every
  column except ``group``/``by`` is used, leaving out *identifier-like* columns, each
  named in the notes: text with more than ``max_text_levels`` (20) distinct values, text
  unique per row, or integer-valued numbers unique per row (IDs, UIDs, paths).
* **Normality.** With ``nonnormal="auto"`` (default) a continuous variable is summarised
  as mean ± SD and tested parametrically when the Shapiro-Wilk test does not reject
  normality at ``alpha_normality`` in any group (of any ``by`` stratum); otherwise as
  median [Q1, Q3] (quartiles by linear interpolation, R's ``quantile(type = 7)``) with a
  rank test. A list makes those variables non-normal; the others follow the rule.
* **Tests** (see :mod:`thyromics.stats._htest` for the R equivalents): two groups:
  Student t-test, or Welch when Levene's test (median centre) has p < 0.05; or
  Mann-Whitney U (exact below 50 values per group without ties, else the normal
  approximation, continuity and tie corrected, as R's ``wilcox.test``). More groups:
  one-way ANOVA, or Welch's ANOVA (``oneway.test``) when Levene has p < 0.05; or
  Kruskal-Wallis. Categorical: Pearson chi-square (Yates' correction on
  2 x 2 only, as R's ``chisq.test``), or Fisher's exact test when any expected count is
  below ``min_expected_for_chi2`` (exact for 2 x c tables, Monte-Carlo with 100 000
  seeded resamples for larger or too wide ones).
* **Columns.** Group columns are named ``"<group> = <level>"`` (stratified:
  ``"<by> = <stratum> | <group> = <level>"``, and ``"<by> = <stratum> | p"``), so a group
  level called ``test``, ``p``, ``Overall``, ``Missing``, ``level`` or ``variable`` keeps
  its own column; the HTML shows them under a two-level header.
* **Missing values** are excluded from summaries and tests and counted in the
  ``Missing`` column; percentages are of the non-missing values in the column. Rows with
  a missing ``group`` (or ``by``) are left out of the whole table and counted in the
  notes.

``tableone`` (installed) was checked and is used by the tests as an independent oracle
for the summaries and for the tests it shares with us, but not for building the table:
it has no Levene-based Welch/Student choice, no exact Fisher test beyond 2 x 2, no
stratification by cohort and uses D'Agostino's rather than Shapiro-Wilk's normality test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from thyromics.errors import InputError, did_you_mean
from thyromics.stats import _render
from thyromics.stats import _table1_rows as R

__all__ = ["Table1", "Table1Settings", "table1", "format_p", "detect_categorical",
           "identifier_like", "read_table1_csv"]


@dataclass(frozen=True)
class Table1Settings:
    """Settings of one Table 1 (frozen, stored with the table)."""

    group: str
    by: str | None = None
    alpha_normality: float = 0.05
    alpha_levene: float = 0.05
    min_expected_for_chi2: float = 5.0
    max_levels: int = 10
    decimals: int = 1
    seed: int = 0
    nonnormal: tuple[str, ...] = ()
    max_text_levels: int = 20


@dataclass(frozen=True)
class Table1:
    """A finished Table 1.

    Attributes
    ----------
    frame : pandas.DataFrame
        The printable table (strings): ``variable``, ``level``, one column per group
        ``"<group> = <level>"`` (``"<by> = <stratum> | <group> = <level>"`` when
        stratified), ``Overall``, ``p`` and ``test`` (``"<by> = <stratum> | p"`` ... when
        stratified) and ``Missing``.
    tests : pandas.DataFrame
        One row per variable (and stratum): ``variable, stratum, kind, summary, test,
        statistic, p, note``, plus the Shapiro-Wilk decision ``normal``.
    settings : Table1Settings
    notes : tuple of str
        Rows left out, variables skipped, and the like.
    """

    frame: pd.DataFrame
    tests: pd.DataFrame
    settings: Table1Settings
    notes: tuple[str, ...] = field(default_factory=tuple)

    def footnote(self) -> str:
        """Plain-text footnote naming the summaries and the tests used."""
        return _render.footnote(self)

    def to_csv(self, path: str | Path) -> Path:
        """Write :attr:`frame` as CSV (UTF-8) and return the path.

        After the table, one empty row and then the footnote, one sentence per row in the
        ``variable`` column (tests used, rules, rows and columns left out), so the CSV
        read on its own says how its numbers were made; :func:`read_table1_csv` splits
        the two again. Beside it, ``<name>.json`` holds ``footnote``, ``notes`` and
        ``settings`` (the study report shows the table from these two files).
        """
        import json
        from dataclasses import asdict

        path = Path(path)
        foot = pd.DataFrame([[""] * self.frame.shape[1]]
                            + [[part] + [""] * (self.frame.shape[1] - 1)
                               for part in _render.footnote_parts(self)],
                            columns=self.frame.columns)
        pd.concat([self.frame, foot], ignore_index=True).to_csv(path, index=False)
        meta = {"footnote": self.footnote(), "notes": list(self.notes), "settings": asdict(self.settings)}
        path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return path

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown table followed by the footnote."""
        return _render.to_markdown(self)

    def to_html(self, title: str = "Table 1") -> str:
        """A self-contained, printable HTML page with the table and its footnote."""
        return _render.to_html(self, title=title)

    def write(self, path: str | Path) -> Path:
        """Write in the format given by the extension: ``.csv``, ``.md`` or ``.html``."""
        path = Path(path)
        ext = path.suffix.lower()
        if ext == ".csv":
            return self.to_csv(path)
        if ext in (".md", ".markdown"):
            path.write_text(self.to_markdown(), encoding="utf-8")
            return path
        if ext in (".html", ".htm"):
            path.write_text(self.to_html(), encoding="utf-8")
            return path
        raise InputError(f"cannot write Table 1 to {path}: expected an extension .csv, "
                         f".md or .html, found {ext or 'none'!r}")


def read_table1_csv(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """``(table, footnote sentences)`` of a CSV written by :meth:`Table1.to_csv`.

    The table ends at its first row with an empty ``variable`` (a real row never has
    one); older files without a footnote are returned whole.
    """
    from thyromics.io.tables import read_table

    f = read_table(path, what="the Table 1 CSV", text=True,
                   hint="Write it with `thyromics table1 ... -o table1.csv`.")
    empty = np.flatnonzero(f["variable"].eq("").to_numpy()) if "variable" in f else []
    if not len(empty):
        return f, []
    cut = int(empty[0])
    return f.iloc[:cut].reset_index(drop=True), f["variable"].iloc[cut + 1:].tolist()


def identifier_like(s: pd.Series, max_text_levels: int = 20) -> str | None:
    """Why ``s`` looks like an identifier rather than a characteristic, or None.

    Text (or boolean-free object) columns with more than ``max_text_levels`` distinct
    values or unique on every row, and integer-valued numeric columns unique on every
    row (of at least 10 non-missing values). Float measurements unique per row (a
    diameter) are not identifiers.
    """
    x = s.dropna()
    k = int(x.nunique())
    if pd.api.types.is_bool_dtype(s) or x.empty:
        return None
    if not pd.api.types.is_numeric_dtype(s):
        if k > max_text_levels:
            return f"text with {k} distinct values"
        if k == len(x) and len(x) > 2:
            return f"text unique on every row ({k} values)"
        return None
    v = x.to_numpy(dtype=float)
    if len(x) >= 10 and k == len(x) and np.all(v == np.round(v)):
        return f"integer values unique on every row ({k} values)"
    return None


def format_p(p: float) -> str:
    """Print a p-value: ``<0.001`` below 0.001, else three decimals; '' for NaN."""
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def detect_categorical(series: pd.Series, max_levels: int = 10) -> bool:
    """True when ``series`` is non-numeric, boolean, or numeric with <= ``max_levels``
    distinct non-missing values."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return True
    return series.dropna().nunique() <= max_levels


def _check_columns(frame: pd.DataFrame, names: list[str], what: str) -> None:

    for name in names:
        if name not in frame.columns:
            hint = did_you_mean(name, [str(c) for c in frame.columns], n=3)
            raise InputError(f"{what} column {name!r} is not in the table (columns: "
                             f"{', '.join(map(str, frame.columns[:30]))}).{hint}")


def table1(frame: pd.DataFrame, *, group: str, by: str | None = None,
           variables: list[str] | None = None, categorical: list[str] | None = None,
           continuous: list[str] | None = None,
           nonnormal: list[str] | Literal["auto"] | None = "auto",
           alpha_normality: float = 0.05, min_expected_for_chi2: float = 5,
           max_levels: int = 10, decimals: int = 1, seed: int = 0,
           max_text_levels: int = 20) -> Table1:
    """Build Table 1 of ``variables`` by ``group`` (optionally within each ``by`` level).

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per subject (or lesion).
    group : str
        Column whose levels are compared (e.g. the outcome ``label``).
    by : str, optional
        Stratifying column (e.g. cohort ``train``/``internal``/``external``): groups are
        shown and tested within each of its levels.
    variables : list of str, optional
        Rows of the table, in order. Default: every other column except identifier-like
        ones (:func:`identifier_like`), which are named in the notes.
    categorical, continuous : list of str, optional
        Force the type of these variables (default: detection rule, ``max_levels``).
    nonnormal : "auto", list of str or None
        ``"auto"`` or None: Shapiro-Wilk rule for every continuous variable; a list:
        these are non-normal (median [IQR], rank test), the others follow the rule.
    alpha_normality : float
        Level of the Shapiro-Wilk test (per group).
    min_expected_for_chi2 : float
        Fisher's exact test is used when any expected count is below this.
    max_levels : int
        Numeric columns with at most this many distinct values are categorical.
    decimals : int
        Decimals of means, SDs, medians, quartiles and percentages.
    seed : int
        Seed of the Monte-Carlo Fisher test (tables larger than 2 x c only).
    max_text_levels : int
        Text columns with more distinct values are left out of the default variables.

    Returns
    -------
    Table1

    Raises
    ------
    InputError
        Unknown columns, or fewer than two groups.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"group": ["ATC"] * 4 + ["DTC"] * 4,
    ...                       "age": [70, 65, 72, 68, 45, 50, 38, 52],
    ...                       "sex": ["F", "M", "M", "F", "F", "F", "M", "F"]})
    >>> t = table1(frame, group="group", categorical=["sex"], continuous=["age"],
    ...            nonnormal=None)
    >>> t.frame.loc[1, ["variable", "group = ATC", "group = DTC", "test"]].tolist()
    ['age', '68.8 ± 3.0', '46.2 ± 6.2', 'Student t-test']
    >>> t.frame.loc[2, ["variable", "p", "test"]].tolist()
    ['sex', '1.000', 'Fisher exact']
    """
    forced_nonnormal = tuple(nonnormal) if nonnormal not in (None, "auto") else ()
    settings = Table1Settings(group=group, by=by, alpha_normality=alpha_normality,
                              min_expected_for_chi2=float(min_expected_for_chi2),
                              max_levels=max_levels, decimals=decimals, seed=seed,
                              nonnormal=forced_nonnormal, max_text_levels=max_text_levels)
    _check_columns(frame, [group] + ([by] if by else []), "group/by")
    notes: list[str] = []
    data = _complete_rows(frame, group, by, notes)
    forced_cat, forced_cont = set(categorical or []), set(continuous or [])
    if variables is None:
        variables = _default_variables(frame, data, settings, forced_cat | forced_cont, notes)
    _check_columns(frame, list(variables) + sorted(forced_cat | forced_cont), "variable")
    both = forced_cat & forced_cont
    if both:
        raise InputError(f"columns {sorted(both)} are listed as both categorical and continuous")
    if nonnormal not in (None, "auto"):
        _check_columns(frame, list(nonnormal), "nonnormal")

    lay = R.layout(data, group, by)
    columns = lay.columns()
    rows: list[dict] = [lay.n_row()]
    test_rows: list[dict] = []
    numeric_cat: list[str] = []
    for var in variables:
        s = data[var]
        n_missing = int(s.isna().sum())
        if var in forced_cat or (var not in forced_cont and detect_categorical(s, max_levels)):
            var_rows, results = R.categorical_rows(var, s, n_missing, lay, d=decimals, seed=seed,
                                                 min_expected=min_expected_for_chi2)
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                numeric_cat.append(f"{var!r} ({len(var_rows) - 1} values)")  # a row per level
            _add_tests(var_rows[0], var, results, lay, test_rows, kind="categorical",
                       summary="n (%)", normal=np.nan)
            rows.extend(var_rows)
        else:
            row, normal, results = R.continuous_rows(
                var, _as_numbers(var, s, n_missing), n_missing, lay,
                nonnormal=var in forced_nonnormal, alpha_normality=alpha_normality,
                alpha_levene=settings.alpha_levene, d=decimals)
            _add_tests(row, var, results, lay, test_rows, kind="continuous",
                       summary=row["level"], normal=normal)
            rows.append(row)

    if numeric_cat:
        notes.append("Numeric variables tabulated as categorical (at most "
                     f"{max_levels} distinct values, or declared so), levels in numeric order: "
                     + ", ".join(numeric_cat) + ".")
    out = pd.DataFrame(rows).reindex(columns=columns).fillna("")
    tests = pd.DataFrame(test_rows, columns=["variable", "stratum", "kind", "summary", "normal",
                                             "test", "statistic", "p", "note"])
    return Table1(frame=out, tests=tests, settings=settings, notes=tuple(notes))


def _complete_rows(frame: pd.DataFrame, group: str, by: str | None,
                   notes: list[str]) -> pd.DataFrame:
    """The rows with a ``group`` (and ``by``); how many were left out goes to ``notes``."""
    keep = frame[group].notna() & (frame[by].notna() if by else True)
    if (~keep).sum():
        notes.append(f"{int((~keep).sum())} rows with missing {group!r}"
                     + (f" or {by!r}" if by else "") + " were left out.")
    return frame.loc[keep]


def _default_variables(frame: pd.DataFrame, data: pd.DataFrame, settings: Table1Settings,
                       forced: set[str], notes: list[str]) -> list[str]:
    """Every column but ``group``/``by`` and the identifier-like ones not in ``forced``.

    The columns left out are named in ``notes``.
    """
    variables: list[str] = []
    skipped: list[str] = []
    for c in frame.columns:
        if c in (settings.group, settings.by):
            continue
        why = identifier_like(data[c], settings.max_text_levels)
        if c not in forced and why:
            skipped.append(f"{c!r} ({why})")
            continue
        variables.append(c)
    if skipped:
        notes.append("Identifier-like columns left out (give them in variables= to "
                     "tabulate them): " + "; ".join(skipped) + ".")
    return variables


def _as_numbers(var: str, s: pd.Series, n_missing: int) -> pd.Series:
    """``s`` as numbers; InputError when a non-missing value is not one."""
    if pd.api.types.is_numeric_dtype(s):
        return s
    s = pd.to_numeric(s, errors="coerce")
    bad = int(s.isna().sum()) - n_missing
    if bad:
        raise InputError(f"variable {var!r} was declared continuous but {bad} "
                         f"value(s) are not numbers; declare it categorical")
    return s


def _add_tests(row: dict, var: str, results: R.Tests, lay: R.Layout, test_rows: list[dict], *,
               kind: str, summary: str, normal: object) -> None:
    """Write each stratum's p-value and test name into ``row``; record them in ``test_rows``."""
    for b, res in results:
        row[lay.col(b, "p")], row[lay.col(b, "test")] = format_p(res.p), res.test
        test_rows.append({"variable": var, "stratum": b, "kind": kind, "summary": summary,
                          "normal": normal, "test": res.test, "statistic": res.statistic,
                          "p": res.p, "note": res.note})
