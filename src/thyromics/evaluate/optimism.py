"""Optimism-corrected bootstrap validation (Harrell; ``rms::validate``).

Efron's optimism bootstrap as Harrell, Lee & Mark (Stat Med 1996;15:361) and
``rms::validate(fit, method = "boot", B)`` compute it:

1. the *apparent* index of the model fitted on all ``n`` cases, on those cases;
2. for ``b = 1..B``: draw ``n`` cases with replacement (whole patients when ``groups``
   is given, as ``validate(..., cluster =)``), refit every step of the model on the
   sample, and compute the index on the sample (*training*) and on the original cases
   (*test*);
3. ``optimism = mean_b(training - test)`` and ``corrected = apparent - optimism``.

Indices, from predicted probabilities ``p`` and their logits ``lp``:

* ``auc``: the concordance index C (ties 1/2), ``= Dxy / 2 + 1/2`` of rms;
* ``dxy``: Somers' ``Dxy = 2 (C - 1/2)``, rms' headline index;
* ``intercept``, ``slope``: the logistic recalibration ``logit P(y=1) = a + b lp`` (rms
  "Intercept" and "Slope"). For a maximum-likelihood logistic model they are exactly 0
  and 1 on its own training data, which is what rms writes for the training rows; for any
  other model they are fitted (they need not be 0 and 1);
* ``brier``: ``mean((p - y)^2)`` (rms "B").

Probabilities of exactly 0 or 1 (trees) are clipped to ``[1e-8, 1 - 1e-8]`` before the
logit. Bootstrap samples with a single class, or whose fit fails, are skipped and
counted (rms does the same); ``n_boot`` is the number used. :func:`optimism_from_fits`
gives the same summary from refits made elsewhere (the model stage runs them as tasks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from thyromics.errors import InputError
from thyromics.evaluate._checks import as_binary, warn_undefined
from thyromics.evaluate.calibration import _logistic

__all__ = ["INDEXES", "validation_indexes", "bootstrap_indices", "optimism_bootstrap",
           "optimism_from_fits"]

#: Indices reported by :func:`optimism_bootstrap`, in order.
INDEXES: tuple[str, ...] = ("auc", "dxy", "intercept", "slope", "brier")

FitPredict = Callable[[NDArray[np.intp]], Callable[[NDArray[np.intp]], NDArray[np.float64]]]
#: One bootstrap refit: its sample (positions), probabilities on the sample and on all cases.
BootFit = tuple[ArrayLike, ArrayLike, ArrayLike]

_EPS = 1e-8


def validation_indexes(y: ArrayLike, p: ArrayLike) -> dict[str, float]:
    """``auc, dxy, intercept, slope, brier`` of probabilities ``p`` (see module notes)."""
    yy = as_binary(y).astype(float)
    pp = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    n1 = yy.sum()
    n0 = yy.size - n1
    nan = float("nan")
    if n1 == 0 or n0 == 0:
        return {"auc": nan, "dxy": nan, "intercept": nan, "slope": nan,
                "brier": float(np.mean((pp - yy) ** 2))}
    r = rankdata(pp)
    c = float((r[yy == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    lp = np.log(pp / (1 - pp))
    with np.errstate(over="ignore"):
        a, b = _logistic(yy, lp, np.zeros_like(lp))
    return {"auc": c, "dxy": 2 * c - 1, "intercept": float(a), "slope": float(b),
            "brier": float(np.mean((pp - yy) ** 2))}


def bootstrap_indices(n: int, n_boot: int, seed: int, groups: ArrayLike | None = None) -> list[NDArray[np.intp]]:
    """``n_boot`` bootstrap samples of row positions (``numpy.random.default_rng(seed)``).

    Without ``groups``: ``n`` rows with replacement. With ``groups``: as many patients
    as there are, with replacement, each bringing all its rows.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        return [rng.integers(0, n, size=n) for _ in range(n_boot)]
    g = np.asarray(groups)
    keys, inv = np.unique(g, return_inverse=True)
    rows = [np.flatnonzero(inv == k) for k in range(keys.size)]
    out = []
    for _ in range(n_boot):
        pick = rng.integers(0, keys.size, size=keys.size)
        out.append(np.concatenate([rows[k] for k in pick]))
    return out


