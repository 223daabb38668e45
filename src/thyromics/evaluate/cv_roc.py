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
* **Cross-validated AUC with an influence-curve CI** (:func:`cv_auc_ci`; LeDell,
  Petersen & van der Laan, Electron J Stat 2015;9:1583-1607, "Computationally
  efficient confidence intervals for cross-validated area under the ROC curve
  estimates", the R package ``cvAUC::ci.cvAUC``). The CV AUC is the mean of the fold
  AUCs; its variance is ``sigma^2 / n`` with ``sigma^2`` the mean over folds of the
  mean squared influence curve of the fold's AUC. It respects the folds (each fold's AUC
  is computed on its own score scale), unlike a DeLong CI on the pooled scores.
* **Metrics of out-of-fold predictions with per-fold thresholds**
  (:func:`cv_threshold_block`): each held-out case is called positive against the
  threshold chosen inside its own outer training part, so no threshold is chosen on
  the predictions it is evaluated on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

import pandas as pd
from scipy.stats import norm, rankdata

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary, as_scores, warn_undefined
from thyromics.evaluate.roc import CONSTANT_SCORE, AUCResult, auc, roc_curve

__all__ = ["cv_roc", "tpr_at_fpr", "cv_auc_ci", "cv_threshold_block", "INFLUENCE_CURVE"]

#: ``auc_ci_method`` of :func:`cv_auc_ci`.
INFLUENCE_CURVE = "influence_curve_cvAUC"


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


def _fold_ic(y: NDArray[np.int8], s: NDArray[np.float64], w1: float, w0: float) -> tuple[float, float]:
    """AUC of one fold and the mean of its squared influence-curve values.

    Case ``i``: ``w1 (F0(s_i) - AUC)`` with ``F0(s_i)`` the fraction of the fold's
    controls below ``s_i`` (ties 1/2); control ``j``: ``w0 (G1(s_j) - AUC)`` with
    ``G1(s_j)`` the fraction of the fold's cases above ``s_j`` (ties 1/2). ``w1``, ``w0``
    are the inverse prevalences of cases and controls in the whole data (LeDell 2015,
    eq. 3.3; ``cvAUC`` counts ties as 0, which is the same without ties).
    """
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    tz = rankdata(np.concatenate([pos, neg]))
    f0 = (tz[:m] - rankdata(pos)) / n          # controls below each case (ties 1/2)
    g1 = 1.0 - (tz[m:] - rankdata(neg)) / m    # cases above each control (ties 1/2)
    a = float(f0.mean())
    ic = np.concatenate([w1 * (f0 - a), w0 * (g1 - a)])
    return a, float(np.mean(ic ** 2))


