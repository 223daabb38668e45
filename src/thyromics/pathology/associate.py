"""What biology does an imaging signature track? Pathology and protein tables vs an imaging phenotype.

Each ``--with`` table (``patient_id`` + one column per feature: the pathology stage's
``patient_features.csv``, a protein table of expression values or IHC grades 0-3) is
joined on ``patient_id`` to the imaging table, and every numeric feature is tested:

* **between the phenotype groups** (high vs low: a two-level column, or a score cut at
  a threshold carried from the model -- never re-estimated here): Mann-Whitney U
  (default; normal approximation with continuity and tie correction, R's
  ``wilcox.test(exact = FALSE)``) or Student/Welch t, both from
  :mod:`thyromics.stats._htest`; for **ordinal** features (integer grades, at most
  ``max_ordinal_levels`` levels) also the Cochran-Armitage trend test (linear-by-linear
  association, ``statsmodels`` ``Table.test_ordinal_association`` with the grades as
  scores) and Cramer's V = sqrt(chi2 / (n (min(r, c) - 1))) from the uncorrected Pearson
  chi-square of the group x grade table (the effect size of the CRIT/iTED study's protein
  analysis, ``5.1_Protein_expression_analysis.py`` of github.com/Spr1te123/THCA-ITH);
  effects: difference of means, log2 fold change of the means (when both are positive),
  standardised difference d = (mean_h - mean_l) / sqrt((var_h + var_l) / 2) (the effect of
  its pathology analysis, ``4.5_Thyroid_cancer_pathology_analysis.py``, here signed) and
  the rank-biserial correlation 2 U_high / (n_h n_l) - 1;
* **against continuous imaging scores**: Spearman's rho with a 95% CI from Fisher's z
  with SE = sqrt(1.06 / (n - 3)) (Fieller, Hartley & Pearson 1957).

p-values are adjusted by Benjamini-Hochberg (``q``) within each source table and
analysis (the THCA-ITH code applies none). Pairs with a missing value are left out per
feature.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["AssociationSettings", "phenotype", "compare_groups", "correlate", "associate",
           "feature_columns", "is_ordinal", "spearman_ci", "cramers_v", "cochran_armitage", "bh"]

_ID_LIKE = {"patient_id", "slide_id", "case_id", "tile_id", "region", "label", "split", "size_unit"}


@dataclass(frozen=True)
class AssociationSettings:
    """Settings of one association analysis (stored in the provenance).

    ``by``: imaging column defining the phenotype (two levels) or a continuous score;
    ``threshold``: cut for a continuous ``by`` (``score >= threshold`` is high, as in
    ``thyromics evaluate``); ``high``: the level of a two-level ``by`` that is "high";
    ``scores``: continuous imaging columns to correlate with (default: ``by`` when continuous);
    ``test``: ``mannwhitney`` or ``t``; ``alpha``: FDR level of the ``significant`` flag.
    """

    by: str
    threshold: float | None = None
    high: str | None = None
    scores: tuple[str, ...] = ()
    test: str = "mannwhitney"
    alpha: float = 0.05
    max_ordinal_levels: int = 6
    reduce: str = "refuse"
    exclude: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.test not in ("mannwhitney", "t"):
            raise InputError(f"--test must be mannwhitney or t, got {self.test!r}")
        if self.reduce not in ("refuse", "mean", "max", "first"):
            raise InputError(f"--reduce must be refuse, mean, max or first, got {self.reduce!r}")
        if not 0 < self.alpha < 1:
            raise InputError(f"--alpha must be in (0, 1), got {self.alpha}")


def bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN entries stay NaN)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    return q


def is_ordinal(x: pd.Series, max_levels: int = 6) -> bool:
    """Integer values 0..10 with at most ``max_levels`` distinct levels (IHC grades 0-3)."""
    v = x.dropna().to_numpy(dtype=float)
    return bool(v.size) and np.all(v == np.round(v)) and v.min() >= 0 and v.max() <= 10 \
        and np.unique(v).size <= max_levels


def feature_columns(frame: pd.DataFrame, exclude: tuple[str, ...] = ()) -> list[str]:
    """Numeric, non-identifier, non-constant columns."""
    cols = []
    for c in frame.columns:
        if c in _ID_LIKE or c in exclude or not pd.api.types.is_numeric_dtype(frame[c]):
            continue
        if frame[c].nunique(dropna=True) > 1:
            cols.append(c)
    return cols


def _reduce(frame: pd.DataFrame, how: str, what: str) -> pd.DataFrame:
    if "patient_id" not in frame.columns:
        raise InputError(f"{what}: no patient_id column; found {list(frame.columns)[:12]}.")
    frame = frame.assign(patient_id=frame["patient_id"].astype(str))
    dup = frame["patient_id"][frame["patient_id"].duplicated()].unique().tolist()
    if not dup:
        return frame
    if how == "refuse":
        raise InputError(f"{what}: {len(dup)} patient(s) have several rows (e.g. {dup[:5]}); give one row "
                         "per patient, or --reduce mean|max|first to combine them.")
    g = frame.groupby("patient_id", sort=False)
    if how == "first":
        return g.first().reset_index()
    num = frame.select_dtypes("number").columns.tolist()
    agg = g[num].mean() if how == "mean" else g[num].max()
    rest = g[[c for c in frame.columns if c not in num and c != "patient_id"]].first()
    return pd.concat([agg, rest], axis=1).reset_index()


def phenotype(imaging: pd.DataFrame, s: AssociationSettings) -> pd.Series | None:
    """``"high"``/``"low"`` per row, or None when ``by`` is a continuous score without threshold."""
    if s.by not in imaging.columns:
        raise InputError(f"--by {s.by!r} is not a column of the imaging table; found {list(imaging.columns)[:20]}.")
    x = imaging[s.by]
    if s.threshold is not None:
        v = pd.to_numeric(x, errors="coerce")
        return pd.Series(np.where(v.isna(), None, np.where(v >= s.threshold, "high", "low")), index=x.index)
    levels = sorted(x.dropna().unique().tolist(), key=str)
    if len(levels) == 2:
        if s.high is not None:
            high = next((lv for lv in levels if str(lv) == s.high), None)
            if high is None:
                raise InputError(f"--high {s.high!r} is not a level of {s.by!r} (levels: {levels}).")
        elif pd.api.types.is_numeric_dtype(x):
            high = max(levels)
        else:
            named = [lv for lv in levels if str(lv).strip().lower() in ("high", "high risk", "high-risk", "m1", "yes")]
            if not named:
                raise InputError(f"--by {s.by!r} has levels {levels}; say which is high with --high LEVEL.")
            high = named[0]
        return pd.Series(np.where(x.isna(), None, np.where(x == high, "high", "low")), index=x.index)
    if pd.api.types.is_numeric_dtype(x) and len(levels) > 2:
        return None
    raise InputError(f"--by {s.by!r} has {len(levels)} level(s) {levels[:6]}: give a two-level phenotype, "
                     "or a score with --threshold (carried from the model; `thyromics evaluate` writes it).")


def cramers_v(table: np.ndarray) -> float:
    """Cramer's V from the uncorrected Pearson chi-square of a contingency table."""
    from scipy.stats import chi2_contingency

    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if min(t.shape) < 2:
        return float("nan")
    chi2 = chi2_contingency(t, correction=False).statistic
    return float(np.sqrt(chi2 / (t.sum() * (min(t.shape) - 1))))