def optimism_bootstrap(fit_predict: FitPredict, y: ArrayLike, *, n_boot: int = 200, seed: int = 0,
                       groups: ArrayLike | None = None,
                       indices: Sequence[ArrayLike] | None = None) -> dict[str, Any]:
    """Optimism-corrected AUC, calibration intercept/slope and Brier score.

    Parameters
    ----------
    fit_predict : callable
        ``fit_predict(rows)`` fits the whole model (every step) on the cases at positions
        ``rows`` (with repeats) and returns ``predict(rows) -> probabilities``.
    y : array of shape (n,)
        Binary outcome of the ``n`` cases.
    n_boot, seed : int
        Bootstrap samples and the seed of :func:`bootstrap_indices`.
    groups : array of shape (n,), optional
        Patient of each case: patients are resampled.
    indices : sequence of arrays, optional
        Explicit bootstrap samples (0-based positions), e.g. the ones R drew, instead of
        ``n_boot`` / ``seed`` / ``groups``.

    Returns
    -------
    dict
        ``{index: {"apparent", "training", "test", "optimism", "corrected"}}`` for each
        of :data:`INDEXES`, plus ``n_boot`` (used), ``n_failed`` and ``method``.
    """
    yy = as_binary(y)
    n = yy.size
    every = np.arange(n)
    samples = ([np.asarray(i, dtype=np.intp) for i in indices] if indices is not None
               else bootstrap_indices(n, n_boot, seed, groups))
    if not samples:
        raise InputError("optimism_bootstrap: give n_boot >= 1 (or indices).")
    apparent = fit_predict(every)(every)
    fits: list[BootFit | None] = []
    for rows in samples:
        if yy[rows].min() == yy[rows].max():
            fits.append(None)
            continue
        try:
            predict = fit_predict(rows)
            fits.append((rows, predict(rows), predict(every)))
        except (ValueError, np.linalg.LinAlgError):
            fits.append(None)
    return optimism_from_fits(yy, apparent, fits,
                              patients=groups is not None and indices is None)


def optimism_from_fits(y: ArrayLike, apparent: ArrayLike, fits: Sequence[BootFit | None], *,
                       patients: bool = False) -> dict[str, Any]:
    """The optimism summary of :func:`optimism_bootstrap` from bootstrap fits made elsewhere.

    Parameters
    ----------
    y : array of shape (n,)
        Binary outcome of the original ``n`` cases.
    apparent : array of shape (n,)
        Probabilities of the model fitted on all cases, on those cases.
    fits : sequence
        One entry per bootstrap sample: ``(rows, p_rows, p_all)``, the sample's positions,
        the refit's probabilities on the sample and on the ``n`` original cases; or
        ``None`` for a sample that was skipped (a single class, or its fit failed).
    patients : bool
        Whether whole patients were resampled (said in ``method``).

    Returns
    -------
    dict
        As :func:`optimism_bootstrap`.
    """
    yy = as_binary(y)
    app = validation_indexes(yy, apparent)
    train, test = [], []
    failed = 0
    for fit in fits:
        if fit is None:
            failed += 1
            continue
        rows, p_rows, p_all = fit
        rows = np.asarray(rows, dtype=np.intp)
        if yy[rows].min() == yy[rows].max():
            failed += 1
            continue
        try:
            tr = validation_indexes(yy[rows], p_rows)
            te = validation_indexes(yy, p_all)
        except (ValueError, np.linalg.LinAlgError):
            failed += 1
            continue
        train.append([tr[k] for k in INDEXES])
        test.append([te[k] for k in INDEXES])
    if failed:
        warn_undefined(f"optimism bootstrap: {failed} of {len(fits)} samples skipped "
                       "(a single class, or the fit failed).")
    tr_m = np.nanmean(np.array(train), axis=0) if train else np.full(len(INDEXES), np.nan)
    te_m = np.nanmean(np.array(test), axis=0) if test else np.full(len(INDEXES), np.nan)
    out: dict[str, Any] = {}
    for i, k in enumerate(INDEXES):
        opt = float(tr_m[i] - te_m[i])
        out[k] = {"apparent": app[k], "training": float(tr_m[i]), "test": float(te_m[i]),
                  "optimism": opt, "corrected": app[k] - opt}
    out["n_boot"] = len(train)
    out["n_failed"] = failed
    out["method"] = ("optimism bootstrap (Harrell 1996; rms::validate), "
                     + ("patients resampled" if patients else "cases resampled"))
    return out