def cv_auc_ci(y_true: ArrayLike, score: ArrayLike, fold: ArrayLike, *,
              repeat: ArrayLike | None = None, alpha: float = 0.05) -> AUCResult:
    """Cross-validated AUC (mean of the fold AUCs) with its influence-curve CI.

    LeDell, Petersen & van der Laan (2015), as ``cvAUC::ci.cvAUC``:
    ``se = sqrt(mean_v(mean_{i in v} IC_i^2) / n)``, ``cvAUC +/- z_{1-alpha/2} se``,
    bounds clipped to [0, 1]. With repeated cross-validation (``repeat``) the CV AUC and
    the variance are the means of the repeats' (each case once per repeat), a
    conservative choice: averaging over repeats can only reduce the variance.

    Parameters
    ----------
    y_true, score : arrays of shape (N,)
        Labels and out-of-fold scores (higher = positive), one row per prediction.
    fold : array of shape (N,)
        Fold of each prediction; every fold needs both classes.
    repeat : array of shape (N,), optional
        Repeat of each prediction (folds are numbered within a repeat).
    alpha : float
        1 - confidence level.

    Returns
    -------
    AUCResult
        ``method = "influence_curve_cvAUC"``. A fold with a single class, a constant
        score or a zero variance (perfect separation in every fold) give a NaN CI with
        its reason in ``note`` and an ``UndefinedMetricWarning``.
    """
    y = as_binary(y_true)
    s = as_scores(score, n=y.size)
    f = np.asarray(fold)
    r = np.zeros(y.size, dtype=int) if repeat is None else np.asarray(repeat)
    if f.shape != y.shape or r.shape != y.shape:
        raise InputError(f"cv_auc_ci: fold and repeat need one value per prediction ({y.size}).")
    nan = float("nan")
    aucs, variances = [], []
    for rep in sorted(set(r.tolist())):
        in_r = r == rep
        yr, sr, fr = y[in_r], s[in_r], f[in_r]
        n, n_pos = yr.size, int(yr.sum())
        if n_pos in (0, n):
            raise InputError(f"cv_auc_ci: repeat {rep} holds a single class.")
        w1, w0 = n / n_pos, n / (n - n_pos)
        fold_auc, fold_ic = [], []
        for k in sorted(set(fr.tolist())):
            sel = fr == k
            yk = yr[sel]
            if yk.min() == yk.max():
                note = f"fold {k!r} of repeat {rep} holds a single class: its AUC is undefined"
                warn_undefined(f"cross-validated AUC: {note}; AUC and CI reported as NaN.")
                return AUCResult(nan, nan, nan, nan, INFLUENCE_CURVE, alpha, note=note)
            a, ic2 = _fold_ic(yk, sr[sel], w1, w0)
            fold_auc.append(a)
            fold_ic.append(ic2)
        aucs.append(float(np.mean(fold_auc)))
        variances.append(float(np.mean(fold_ic)) / n)
    a, var = float(np.mean(aucs)), float(np.mean(variances))
    if s.min() == s.max():
        warn_undefined(f"{CONSTANT_SCORE}; CI reported as NaN.")
        return AUCResult(a, nan, nan, nan, INFLUENCE_CURVE, alpha, note=CONSTANT_SCORE)
    if var <= 0:
        note = ("the out-of-fold scores separate the classes perfectly in every fold: the "
                "influence-curve variance is 0 and a CI is not estimable")
        warn_undefined(f"{note}; CI reported as NaN.")
        return AUCResult(a, nan, nan, 0.0, INFLUENCE_CURVE, alpha, note=note)
    se = float(np.sqrt(var))
    z = float(norm.ppf(1 - alpha / 2))
    return AUCResult(a, max(0.0, a - z * se), min(1.0, a + z * se), se, INFLUENCE_CURVE, alpha)