def cochran_armitage(low: np.ndarray, high: np.ndarray) -> tuple[float, float]:
    """Cochran-Armitage trend test of grades between two groups: ``(z, two-sided p)``."""
    from statsmodels.stats.contingency_tables import Table

    grades = np.unique(np.concatenate([low, high]))
    if grades.size < 2:
        return float("nan"), float("nan")
    t = np.array([[np.sum(low == g) for g in grades], [np.sum(high == g) for g in grades]])
    r = Table(t, shift_zeros=False).test_ordinal_association(row_scores=np.array([0.0, 1.0]),
                                                             col_scores=grades.astype(float))
    return float(r.zscore), float(r.pvalue)


def compare_groups(values: pd.Series, group: pd.Series, *, test: str = "mannwhitney",
                   max_ordinal_levels: int = 6) -> dict[str, Any]:
    """One feature between ``high`` and ``low`` (see the module docstring for every column)."""
    from scipy.stats import mannwhitneyu

    from thyromics.stats._htest import continuous_test

    ok = values.notna() & group.notna()
    hi = values[ok & (group == "high")].to_numpy(float)
    lo = values[ok & (group == "low")].to_numpy(float)
    ordinal = is_ordinal(values, max_ordinal_levels)
    row: dict[str, Any] = {"kind": "ordinal" if ordinal else "continuous", "n_high": hi.size, "n_low": lo.size}
    if min(hi.size, lo.size) < 2:
        return {**row, "test": "not tested", "p": np.nan}
    mh, ml = hi.mean(), lo.mean()
    pooled = np.sqrt((hi.var(ddof=1) + lo.var(ddof=1)) / 2)
    u = mannwhitneyu(hi, lo, method="asymptotic", alternative="two-sided").statistic
    res = continuous_test([hi, lo], normal=(test == "t"))
    row.update(mean_high=mh, mean_low=ml, median_high=float(np.median(hi)), median_low=float(np.median(lo)),
               diff=mh - ml, log2_fc=float(np.log2(mh / ml)) if mh > 0 and ml > 0 else np.nan,
               effect_d=(mh - ml) / pooled if pooled > 0 else np.nan,
               rank_biserial=2 * float(u) / (hi.size * lo.size) - 1,
               test=res.test, statistic=res.statistic, p=res.p)
    if ordinal:
        z, p_trend = cochran_armitage(lo, hi)
        grades = np.unique(np.concatenate([lo, hi]))
        row.update(trend_z=z, p_trend=p_trend,
                   cramers_v=cramers_v(np.array([[np.sum(lo == g) for g in grades],
                                                 [np.sum(hi == g) for g in grades]])))
    return row


