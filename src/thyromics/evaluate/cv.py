"""Cross-validated ROC: per-fold AUCs and averaged ROC curves.

Input: out-of-fold scores of every case with the fold it was predicted in.

* **Per-fold AUC**, their mean and sample SD (``ddof = 1``), and the pooled AUC of all
  out-of-fold scores together (which mixes folds' score scales; reported for
  reference).
* **Vertical averaging** (Fawcett 2006, Pattern Recognit Lett 27:861, Algorithm 4):
  on a common FPR grid (``grid_points`` values evenly spaced in [0, 1]) each fold's
  TPR is read off its empirical ROC curve (linear interpolation between consecutive
  ROC points, so tied scores give diagonal segments; on a vertical segment the
  highest TPR), then averaged over folds (mean and SD). ``vertical["auc"]`` is the
  trapezoid area of the mean curve on the grid (tends to the mean fold AUC as the
  grid gets finer).
* **Threshold averaging** (Fawcett 2006, Algorithm 5): thresholds are taken from the
  pooled distinct scores of all folds (all of them, or ``n_thresholds`` evenly spaced
  by rank when there are more), plus ``+inf``; at each threshold ``t`` every fold's
  point ``(FPR, TPR)`` with positive = ``score >= t`` is computed and the points are
  averaged (mean and SD of both coordinates). This is the averaging that keeps the
  threshold meaningful, which matters when one threshold is carried to new data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary, as_scores
from thyromics.evaluate.roc import auc, roc_curve

__all__ = ["cv_roc", "tpr_at_fpr"]


def tpr_at_fpr(fpr: NDArray[np.float64], tpr: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """TPR of an empirical ROC curve (points in order of decreasing threshold) at ``grid``.

    Linear interpolation between consecutive points; at an FPR where the curve has a
    vertical segment, the top of the segment.
    """
    idx = np.searchsorted(fpr, grid, side="right") - 1
    idx = np.clip(idx, 0, fpr.size - 1)
    out = tpr[idx].astype(float)
    nxt = np.minimum(idx + 1, fpr.size - 1)
    between = (fpr[idx] < grid) & (nxt > idx)
    x0, x1 = fpr[idx[between]], fpr[nxt[between]]
    y0, y1 = tpr[idx[between]], tpr[nxt[between]]
    out[between] = y0 + (y1 - y0) * (grid[between] - x0) / (x1 - x0)
    return out


def cv_roc(y_true: ArrayLike, score: ArrayLike, fold: ArrayLike, *, grid_points: int = 101,
           n_thresholds: int = 200) -> dict[str, Any]:
    """Per-fold AUCs and vertically / threshold-averaged ROC curves.

    Parameters
    ----------
    y_true, score : arrays of shape (N,)
        Binary labels and out-of-fold scores (higher = positive).
    fold : array of shape (N,)
        Fold of each case (any hashable values). Every fold needs both classes.
    grid_points : int
        Size of the common FPR grid of the vertical average.
    n_thresholds : int
        Maximum number of thresholds of the threshold average.

    Returns
    -------
    dict
        ``folds`` (list of {fold, n, n_pos, auc}), ``auc_mean``, ``auc_sd``,
        ``auc_pooled``, ``vertical`` ({fpr, tpr_mean, tpr_sd, auc}),
        ``threshold_average`` ({threshold, fpr_mean, fpr_sd, tpr_mean, tpr_sd}).
    """
    y = as_binary(y_true)
    s = as_scores(score, n=y.size)
    f = np.asarray(fold)
    if f.shape != y.shape:
        raise InputError(f"cv_roc: fold has shape {f.shape}, expected {y.shape} (one fold per case).")
    keys = list(dict.fromkeys(f.tolist()))
    if len(keys) < 2:
        raise InputError(f"cv_roc: needs at least 2 folds, found {len(keys)}.")
    grid = np.linspace(0.0, 1.0, grid_points)
    folds, curves, parts = [], [], []
    for k in keys:
        sel = f == k
        yk, sk = y[sel], s[sel]
        if yk.min() == yk.max():
            raise InputError(f"cv_roc: fold {k!r} holds a single class ({yk.size} case(s)); "
                             "use stratified folds.")
        folds.append({"fold": k, "n": int(sel.sum()), "n_pos": int(yk.sum()), "auc": auc(yk, sk)})
        fpr, tpr, _ = roc_curve(yk, sk)
        curves.append(tpr_at_fpr(fpr, tpr, grid))
        parts.append((np.sort(sk[yk == 1]), np.sort(sk[yk == 0])))
    aucs = np.array([d["auc"] for d in folds])
    tpr_mat = np.vstack(curves)
    tpr_mean = tpr_mat.mean(axis=0)
    uniq = np.unique(s)[::-1]
    if uniq.size > n_thresholds:
        uniq = uniq[np.round(np.linspace(0, uniq.size - 1, n_thresholds)).astype(int)]
    thr = np.r_[np.inf, uniq]
    fpr_pts = np.vstack([(neg.size - np.searchsorted(neg, thr, side="left")) / neg.size for _, neg in parts])
    tpr_pts = np.vstack([(pos.size - np.searchsorted(pos, thr, side="left")) / pos.size for pos, _ in parts])
    return {
        "folds": folds,
        "auc_mean": float(aucs.mean()),
        "auc_sd": float(aucs.std(ddof=1)),
        "auc_pooled": auc(y, s),
        "vertical": {"fpr": grid.tolist(), "tpr_mean": tpr_mean.tolist(),
                     "tpr_sd": tpr_mat.std(axis=0, ddof=1).tolist(),
                     "auc": float(np.sum((grid[1:] - grid[:-1]) * (tpr_mean[1:] + tpr_mean[:-1]) / 2))},
        "threshold_average": {"threshold": thr.tolist(), "fpr_mean": fpr_pts.mean(axis=0).tolist(),
                              "fpr_sd": fpr_pts.std(axis=0, ddof=1).tolist(),
                              "tpr_mean": tpr_pts.mean(axis=0).tolist(),
                              "tpr_sd": tpr_pts.std(axis=0, ddof=1).tolist()},
    }
