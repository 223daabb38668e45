"""Feature-family analysis of Moon et al., Sci Rep 2023 (CT radiomics, ATC/PDTC vs DTC).

For every feature family (shape, firstorder, glcm ...):

1. z-score every feature over all cases: ``z = (x - mean) / sd`` (missing values are
   set to 0, the mean, after scoring; constant features are dropped);
2. a "representative value" per case: the 1-D UMAP embedding of the family's z-scores
   (McInnes, Healy & Melville, arXiv:1802.03426; seeded). A family with a single
   feature uses that feature's z-score itself (Moon et al. excluded their one-feature
   fractal family from UMAP); the ``representative`` column says which;
3. the Mann-Whitney U test (two-sided; the study's "Wilcoxon") of the representative
   value between the two groups;
4. the family's discriminative power: the geometric mean of its features' per-feature
   Mann-Whitney p-values, ``exp(mean(log p_j))``.

This is descriptive, not a model: it uses the whole table by design and must not feed
feature selection of a validated model.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from thyromics.errors import InputError

__all__ = ["zscore", "family_analysis"]


def zscore(frame: pd.DataFrame) -> pd.DataFrame:
    """Column z-scores (population mean, sample SD); NaN -> 0; constant columns dropped."""
    frame = frame.apply(pd.to_numeric, errors="coerce")
    sd = frame.std(ddof=1)
    keep = sd[sd > 0].index
    z = (frame[keep] - frame[keep].mean()) / sd[keep]
    return z.fillna(0.0)


def _mw_p(values: np.ndarray, y: np.ndarray) -> float:
    return float(mannwhitneyu(values[y], values[~y], alternative="two-sided").pvalue)


def family_analysis(table: pd.DataFrame, *, label: str, columns: Sequence[str] | None = None,
                    families: dict[str, str] | None = None, seed: int = 0,
                    n_neighbors: int = 15, values: list | None = None) -> pd.DataFrame:
    """Per-family representative-value test and geometric-mean p-value.

    Parameters
    ----------
    table : DataFrame
        One row per case.
    label : str
        Binary group column (two distinct non-missing values; the larger is group 1).
    columns : sequence of str, optional
        Feature columns; default every ``<filter>_<family>_<feature>`` column.
    families : dict, optional
        ``column -> family``; default parsed from the column names.
    seed : int
        UMAP ``random_state``.
    n_neighbors : int
        UMAP neighbourhood size (capped at n - 1).
    values : list, optional
        When given, one DataFrame per family is appended to it with the per-case
        representative value: ``case_id`` (or the row index), ``family``, ``value``
        (for the report's boxplots).

    Returns
    -------
    DataFrame
        One row per family, sorted by ``p_geomean``: ``family, n_features,
        representative ("umap" or "single feature"), p_representative, p_geomean,
        median_group0, median_group1`` (medians of the representative value).
    """
    from thyromics.models.blocks import feature_family

    data = table.dropna(subset=[label])
    classes = np.unique(data[label])
    if len(classes) != 2:
        raise InputError(f"family analysis needs a binary label; column {label!r} has "
                         f"values {list(classes)[:10]}")
    y = (data[label] == classes[1]).to_numpy()
    cols = list(columns) if columns is not None else [
        c for c in data.columns if c != label and feature_family(c) is not None]
    fam = families or {c: feature_family(c) for c in cols}
    z = zscore(data[cols])
    rows = []
    for family in sorted({fam[c] for c in z.columns}):
        fcols = [c for c in z.columns if fam[c] == family]
        Z = z[fcols].to_numpy(float)
        if len(fcols) == 1:
            rep, how = Z[:, 0], "single feature"
        else:
            import umap

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rep = umap.UMAP(n_components=1, random_state=seed, n_jobs=1,
                                n_neighbors=min(n_neighbors, len(Z) - 1)).fit_transform(Z)[:, 0]
            how = "umap"
        if values is not None:
            ids = data["case_id"].to_numpy() if "case_id" in data else data.index.to_numpy()
            values.append(pd.DataFrame({"case_id": ids, "family": family,
                                        "feature": f"{how} representative value", "value": rep}))
        p_feat = np.array([_mw_p(Z[:, j], y) for j in range(Z.shape[1])])
        rows.append({"family": family, "n_features": len(fcols), "representative": how,
                     "p_representative": _mw_p(rep, y),
                     "p_geomean": float(np.exp(np.mean(np.log(np.maximum(p_feat, 1e-300))))),
                     "median_group0": float(np.median(rep[~y])),
                     "median_group1": float(np.median(rep[y]))})
    return pd.DataFrame(rows).sort_values("p_geomean", kind="stable").reset_index(drop=True)
