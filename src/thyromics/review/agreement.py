"""Agreement between two masks of a case, and its summary over cases.

Per case (:func:`compare_masks`), for masks A (first) and B (second) on one grid, as the
review tool of the CRIT/iTED study defines them
(``0.2_Segmentation_Modification_Assessment_and_Review_Tool.py`` of
github.com/Spr1te123/THCA-ITH), with its bugs fixed: it binarised a multi-label mask as any
non-zero voxel (thyromics reads the lesion's ``label``), classed Dice = 0.9 differently in
its table and its figure, and printed hard-coded p-values:

* ``dice``, ``iou``, ``hd95`` (mm): :mod:`thyromics.evaluate.segmentation`.
* ``volume_a``, ``volume_b``: voxel count x voxel volume (mm^3; mm^2 area for 2D images),
  ``volume_change = volume_b - volume_a``, ``volume_change_pct = 100 * change / volume_a``.
* ``modified``: the binarised masks differ in at least one voxel.
* ``modification_class`` (:func:`modification_class`): ``none`` when not modified,
  else ``minor`` if Dice > 0.9, ``moderate`` if Dice > 0.7, ``major`` otherwise. One
  function decides it everywhere (the THCA-ITH tool classed Dice = 0.9 differently in its
  table and its figure): Dice = 0.9 exactly is ``moderate``, Dice = 0.7 exactly ``major``.
* ``acceptable``: Dice >= 0.9 (so Dice = 0.9 is acceptable though ``moderate``), or not
  modified (two empty masks agree).

Summary (:func:`summarize`): Dice mean, SD and t-based 95% CI of the mean, median and
IQR (also IoU and HD95), % unmodified, % acceptable, the classes, and the volume
Bland-Altman statistics (:func:`bland_altman`). Group comparisons (:func:`group_tests`)
compute their p-values from the data (the THCA-ITH tool printed "P<0.001" as text).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

__all__ = ["CLASSES", "modification_class", "compare_masks", "bland_altman", "describe",
           "summarize", "group_tests"]

CLASSES = ("none", "minor", "moderate", "major")


def modification_class(dice: float, modified: bool) -> str:
    """``none`` / ``minor`` (Dice > 0.9) / ``moderate`` (> 0.7) / ``major``."""
    if not modified:
        return "none"
    if dice > 0.9:
        return "minor"
    if dice > 0.7:
        return "moderate"
    return "major"


def compare_masks(a: np.ndarray, b: np.ndarray, spacing: Sequence[float]) -> dict[str, Any]:
    """Agreement of two masks of one case.

    Parameters
    ----------
    a, b : numpy.ndarray
        Masks of the same shape (non-zero = lesion); ``a`` is the first (e.g. proposed or
        reader 1), ``b`` the second (corrected, reader 2).
    spacing : sequence of float
        Voxel size in mm, ITK order ``(x, y[, z])`` (``Image.spacing``).

    Returns
    -------
    dict
        ``dice, iou, hd95, volume_a, volume_b, volume_unit, volume_change,
        volume_change_pct, modified, modification_class, acceptable`` (see the module).
    """
    from thyromics.evaluate.segmentation import dice, hd95, iou

    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    voxel = float(np.prod(spacing))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics of empty masks stay NaN
        d, j, h = dice(a, b), iou(a, b), hd95(a, b, tuple(spacing)[::-1])
    va, vb = float(a.sum()) * voxel, float(b.sum()) * voxel
    modified = bool((a != b).any())
    return {"dice": d, "iou": j, "hd95": h, "volume_a": va, "volume_b": vb,
            "volume_unit": "mm^3" if a.ndim == 3 else "mm^2", "volume_change": vb - va,
            "volume_change_pct": 100.0 * (vb - va) / va if va > 0 else math.nan,
            "modified": modified, "modification_class": modification_class(d, modified),
            "acceptable": (not modified) or d >= 0.9}


def bland_altman(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Bland-Altman statistics of ``b - a``: bias, SD, limits of agreement (bias +- 1.96 SD).

    Returns ``n, bias, sd, loa_low, loa_high, pct_within`` (% of differences inside the
    limits, ends included). Bland & Altman, Lancet 1986; 1:307-310.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    diff = (b - a)[keep]
    n = int(diff.size)
    if n < 2:
        return {"n": n, "bias": float(diff.mean()) if n else math.nan, "sd": math.nan,
                "loa_low": math.nan, "loa_high": math.nan, "pct_within": math.nan}
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    low, high = bias - 1.96 * sd, bias + 1.96 * sd
    within = float(np.mean((diff >= low) & (diff <= high)) * 100)
    return {"n": n, "bias": bias, "sd": sd, "loa_low": low, "loa_high": high, "pct_within": within}


def describe(values: Sequence[float], prefix: str) -> dict[str, float]:
    """Mean, SD, t-based 95% CI of the mean, median, Q1, Q3 of the finite values."""
    from scipy import stats

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    n = v.size
    out = dict.fromkeys([f"{prefix}_{s}" for s in ("mean", "sd", "ci_low", "ci_high",
                                                   "median", "q1", "q3")], math.nan)
    out[f"{prefix}_n"] = n
    if n == 0:
        return out
    mean = float(v.mean())
    q1, med, q3 = (float(x) for x in np.percentile(v, [25, 50, 75]))
    out.update({f"{prefix}_mean": mean, f"{prefix}_median": med, f"{prefix}_q1": q1, f"{prefix}_q3": q3})
    if n >= 2:
        sd = float(v.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        out.update({f"{prefix}_sd": sd, f"{prefix}_ci_low": mean - half, f"{prefix}_ci_high": mean + half})
    return out


def summarize(per_case: "Any") -> "Any":
    """One row per comparison of the per-case table (columns ``comparison``, ``dice`` ...)."""
    import pandas as pd

    rows = []
    for comp, g in per_case.groupby("comparison", sort=False):
        row: dict[str, Any] = {"comparison": comp, "n": len(g)}
        for m in ("dice", "iou", "hd95"):
            row.update(describe(g[m], m))
        row["pct_unmodified"] = 100.0 * float((~g["modified"].astype(bool)).mean())
        row["pct_acceptable"] = 100.0 * float(g["acceptable"].astype(bool).mean())
        for c in CLASSES:
            row[f"n_{c}"] = int((g["modification_class"] == c).sum())
        row["volume_unit"] = g["volume_unit"].iloc[0]
        row["volume_change_median"] = float(g["volume_change"].median())
        row.update({f"ba_{k}": v for k, v in bland_altman(g["volume_a"], g["volume_b"]).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _cohen_d(x: np.ndarray, y: np.ndarray) -> float:
    nx, ny = len(x), len(y)
    if nx < 2 or ny < 2:
        return math.nan
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    return float((x.mean() - y.mean()) / pooled) if pooled > 0 else math.nan


def group_tests(per_case: "Any", group: str | None = None, metric: str = "dice") -> "Any":
    """Tests of ``metric`` between comparisons and between groups, p-values computed.

    * Between two comparisons (e.g. reader 1 vs 2 against proposal vs correction) on the
      same cases: Wilcoxon signed-rank test on the paired values (cases present in both).
    * Within each comparison, between the groups of column ``group`` (e.g. centre):
      Mann-Whitney U (two-sided) and Cohen's d for two groups, Kruskal-Wallis for more.

    Returns a table ``comparison, test, groups, n, statistic, p_value, effect, effect_name``
    (empty when nothing can be tested).
    """
    import pandas as pd
    from scipy import stats

    rows = []
    comps = list(dict.fromkeys(per_case["comparison"]))
    for c1, c2 in combinations(comps, 2):
        x = per_case[per_case["comparison"] == c1].set_index("case_id")[metric]
        y = per_case[per_case["comparison"] == c2].set_index("case_id")[metric]
        both = pd.concat([x, y], axis=1, join="inner").dropna()
        diff = both.iloc[:, 1] - both.iloc[:, 0]
        if len(both) >= 2 and (diff != 0).any():
            res = stats.wilcoxon(both.iloc[:, 0], both.iloc[:, 1])
            rows.append({"comparison": f"{c1} | {c2}", "test": "Wilcoxon signed-rank (paired)",
                         "groups": f"{c1}; {c2}", "n": len(both), "statistic": float(res.statistic),
                         "p_value": float(res.pvalue), "effect": float(diff.median()),
                         "effect_name": f"median paired difference of {metric}"})
    if group:
        for comp in comps:
            g = per_case[per_case["comparison"] == comp].dropna(subset=[metric, group])
            samples = {str(k): v[metric].to_numpy(float) for k, v in g.groupby(group)}
            samples = {k: v for k, v in samples.items() if len(v)}
            if len(samples) < 2:
                continue
            names = list(samples)
            n = sum(len(v) for v in samples.values())
            if len(samples) == 2:
                x, y = samples[names[0]], samples[names[1]]
                res = stats.mannwhitneyu(x, y, alternative="two-sided")
                rows.append({"comparison": comp, "test": "Mann-Whitney U (two-sided)",
                             "groups": f"{group}={names[0]}; {group}={names[1]}", "n": n,
                             "statistic": float(res.statistic), "p_value": float(res.pvalue),
                             "effect": _cohen_d(x, y), "effect_name": "Cohen's d"})
            else:
                res = stats.kruskal(*samples.values())
                rows.append({"comparison": comp, "test": "Kruskal-Wallis",
                             "groups": "; ".join(f"{group}={k}" for k in names), "n": n,
                             "statistic": float(res.statistic), "p_value": float(res.pvalue),
                             "effect": math.nan, "effect_name": ""})
    cols = ["comparison", "test", "groups", "n", "statistic", "p_value", "effect", "effect_name"]
    return pd.DataFrame(rows, columns=cols)
