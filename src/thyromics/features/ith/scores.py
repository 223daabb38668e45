"""Heterogeneity scores: iTED, the CRIT/iTED study's 3D ITHscore, the published ITHscore, diversity.

iTED and the 3D ITHscore follow the CRIT/iTED study's code (``1.2_TITAN_pipeline.py`` of
github.com/Spr1te123/THCA-ITH); the published ITHscore is Li et al., Eur Radiol 2022.
Scoring functions that take label maps (``ithscore_from_clusters``,
``li2022_from_label_map``, ``diversity``) are separate from the clustering so that they
can be checked on hand-made maps.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["diversity", "ited", "ithscore3d_seed003", "ithscore_from_clusters",
           "li2022_from_label_map", "cluster_subregions"]


def _gmm(x: np.ndarray, k: int, n_init: int, seed: int):
    from sklearn.mixture import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on near-constant columns
        return GaussianMixture(n_components=k, covariance_type="diag", n_init=n_init,
                               random_state=seed).fit(x)


def ited(features: np.ndarray, names: list[str], *, max_components: int = 4, n_init: int = 3,
         seed: int = 42, n_bootstrap: int = 0) -> dict[str, float]:
    """iTED per feature, as the CRIT/iTED study's THCA-ITH code computes it.

    Despite its name ("intratumoral Euclidean distance") the code's iTED is a dispersion
    of Gaussian-mixture centroids, per feature, with no aggregate across features.

    For each feature (column, across the ``n`` sub-regions), 1-D Gaussian mixtures with
    ``k = 1..min(max_components, n - 1)`` diagonal components (``n_init`` restarts,
    ``random_state=seed``) are fitted and ``k`` chosen by the lowest BIC;
    ``iTED = SD of the k component means`` (population SD, ``ddof=0``; 0 when k = 1).

    Parameters
    ----------
    features : (n, p) array
    names : list of str
        ``<class>_<feature>`` per column; output columns are ``iTED_<name>``.
    n_bootstrap : int
        When > 0 and n >= 10: seeded resamples of the sub-regions, refitted at the chosen
        k (``n_init = 1``); adds ``iTED_<name>_ci_low`` / ``_ci_high`` (2.5/97.5 %).

    Returns
    -------
    dict
        NaN for a feature with non-finite values or fewer than 2 sub-regions.
    """
    x = np.asarray(features, dtype=float)
    n = x.shape[0]
    out: dict[str, float] = {}
    rng = np.random.default_rng(seed)
    for j, name in enumerate(names):
        col = x[:, j]
        key = f"iTED_{name}"
        if n < 2 or not np.all(np.isfinite(col)):
            out[key] = float("nan")
            continue
        if np.ptp(col) == 0:
            out[key] = 0.0
            k_best = 1
        else:
            ks = range(1, min(max_components, n - 1) + 1)
            fits = [_gmm(col[:, None], k, n_init, seed) for k in ks]
            bics = [f.bic(col[:, None]) for f in fits]
            best = fits[int(np.argmin(bics))]
            k_best = best.n_components
            out[key] = float(np.std(best.means_.ravel())) if k_best > 1 else 0.0
        if n_bootstrap > 0 and n >= 10:
            vals = []
            for _ in range(n_bootstrap):
                b = col[rng.integers(0, n, n)]
                if k_best == 1 or np.unique(b).size < k_best:
                    vals.append(0.0)
                    continue
                vals.append(float(np.std(_gmm(b[:, None], k_best, 1, seed).means_.ravel())))
            out[f"{key}_ci_low"], out[f"{key}_ci_high"] = (float(v) for v in
                                                            np.percentile(vals, [2.5, 97.5]))
    return out


def ithscore_from_clusters(cluster_map: np.ndarray, roi: np.ndarray) -> float:
    """The 3D ITHscore of a painted cluster map, as the THCA-ITH code defines it.

    ``score = 1 - sum_i M_i / V``: ``M_i`` the largest 26-connected (8-connected in 2D)
    component of cluster ``i``, ``V`` the number of ROI voxels (voxels of dropped
    sub-regions, painted -1, count in ``V`` only). Clipped to [0, 1].

    Parameters
    ----------
    cluster_map : int array
        Cluster id >= 0 per voxel; -1 = in the ROI but unassigned.
    roi : bool array
    """
    from scipy import ndimage

    v = int(roi.sum())
    if v == 0:
        return float("nan")
    total = 0
    structure = np.ones((3,) * cluster_map.ndim, bool)
    for c in np.unique(cluster_map[roi]):
        if c < 0:
            continue
        lab, n = ndimage.label((cluster_map == c) & roi, structure=structure)
        if n:
            total += int(np.bincount(lab.ravel())[1:].max())
    return float(np.clip(1.0 - total / v, 0.0, 1.0))


def cluster_subregions(features: np.ndarray, *, k_min: int = 3, k_max: int = 8,
                       seed: int = 42) -> np.ndarray:
    """k-means on standardised sub-region features, k by the elbow rule (as in THCA-ITH).

    ``StandardScaler``; k-means (``n_init=10``, ``random_state=seed``) for
    ``k = k_min..min(k_max, n - 1)``; ``k = ks[argmax(second difference of inertia) + 1]``
    (the first k when fewer than three k were tried).

    Returns
    -------
    (n,) int array of cluster ids.
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    x = np.nan_to_num(StandardScaler().fit_transform(np.asarray(features, float)))
    n = x.shape[0]
    ks = list(range(k_min, min(k_max, n - 1) + 1))
    if not ks:
        ks = [max(1, min(k_min, n))]
    fits = [KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x) for k in ks]
    if len(ks) >= 3:
        inertia = np.array([f.inertia_ for f in fits])
        best = fits[int(np.argmax(np.diff(inertia, 2))) + 1]
    else:
        best = fits[0]
    return best.labels_