def cv_threshold_block(y: ArrayLike, oof: pd.DataFrame, *, threshold_rule: str,
                       alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
                       pooled_threshold: float | None = None,
                       pooled_rule: str = "youden") -> dict:
    """Everything reported for one model's out-of-fold predictions (cohort ``cv``).

    Parameters
    ----------
    y : array of shape (n_cases,)
        Labels of the training cohort, indexed by ``oof["row"]``.
    oof : DataFrame
        One row per prediction: ``row`` (case position), ``repeat``, ``fold``, ``score``
        and, for per-fold thresholds, ``threshold`` (chosen inside the outer training
        part that predicted the row; positive when ``score >= threshold``). Without a
        ``threshold`` column the metrics are taken at ``pooled_threshold``.
    threshold_rule : str
        How the thresholds were chosen, in words (stored as ``threshold_rule``).
    pooled_threshold : float, optional
        The threshold chosen on the pooled out-of-fold scores (mean over repeats) by
        ``pooled_rule``: the metrics there are reported under ``pooled_oof`` and are
        **optimistic** (the threshold was chosen on the very scores it is applied to).

    Returns
    -------
    dict
        The keys of :func:`thyromics.evaluate.summary.score_block`, with: ``auc`` the
        cross-validated AUC (mean of fold AUCs) and its influence-curve CI
        (:func:`cv_auc_ci`); ``auc_pooled`` / ``auc_pooled_ci`` (DeLong on the pooled
        mean scores, which mixes the folds' score scales); metrics from the confusion
        matrix averaged over repeats at the per-fold thresholds; ``threshold`` None and
        ``fold_thresholds`` (one per repeat and fold); calibration of the pooled mean
        scores as validation data (Hosmer-Lemeshow df = groups); and ``pooled_oof``.
    """
    from thyromics.evaluate.metrics import METRICS, confusion_counts, metrics_from_counts
    from thyromics.evaluate.roc import delong_ci
    from thyromics.evaluate.summary import calibration_block

    yy = as_binary(y)
    rows = oof["row"].to_numpy()
    yp = yy[rows]
    scores = oof["score"].to_numpy(dtype=float)
    mean_score = oof.groupby("row")["score"].mean().reindex(range(yy.size)).to_numpy()
    n_rep = int(oof["repeat"].nunique())
    out: dict = {"n": int(yy.size), "n_pos": int(yy.sum())}
    res = cv_auc_ci(yp, scores, oof["fold"].to_numpy(), repeat=oof["repeat"].to_numpy(), alpha=alpha)
    out.update(auc=res.auc, auc_ci=[res.ci_low, res.ci_high], auc_ci_method=res.method,
               auc_se=res.se, auc_ci_note=res.note)
    pooled = delong_ci(yy, mean_score, alpha=alpha)
    out.update(auc_pooled=pooled.auc, auc_pooled_ci=[pooled.ci_low, pooled.ci_high],
               auc_pooled_note="DeLong CI of the pooled out-of-fold scores (mean over repeats); "
                               "pooling mixes the folds' score scales and ignores the folds")
    out["direction"] = "higher"
    out["positive_when"] = "score >= threshold"
    per_fold = "threshold" in oof.columns
    if per_fold:
        thr = oof["threshold"].to_numpy(dtype=float)
        pred = scores >= thr
        c = {"tp": float(np.sum(pred & (yp == 1))), "fp": float(np.sum(pred & (yp == 0))),
             "tn": float(np.sum(~pred & (yp == 0))), "fn": float(np.sum(~pred & (yp == 1)))}
        if n_rep == 1:
            c = {k: int(v) for k, v in c.items()}
        else:
            c = {k: v / n_rep for k, v in c.items()}
        ft = oof.groupby(["repeat", "fold"])["threshold"].first().reset_index()
        out["threshold"] = None
        out["fold_thresholds"] = [{"repeat": int(a), "fold": int(b), "threshold": float(t)}
                                  for a, b, t in ft.itertuples(index=False)]
        out["threshold_rule"] = threshold_rule
        out["threshold_note"] = ("per outer fold: chosen inside the outer training part and "
                                 "applied to the held-out fold (see fold_thresholds)"
                                 + (f"; counts averaged over {n_rep} repeats" if n_rep > 1 else ""))
        m = metrics_from_counts(c, alpha=alpha, n_boot=n_boot, seed=seed, at="the per-fold thresholds")
    else:
        if pooled_threshold is None:
            raise InputError("cv_threshold_block: give per-fold thresholds (a 'threshold' "
                             "column) or pooled_threshold.")
        out["threshold"] = float(pooled_threshold)
        out["threshold_rule"] = threshold_rule
        out["threshold_note"] = ("chosen on the pooled out-of-fold scores it is evaluated on: "
                                 "the metrics are optimistic")
        m = metrics_from_counts(confusion_counts(yy, mean_score, pooled_threshold), alpha=alpha,
                                n_boot=n_boot, seed=seed, at=f"threshold {pooled_threshold!r}")
    for name in METRICS:
        out[name] = {"value": m[name]["value"], "ci": m[name]["ci"], "method": m[name]["method"]}
    out["counts"] = m["counts"]
    if pooled_threshold is not None:
        mp = metrics_from_counts(confusion_counts(yy, mean_score, pooled_threshold), alpha=alpha,
                                 n_boot=n_boot, seed=seed, at=f"threshold {pooled_threshold!r}")
        out["pooled_oof"] = {
            "threshold": float(pooled_threshold),
            "threshold_rule": f"{pooled_rule} on the pooled out-of-fold scores (optimistic)",
            "note": "threshold chosen on the same out-of-fold scores these metrics are computed "
                    "on: optimistic, for comparison with older reports only",
            **{name: {"value": mp[name]["value"], "ci": mp[name]["ci"]} for name in METRICS},
            "counts": mp["counts"]}
    out.update(calibration_block(yy, mean_score, alpha=alpha, sample="validation"))
    return out
