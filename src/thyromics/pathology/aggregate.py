"""Per-tile, per-slide and per-patient summaries of the nucleus table.

For every feature of :data:`~thyromics.pathology.morphometry.FEATURES`: ``<f>_mean``,
``<f>_sd`` (sample SD, ddof 1), ``<f>_cv`` (SD / |mean|), ``<f>_q25``/``_q50``/``_q75``
(the settings' quantiles, linear interpolation); ``n_nuclei``, ``n_<type>`` and
``frac_<type>`` for every PanNuke type; and the heterogeneity ``<f>_ith`` of the CRIT/iTED
study's code (github.com/Spr1te123/THCA-ITH, ``4.4_Nuclear_feature_extraction.py``): the
population SD (ddof 0) of the feature across the nuclei of each type, averaged over the
heterogeneity types that have more than one nucleus (THCA-ITH: neoplastic, inflammatory,
connective). A patient's row pools the nuclei of all its slides (it is not a mean of
slide rows).

Spatial statistics (as in the THCA-ITH analysis,
``4.5_Thyroid_cancer_pathology_analysis.py``), of the neoplastic nuclei (all nuclei when
none is typed), computed within each slide (within the tile for tile rows) from the
level-0 centroids and pooled over slides weighted by their nuclei:
``spatial_centroid_dist_sd_px`` and ``spatial_centroid_dist_cv`` (SD, ddof 1, and CV of
the distance of each nucleus to the nuclei's centroid), ``spatial_knn5_mean_px`` (mean
distance to the 5 nearest other nuclei), and ``frac_circularity_lt_0_7`` (that analysis's
share of irregular tumour nuclei, circularity < 0.7). Distances are in level-0 pixels.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from thyromics.pathology.morphometry import FEATURES
from thyromics.pathology.settings import PANNUKE_TYPES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from thyromics.pathology.settings import FeatureSettings

__all__ = ["summarise", "heterogeneity", "spatial", "aggregate", "ith_types_for"]

#: PanNuke's neoplastic type: the nuclei of the spatial statistics.
TUMOUR_TYPE = 1


def ith_types_for(nuclei: "pd.DataFrame", settings: "FeatureSettings") -> tuple[int, ...]:
    """The heterogeneity types: the settings', or the measured types when any nucleus is typed, else (0,)."""
    if settings.ith_types is not None:
        return settings.ith_types
    return settings.types if (nuclei["type"] > 0).any() else (0,)


def heterogeneity(nuclei: "pd.DataFrame", ith_types: tuple[int, ...],
                  features: tuple[str, ...] = FEATURES) -> dict[str, float]:
    """``<f>_ith``: mean over ``ith_types`` (with > 1 nucleus) of the population SD within the type.

    NaN when no heterogeneity type has two nuclei.
    """
    sds = [g[list(features)].std(ddof=0) for t, g in nuclei.groupby("type")
           if int(t) in ith_types and len(g) > 1]
    if not sds:
        return {f"{f}_ith": float("nan") for f in features}
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a feature undefined in every type
        mean = np.nanmean(np.vstack([s.to_numpy(dtype=float) for s in sds]), axis=0)
    return {f"{f}_ith": float(v) for f, v in zip(features, mean)}


def _slide_spatial(xy: np.ndarray, k: int) -> tuple[float, float, float]:
    from scipy.spatial import cKDTree

    n = len(xy)
    dist = np.hypot(*(xy - xy.mean(axis=0)).T)
    sd = float(np.std(dist, ddof=1)) if n > 1 else np.nan
    cv = sd / float(dist.mean()) if n > 1 and dist.mean() > 0 else np.nan
    knn = np.nan
    if n > k:
        d, _ = cKDTree(xy).query(xy, k=k + 1)  # the first neighbour is the nucleus itself
        knn = float(d[:, 1:].mean())
    return sd, cv, knn


def spatial(nuclei: "pd.DataFrame", k: int = 5) -> dict[str, float]:
    """Spatial statistics of the tumour nuclei (see the module docstring)."""
    typed = (nuclei["type"] > 0).any()
    tumour = nuclei[nuclei["type"] == TUMOUR_TYPE] if typed else nuclei
    groups = tumour.groupby("slide_id") if "slide_id" in tumour.columns else [(None, tumour)]
    parts = [(len(g), _slide_spatial(g[["centroid_x", "centroid_y"]].to_numpy(float), k))
             for _, g in groups if len(g)]
    names = ("spatial_centroid_dist_sd_px", "spatial_centroid_dist_cv", f"spatial_knn{k}_mean_px")
    out = {}
    for j, name in enumerate(names):
        vals = [(n, v[j]) for n, v in parts if np.isfinite(v[j])]
        w = sum(n for n, _ in vals)
        out[name] = sum(n * v for n, v in vals) / w if w else float("nan")
    circ = tumour["circularity"].to_numpy(float) if "circularity" in tumour else np.empty(0)
    circ = circ[np.isfinite(circ)]
    out["frac_circularity_lt_0_7"] = float((circ < 0.7).mean()) if len(circ) else float("nan")
    return out


def summarise(nuclei: "pd.DataFrame", settings: "FeatureSettings", ith_types: tuple[int, ...],
              features: tuple[str, ...] = FEATURES) -> dict[str, float]:
    """One row of summaries for a group of nuclei (see the module docstring)."""
    n = len(nuclei)
    row: dict[str, float] = {"n_nuclei": n}
    counts = nuclei["type"].value_counts()
    for t, name in PANNUKE_TYPES.items():
        c = int(counts.get(t, 0))
        row[f"n_{name}"] = c
        row[f"frac_{name}"] = c / n if n else float("nan")
    vals = nuclei[list(features)].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(vals, axis=0) if n else np.full(len(features), np.nan)
        sd = np.nanstd(vals, axis=0, ddof=1) if n > 1 else np.full(len(features), np.nan)
        cv = sd / np.abs(mean)
        qs = np.nanquantile(vals, settings.quantiles, axis=0) if n else np.full((len(settings.quantiles), len(features)), np.nan)
    for j, f in enumerate(features):
        row[f"{f}_mean"], row[f"{f}_sd"], row[f"{f}_cv"] = mean[j], sd[j], cv[j]
        for q, v in zip(settings.quantiles, qs[:, j]):
            row[f"{f}_q{round(q * 100):02d}"] = v
    row.update(heterogeneity(nuclei, ith_types, features))
    row.update(spatial(nuclei))
    return row


def aggregate(nuclei: "pd.DataFrame", by: list[str], settings: "FeatureSettings",
              ith_types: tuple[int, ...]) -> "pd.DataFrame":
    """Summaries per group of ``by`` columns (e.g. ``["patient_id"]``), one row each."""
    import pandas as pd

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns in tiny groups
        for key, g in nuclei.groupby(by, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(by, key)), **summarise(g, settings, ith_types)})
    return pd.DataFrame(rows)
