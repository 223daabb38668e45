"""The numbers behind the report's figures, all from :mod:`thyromics.evaluate`.

Every statistic drawn in a figure goes through one function here, so the report meets
the statistics stage in a single place. The only statistic computed here is the
bootstrap band of a ROC curve (the statistics stage offers AUC intervals, not curve
bands); its resampled curves still come from :func:`thyromics.evaluate.roc.roc_curve`.

Conventions (those of the statistics stage): ``y`` is 0/1 (1 = positive, e.g.
malignant), ``score`` is larger for the positive class, and a case is called positive
when ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from thyromics.evaluate.calibration import calibration
from thyromics.evaluate.cv_roc import cv_roc as _cv_roc
from thyromics.evaluate.cv_roc import tpr_at_fpr
from thyromics.evaluate.dca import TREAT_ALL, TREAT_NONE
from thyromics.evaluate.dca import decision_curve as _decision_curve
from thyromics.evaluate.metrics import confusion_counts
from thyromics.evaluate.roc import roc_curve

__all__ = [
    "FPR_GRID",
    "TREAT_ALL",
    "TREAT_NONE",
    "roc_band",
    "cv_roc",
    "calibration_summary",
    "decision_curve",
    "confusion_at",
    "confusion_per_fold",
]

#: Common false-positive-rate grid on which ROC curves are averaged and banded.
FPR_GRID: np.ndarray = np.linspace(0.0, 1.0, 101)


def roc_band(y: np.ndarray, score: np.ndarray, *, grid: np.ndarray = FPR_GRID,
             n_boot: int = 200, level: float = 0.95,
             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve on an FPR grid with a pointwise bootstrap confidence band.

    Cases are resampled with replacement within each class (stratified bootstrap, as
    pROC's ``ci.se`` does); for each resample the TPR is read on the fixed FPR grid,
    and the band is the ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles.

    Parameters
    ----------
    y, score : ndarray
        Outcome (0/1) and score.
    grid : ndarray
        FPR values (0-1) at which the curve and band are given.
    n_boot : int
        Number of bootstrap resamples.
    level : float
        Confidence level.
    seed : int
        Seed of the resampling.

    Returns
    -------
    tpr, low, high : ndarray
        The observed curve's TPR on ``grid`` (top of vertical segments) and the band.

    References
    ----------
    Robin X. et al. (2011) pROC. BMC Bioinformatics 12:77 (``ci.se``).
    """
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    fpr, tpr, _ = roc_curve(y, score)
    observed = tpr_at_fpr(fpr, tpr, grid)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(seed)
    curves = np.empty((n_boot, grid.size))
    for b in range(n_boot):
        idx = np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])
        f, t, _ = roc_curve(y[idx], score[idx])
        curves[b] = tpr_at_fpr(f, t, grid)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(curves, [alpha, 1.0 - alpha], axis=0)
    return observed, low, high


def cv_roc(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """ROC curve averaged over cross-validation folds (and repeats).

    Vertical averaging by :func:`thyromics.evaluate.cv_roc.cv_roc` (mean TPR on the FPR
    grid :data:`FPR_GRID`); the band is the mean +/- one standard deviation across
    folds, clipped to 0-1. Each (repeat, fold) pair counts as one fold.

    Parameters
    ----------
    frame : DataFrame
        Out-of-fold predictions with columns ``y_true``, ``score``, ``fold`` and,
        optionally, ``repeat``.

    Returns
    -------
    mean_tpr, low, high : ndarray
        On :data:`FPR_GRID`.
    auc_mean, auc_sd : float
        Mean and SD of the per-fold AUCs.
    """
    fold = frame["fold"].astype(str)
    if "repeat" in frame:
        fold = frame["repeat"].astype(str) + ":" + fold
    out = _cv_roc(frame["y_true"].to_numpy(), frame["score"].to_numpy(), fold.to_numpy(),
                  grid_points=FPR_GRID.size)
    mean = np.asarray(out["vertical"]["tpr_mean"])
    sd = np.nan_to_num(np.asarray(out["vertical"]["tpr_sd"]))
    return mean, np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1), out["auc_mean"], out["auc_sd"]


def calibration_summary(y: np.ndarray, prob: np.ndarray, *, n_bins: int = 10) -> tuple[pd.DataFrame, dict]:
    """Reliability bins and summary statistics (:func:`thyromics.evaluate.calibration.calibration`).

    Returns
    -------
    bins : DataFrame
        ``n``, ``mean_predicted``, ``observed``, ``observed_ci_low``, ``observed_ci_high``
        (Wilson 95% CI), one row per non-empty quantile bin.
    summary : dict
        ``brier``, ``intercept`` (calibration-in-the-large) and ``slope``.
    """
    res = calibration(y, prob, n_bins=n_bins, strategy="quantile")
    bins = pd.DataFrame(res["bins"])
    ci = np.array([b["observed_ci"] for b in res["bins"]], dtype=float).reshape(-1, 2)
    bins = bins.drop(columns=["observed_ci"]).assign(observed_ci_low=ci[:, 0], observed_ci_high=ci[:, 1])
    return bins, {k: res[k] for k in ("brier", "intercept", "slope")}


def decision_curve(y: np.ndarray, probs: Mapping[str, np.ndarray], *,
                   thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Net benefit of each model, treat-all and treat-none over threshold probabilities.

    From :func:`thyromics.evaluate.dca.decision_curve`: net benefit at threshold
    probability :math:`p_t` is :math:`TP/n - FP/n \\cdot p_t / (1 - p_t)` (Vickers & Elkin
    2006); treat-all and treat-none are the models :data:`TREAT_ALL` and
    :data:`TREAT_NONE`.

    Returns
    -------
    DataFrame
        ``model``, ``threshold``, ``net_benefit``.
    """
    if thresholds is None:
        thresholds = np.round(np.arange(0.01, 1.0, 0.01), 2)
    out = _decision_curve(y, probs, thresholds=thresholds)
    return out[["model", "threshold", "net_benefit"]].reset_index(drop=True)


def confusion_at(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, int]:
    """Counts ``tn``, ``fp``, ``fn``, ``tp`` when ``score >= threshold`` is called positive."""
    c = confusion_counts(y, score, threshold)
    return {k: int(c[k]) for k in ("tn", "fp", "fn", "tp")}


def confusion_per_fold(part: pd.DataFrame) -> dict[str, float]:
    """Counts of out-of-fold predictions, each fold at its own threshold.

    ``part`` has ``y_true``, ``score``, ``fold``, ``threshold`` (the threshold chosen
    inside the outer training part that predicted the row; one per fold) and optionally
    ``repeat``. A row is positive when ``score >= threshold``. The counts are summed over
    the folds and averaged over the repeats, as the ``cv`` metrics of
    :func:`thyromics.evaluate.cv_roc.cv_threshold_block`: integers with one repeat.
    """
    keys = ["repeat", "fold"] if "repeat" in part else ["fold"]
    total = {k: 0 for k in ("tn", "fp", "fn", "tp")}
    for _, g in part.groupby(keys, sort=True):
        thresholds = g["threshold"].unique()
        if thresholds.size != 1:
            raise ValueError(f"fold {g['fold'].iloc[0]} has {thresholds.size} thresholds; expected one")
        c = confusion_counts(g["y_true"].to_numpy(), g["score"].to_numpy(), float(thresholds[0]))
        total = {k: total[k] + c[k] for k in total}
    n_rep = int(part["repeat"].nunique()) if "repeat" in part else 1
    return total if n_rep == 1 else {k: v / n_rep for k, v in total.items()}
