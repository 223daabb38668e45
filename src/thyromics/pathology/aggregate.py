"""Per-tile, per-slide and per-patient summaries of the nucleus table.

For every feature of :data:`~thyromics.pathology.morphometry.FEATURES`: ``<f>_mean``,
``<f>_sd`` (sample SD, ddof 1), ``<f>_cv`` (SD / |mean|), ``<f>_q25``/``_q50``/``_q75``
(the settings' quantiles, linear interpolation); ``n_nuclei``, ``n_<type>`` and
``frac_<type>`` for every PanNuke type; and the seed's heterogeneity ``<f>_ith``: the
population SD (ddof 0) of the feature across the nuclei of each type, averaged over the
heterogeneity types that have more than one nucleus (the seed: neoplastic, inflammatory,
connective). A patient's row pools the nuclei of all its slides (it is not a mean of
slide rows).
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

__all__ = ["summarise", "heterogeneity", "aggregate", "ith_types_for"]


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