def ithscore3d_seed003(features: np.ndarray, subregion_ids: list[int], labels: np.ndarray,
                       roi: np.ndarray, *, k_min: int = 3, k_max: int = 8, seed: int = 42) -> float:
    """3D ITHscore as the CRIT/iTED study's code computes it (``ith_ITHscore3D_seed003``).

    Clusters the sub-regions (:func:`cluster_subregions`), paints each sub-region's
    cluster onto its voxels (-1 for voxels of dropped sub-regions) and scores the map with
    :func:`ithscore_from_clusters`.
    """
    ids = cluster_subregions(features, k_min=k_min, k_max=k_max, seed=seed)
    lut = np.full(int(labels.max()) + 1, -1, dtype=np.int64)
    lut[np.asarray(subregion_ids, dtype=np.int64)] = ids
    painted = np.where(roi, lut[labels], -1)
    return ithscore_from_clusters(painted, roi)


def li2022_from_label_map(label_map: np.ndarray) -> float:
    """Published ITHscore of a 2D cluster label map (Li et al., Eur Radiol 2022).

    ``ITHscore = 1 - (1/S) sum_i (A_i / n_i)``: ``S`` tumour pixels (label > 0); per
    cluster ``i``, 8-connected regions, regions of one pixel ignored, ``A_i`` the largest
    remaining region's area and ``n_i`` the number of remaining regions; a cluster made
    only of one-pixel regions is left out (the authors' ``calITHscore``).
    """
    from scipy import ndimage

    size = int((label_map > 0).sum())
    if size == 0:
        return float("nan")
    total = 0.0
    for c in np.unique(label_map[label_map > 0]):
        lab, n = ndimage.label(label_map == c, structure=np.ones((3, 3), bool))
        areas = np.bincount(lab.ravel())[1:]
        areas = areas[areas > 1]
        if areas.size:
            total += areas.max() / areas.size
    return float(1.0 - total / size)


def diversity(labels: np.ndarray) -> dict[str, float]:
    """Diversity of habitats from their voxel counts.

    ``p_k`` = volume fraction of habitat ``k``. Shannon ``H = -sum p_k ln p_k`` (nats),
    Simpson (Gini-Simpson) ``1 - sum p_k^2``, and the number of habitats present.

    Parameters
    ----------
    labels : int array of habitat ids of the lesion voxels (>= 0; negatives ignored)
    """
    lab = np.asarray(labels).ravel()
    lab = lab[lab >= 0]
    if lab.size == 0:
        return {"shannon": float("nan"), "simpson": float("nan"), "n": 0.0}
    p = np.bincount(lab) / lab.size
    p = p[p > 0]
    return {"shannon": float(-(p * np.log(p)).sum()), "simpson": float(1 - (p ** 2).sum()),
            "n": float(p.size)}