def spearman_ci(rho: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """CI of Spearman's rho by Fisher's z with SE sqrt(1.06 / (n - 3)) (Fieller et al. 1957)."""
    from scipy.stats import norm

    if n < 4 or not np.isfinite(rho):
        return float("nan"), float("nan")
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    half = norm.ppf(1 - alpha / 2) * np.sqrt(1.06 / (n - 3))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def correlate(values: pd.Series, score: pd.Series) -> dict[str, Any]:
    """Spearman's rho of a feature with an imaging score, its CI and p."""
    from scipy.stats import spearmanr

    ok = values.notna() & score.notna()
    n = int(ok.sum())
    if n < 4 or values[ok].nunique() < 2 or score[ok].nunique() < 2:
        return {"n": n, "rho": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    r = spearmanr(values[ok], score[ok])
    lo, hi = spearman_ci(float(r.statistic), n)
    return {"n": n, "rho": float(r.statistic), "ci_low": lo, "ci_high": hi, "p": float(r.pvalue)}


def associate(imaging: pd.DataFrame, tables: dict[str, pd.DataFrame],
              s: AssociationSettings) -> dict[str, Any]:
    """Join every table to the imaging table on ``patient_id`` and test every feature.

    Returns ``{"groups": DataFrame, "correlations": DataFrame, "joined": {source: DataFrame},
    "phenotype": Series (index patient_id), "ordinal": {source: [features]}}``.
    """
    imaging = _reduce(imaging, s.reduce, "imaging table")
    group = phenotype(imaging, s)
    scores = list(s.scores) or ([s.by] if group is None else [])
    for c in scores:
        if c not in imaging.columns or not pd.api.types.is_numeric_dtype(imaging[c]):
            raise InputError(f"--score {c!r} is not a numeric column of the imaging table.")
    if group is None and not scores:
        raise InputError("nothing to test: no phenotype groups and no continuous score.")
    base = imaging[["patient_id", *dict.fromkeys([s.by, *scores])]].copy()
    base["_group"] = group if group is not None else None
    group_rows, corr_rows, joined, ordinal = [], [], {}, {}
    for source, table in tables.items():
        table = _reduce(table, "refuse", f"--with table {source!r}")
        feats = feature_columns(table, (*s.exclude, s.by, *scores))
        if not feats:
            raise InputError(f"--with table {source!r}: no numeric feature columns besides patient_id.")
        j = base.merge(table[["patient_id", *feats]], on="patient_id", how="inner")
        if len(j) < len(base) or len(j) < len(table):
            warnings.warn(f"{source}: {len(j)} patients in both tables (imaging {len(base)}, "
                          f"{source} {len(table)}); the others are left out", ThyromicsWarning, stacklevel=2)
        joined[source] = j
        ordinal[source] = [f for f in feats if is_ordinal(j[f], s.max_ordinal_levels)]
        if group is not None:
            rows = [{"source": source, "feature": f, **compare_groups(j[f], j["_group"], test=s.test,
                                                                      max_ordinal_levels=s.max_ordinal_levels)}
                    for f in feats]
            q = bh(np.array([r["p"] for r in rows], float))
            for r, qi in zip(rows, q):
                r["q"] = qi
                r["significant"] = bool(qi < s.alpha) if np.isfinite(qi) else False
            group_rows += rows
        rows = [{"source": source, "feature": f, "score": sc, **correlate(j[f], j[sc])}
                for sc in scores for f in feats]
        q = bh(np.array([r["p"] for r in rows], float))
        for r, qi in zip(rows, q):
            r["q"] = qi
        corr_rows += rows
    return {"groups": pd.DataFrame(group_rows), "correlations": pd.DataFrame(corr_rows), "joined": joined,
            "phenotype": group, "ordinal": ordinal, "scores": scores}
