"""ComBat harmonisation fitted inside the folds (Johnson et al. 2007; Fortin et al. 2018).

Scanner or centre differences are removed per feature by the location/scale model of
Johnson, Li & Rabinovic (Biostatistics 2007;8:118), with biological covariates kept in
the design as Fortin et al. did for imaging (NeuroImage 2018;167:104)::

    y_ij = alpha + X_ij beta + gamma_i + delta_i e_ij        (batch i, case j)

``alpha``, ``beta`` by least squares on batch indicators and covariates, the pooled
variance ``sigma^2`` = mean squared residual; the standardised data
``z = (y - alpha - X beta) / sigma`` give per-batch ``gamma_hat`` (means) and
``delta_hat`` (variances), shrunk by parametric empirical Bayes (normal prior on gamma,
inverse-gamma on delta, both fitted across features within the batch; the iteration of
``sva``'s ``it.sol`` to a relative change below 1e-4); then
``y* = sigma (z - gamma*_i) / sqrt(delta*_i) + alpha + X beta``. With a reference
batch (``sva``'s ``ref.batch``) alpha and sigma are that batch's and its cases are left
unchanged. The computation follows R's ``sva::ComBat`` (3.46) step by step and is
checked against it (``tests/fixtures/combat/make_reference.R``).

Why our own: ``neuroHarmonize`` needs ``numpy < 2`` (our pin is 2.4); ``combatlearn``
2.3 installs, but its parametric prior pools each feature across batches instead of
each batch across features (not Johnson's model; it does not reproduce
``sva::ComBat``), and it binds the batch labels to the estimator at construction, so a
saved model cannot score new cases.

:class:`ComBatHarmonizer` is the pipeline step: it reads the batch (and covariate)
columns from the input frame, so cross-validation fits it on each training part and
applies it unchanged to the test part and to other cohorts. A batch seen only at
prediction time (a new hospital) is refused (``unseen="refuse"``), or, with a
``reference_batch`` and ``unseen="reference"``, passed through unchanged: the model
was trained on data mapped onto the reference batch, and a new batch is taken to be on
that scale, which a warning says.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["ComBatParams", "combat_fit", "combat_apply", "combat", "ComBatHarmonizer",
           "HarmonizationWarning", "covariate_design", "batch_f_statistics",
           "harmonization_leak_check", "BATCH_NAME_PATTERNS"]


class HarmonizationWarning(ThyromicsWarning):
    """ComBat ran in a reduced form, or cases of an unseen batch were left unadjusted."""


@dataclass(frozen=True)
class ComBatParams:
    """A fitted ComBat model (arrays over features unless said)."""

    batches: tuple[str, ...]
    grand_mean: np.ndarray
    beta: np.ndarray  # (n covariate columns, features)
    var_pooled: np.ndarray
    gamma_star: np.ndarray  # (batches, features)
    delta_star: np.ndarray  # (batches, features)
    adjusted: np.ndarray  # bool: features with variance in every batch (the others pass)
    reference: str | None
    mean_only: bool
    covariates_kept: np.ndarray  # bool per covariate column given (all-ones columns dropped)


def covariate_design(frame: pd.DataFrame | None, columns: Sequence[str],
                     levels: dict[str, list[str]] | None = None
                     ) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Covariate columns as R's ``model.matrix`` codes them (intercept dropped).

    Numbers stay as they are; text columns get treatment contrasts: one 0/1 column per
    level but the first (levels sorted as R sorts factor levels, or ``levels`` fitted
    before). Returns ``(matrix, levels)``.
    """
    n = 0 if frame is None else len(frame)
    if not columns:
        return np.zeros((n, 0)), {}
    parts, fitted = [], dict(levels or {})
    for c in columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            parts.append(s.to_numpy(dtype=float)[:, None])
            continue
        values = s.astype(str)
        lv = fitted.setdefault(c, sorted(values.unique()))
        parts.append(np.column_stack([(values == v).to_numpy(float) for v in lv[1:]])
                     if len(lv) > 1 else np.zeros((n, 0)))
    return np.hstack(parts), fitted


def _lstsq_nan(design: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Least squares per feature on its non-missing rows (``sva``'s ``Beta.NA``)."""
    ok = np.isfinite(data)
    full = ok.all(axis=0)
    beta = np.full((design.shape[1], data.shape[1]), np.nan)
    if full.any():
        beta[:, full] = np.linalg.solve(design.T @ design, design.T @ data[:, full])
    for j in np.flatnonzero(~full):
        rows = ok[:, j]
        beta[:, j] = np.linalg.lstsq(design[rows], data[rows, j], rcond=None)[0]
    return beta


def _it_sol(sdat: np.ndarray, g_hat: np.ndarray, d_hat: np.ndarray, g_bar: float, t2: float,
            a: float, b: float, conv: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """``sva:::it.sol``: the parametric EB fixed point, with its stopping rule as written
    (``max(|g_new - g_old| / g_old, |d_new - d_old| / d_old) <= conv``)."""
    n = np.isfinite(sdat).sum(axis=0)
    g_old, d_old = g_hat, d_hat
    for _ in range(10000):
        g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
        sum2 = np.nansum((sdat - g_new) ** 2, axis=0)
        d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.nanmax(np.concatenate([np.abs(g_new - g_old) / g_old,
                                               np.abs(d_new - d_old) / d_old]))
        g_old, d_old = g_new, d_new
        if not change > conv:
            return g_new, d_new
    raise InputError("ComBat's empirical Bayes iteration did not converge in 10,000 steps")


def combat_fit(data: np.ndarray, batch: Sequence, covariates: np.ndarray | None = None, *,
               reference: str | None = None, mean_only: bool = False) -> ComBatParams:
    """Fit ComBat on ``data`` (cases x features), as ``sva::ComBat(t(data), batch, mod)``.

    Parameters
    ----------
    data : array (n, p)
        Features; NaN allowed (each feature uses its own cases).
    batch : sequence of n labels
    covariates : array (n, q), optional
        Biological covariates to keep, coded as :func:`covariate_design` does (no
        intercept).
    reference : str, optional
        Reference batch: alpha and sigma are its own and its cases stay unchanged.
    mean_only : bool
        Adjust the location only (forced, with a warning, when a batch has one case).

    Raises
    ------
    InputError
        Fewer than 2 features or 2 batches, an unknown reference batch, or a covariate
        confounded with batch.
    """
    y = np.asarray(data, dtype=np.float64)
    labels = np.asarray([str(b) for b in batch], dtype=object)
    if y.ndim != 2 or y.shape[0] != len(labels):
        raise InputError(f"ComBat needs a (cases x features) table with one batch per case; "
                         f"found {y.shape} and {len(labels)} batch label(s)")
    levels = tuple(sorted(set(labels)))
    if len(levels) < 2:
        raise InputError(f"ComBat needs at least 2 batches; found {list(levels)}")
    if y.shape[1] < 2:
        raise InputError("ComBat's empirical Bayes priors pool features: it needs at least 2")
    if reference is not None and str(reference) not in levels:
        raise InputError(f"reference batch {reference!r} is not among the batches {list(levels)}")
    ref = None if reference is None else levels.index(str(reference))
    n, nb = len(labels), len(levels)
    groups = [np.flatnonzero(labels == lv) for lv in levels]
    sizes = np.array([len(g) for g in groups], dtype=float)
    if (sizes == 1).any() and not mean_only:
        warnings.warn(f"a batch has a single case ({[lv for lv, s in zip(levels, sizes) if s == 1]}): "
                      "ComBat adjusts the location only (sva's mean.only)", HarmonizationWarning,
                      stacklevel=2)
        mean_only = True
    variable = np.ones(y.shape[1], dtype=bool)  # sva leaves features constant in a batch alone
    finite = np.isfinite(y)
    for g in groups:  # and a feature with under 2 values in a batch cannot be estimated
        counts = finite[g].sum(axis=0)
        variable &= counts >= min(2, len(g))
        if len(g) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                variable &= ~(np.nanvar(y[g], axis=0, ddof=1) == 0)
    if variable.sum() < 2:
        raise InputError(f"ComBat needs at least 2 features with values that vary in every "
                         f"batch; found {int(variable.sum())}")
    ya = y[:, variable]
    batchmod = np.column_stack([(labels == lv).astype(float) for lv in levels])
    if ref is not None:
        batchmod[:, ref] = 1.0
    cov = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=float)
    if cov.ndim == 1:
        cov = cov[:, None]
    kept = ~(cov == 1).all(axis=0) if len(cov) else np.ones(cov.shape[1], dtype=bool)
    cov = cov[:, kept]  # an intercept (or a covariate constant at 1) is dropped, as sva does
    design = np.hstack([batchmod, cov])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise InputError("a covariate is confounded with batch (or the covariates with each "
                         "other): the design is singular. Remove that covariate.")
    b_hat = _lstsq_nan(design, ya)
    if ref is not None:
        grand = b_hat[ref]
        resid = ya[groups[ref]] - design[groups[ref]] @ b_hat
    else:
        grand = (sizes / n) @ b_hat[:nb]
        resid = ya - design @ b_hat
    var_pooled = np.nanmean(resid ** 2, axis=0)
    beta = b_hat[nb:]
    stand = grand + cov @ beta
    s_data = (ya - stand) / np.sqrt(var_pooled)
    bdesign = design[:, :nb]
    gamma_hat = _lstsq_nan(bdesign, s_data)
    delta_hat = np.vstack([np.ones(ya.shape[1]) if mean_only else
                           np.nanvar(s_data[g], axis=0, ddof=1) for g in groups])
    gamma_star = np.empty_like(gamma_hat)
    delta_star = np.empty_like(delta_hat)
    for i, g in enumerate(groups):
        g_bar, t2 = gamma_hat[i].mean(), gamma_hat[i].var(ddof=1)
        if mean_only:
            gamma_star[i] = (t2 * gamma_hat[i] + g_bar) / (t2 + 1.0)
            delta_star[i] = 1.0
            continue
        m, s2 = delta_hat[i].mean(), delta_hat[i].var(ddof=1)
        a, b = (2 * s2 + m ** 2) / s2, (m * s2 + m ** 3) / s2
        gamma_star[i], delta_star[i] = _it_sol(s_data[g], gamma_hat[i], delta_hat[i],
                                               g_bar, t2, a, b)
    if ref is not None:
        gamma_star[ref], delta_star[ref] = 0.0, 1.0
    p = y.shape[1]

    def widen(a: np.ndarray, fill: float) -> np.ndarray:
        out = np.full(a.shape[:-1] + (p,), fill)
        out[..., variable] = a
        return out

    return ComBatParams(batches=levels, grand_mean=widen(grand, 0.0), beta=widen(beta, 0.0),
                        var_pooled=widen(var_pooled, 1.0), gamma_star=widen(gamma_star, 0.0),
                        delta_star=widen(delta_star, 1.0), adjusted=variable,
                        reference=None if ref is None else levels[ref], mean_only=mean_only,
                        covariates_kept=kept)


def combat_apply(params: ComBatParams, data: np.ndarray, batch: Sequence,
                 covariates: np.ndarray | None = None, *,
                 unseen: Literal["refuse", "reference"] = "refuse") -> np.ndarray:
    """Harmonise ``data`` with a fitted model (no parameter is re-estimated).

    Cases of the reference batch, and features left alone at fit, are returned as they
    are; NaN stays NaN.

    Raises
    ------
    InputError
        A batch the model has not seen, unless ``unseen="reference"`` and the model has
        a reference batch (those cases are then left unchanged, with a warning).
    """
    y = np.asarray(data, dtype=np.float64)
    labels = np.asarray([str(b) for b in batch], dtype=object)
    new = sorted(set(labels) - set(params.batches))
    if new:
        counts = {b: int((labels == b).sum()) for b in new}
        if unseen != "reference" or params.reference is None:
            raise InputError(
                f"batch(es) {counts} (cases) were not in the data ComBat was fitted on "
                f"({list(params.batches)}); their shift cannot be estimated without fitting on "
                "those cases, which would leak them. Fit with a reference batch and let new "
                "batches pass unchanged (reference_batch=..., unseen='reference'; CLI "
                "--harmonize-reference REF --harmonize-unseen reference), or include training "
                "cases from that centre.")
        warnings.warn(f"batch(es) {counts} were not seen when ComBat was fitted: their cases are "
                      f"left unadjusted, as if on the scale of the reference batch "
                      f"{params.reference!r}", HarmonizationWarning, stacklevel=2)
    cov = np.zeros((len(y), 0)) if covariates is None else np.asarray(covariates, dtype=float)
    if cov.ndim == 1:
        cov = cov[:, None]
    if cov.shape[1] != len(params.covariates_kept):
        raise InputError(f"ComBat was fitted with {len(params.covariates_kept)} covariate "
                         f"column(s), {cov.shape[1]} given")
    cov = cov[:, params.covariates_kept]
    stand = params.grand_mean + cov @ params.beta
    sd = np.sqrt(params.var_pooled)
    out = y.copy()
    for i, lv in enumerate(params.batches):
        rows = labels == lv
        if not rows.any() or lv == params.reference:
            continue
        z = (y[rows] - stand[rows]) / sd
        adj = (z - params.gamma_star[i]) / np.sqrt(params.delta_star[i]) * sd + stand[rows]
        out[rows] = np.where(params.adjusted, adj, y[rows])
    return out


def combat(data: np.ndarray, batch: Sequence, covariates: np.ndarray | None = None, *,
           reference: str | None = None, mean_only: bool = False) -> np.ndarray:
    """Fit and apply on the same cases: ``t(sva::ComBat(t(data), batch, mod, ref.batch))``.

    For exploration and checking only: a table harmonised this way before modelling has
    seen its test cases (use ``thyromics model --harmonize COLUMN``).
    """
    params = combat_fit(data, batch, covariates, reference=reference, mean_only=mean_only)
    return combat_apply(params, data, batch, covariates)


class ComBatHarmonizer(TransformerMixin, BaseEstimator):
    """Pipeline step: ComBat on ``features`` with the batch read from column ``batch``.

    Parameters
    ----------
    batch : str
        Column of the centre / scanner.
    features : sequence of str
        Columns harmonised (the radiomics ones); every other column passes unchanged.
    covariates : sequence of str
        Biological covariates kept (age, sex ...; never the outcome, which test cases
        do not have).
    reference_batch : str or None
    unseen : {"refuse", "reference"}
        What to do with a batch absent when fitting (see the module docstring).
    mean_only : bool

    Attributes
    ----------
    params_ : ComBatParams
    covariate_levels_ : dict
    """

    def __init__(self, *, batch: str, features: Sequence[str] = (),
                 covariates: Sequence[str] = (), reference_batch: str | None = None,
                 unseen: Literal["refuse", "reference"] = "refuse",
                 mean_only: bool = False) -> None:
        self.batch = batch
        self.features = features
        self.covariates = covariates
        self.reference_batch = reference_batch
        self.unseen = unseen
        self.mean_only = mean_only

    def _check(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise InputError("the harmonisation step needs a table with named columns")
        missing = [c for c in (self.batch, *self.covariates) if c not in X.columns]
        if missing:
            raise InputError(f"column(s) {missing} needed for harmonisation are not in the "
                             f"table (the batch column {self.batch!r} and the covariates)")
        if X[self.batch].isna().any():
            raise InputError(f"{int(X[self.batch].isna().sum())} case(s) have no value in the "
                             f"batch column {self.batch!r}; every case needs its centre/scanner")
        return X

    def fit(self, X, y=None):
        X = self._check(X)
        cov, self.covariate_levels_ = covariate_design(X, list(self.covariates))
        self.features_ = [c for c in self.features if c in X.columns]
        self.params_ = combat_fit(X[self.features_].to_numpy(dtype=float),
                                  X[self.batch].astype(str).to_numpy(), cov,
                                  reference=self.reference_batch, mean_only=self.mean_only)
        return self

    def transform(self, X):
        X = self._check(X)
        cov, _ = covariate_design(X, list(self.covariates), self.covariate_levels_)
        out = X.copy()
        out[self.features_] = combat_apply(self.params_, X[self.features_].to_numpy(dtype=float),
                                           X[self.batch].astype(str).to_numpy(), cov,
                                           unseen=self.unseen)
        return out

    def get_feature_names_out(self, input_features=None):
        return np.asarray(input_features if input_features is not None else [], dtype=object)


#: Column names that suggest a centre / scanner (checked by :func:`harmonization_leak_check`).
BATCH_NAME_PATTERNS: tuple[str, ...] = ("*centre*", "*center*", "*site*", "*scanner*",
                                        "*hospital*", "*institution*", "*vendor*",
                                        "*manufacturer*", "*batch*")


def batch_f_statistics(features: np.ndarray, batch: Sequence, y: np.ndarray | None = None
                       ) -> np.ndarray:
    """Per feature, the F statistic of the batch term given the outcome.

    The partial F test of ``feature ~ 1 + y + batch`` against ``feature ~ 1 + y`` (on the
    cases with a value). Honest data give ``F`` of about 1 or more (batch means differ at
    least by sampling noise); data harmonised on these very cases give ``F`` far below 1.
    """
    x = np.asarray(features, dtype=float)
    labels = np.asarray([str(b) for b in batch], dtype=object)
    levels = sorted(set(labels))
    base = [np.ones(len(labels))] + ([np.asarray(y, dtype=float)] if y is not None else [])
    d0 = np.column_stack(base)
    d1 = np.column_stack(base + [(labels == lv).astype(float) for lv in levels[1:]])
    out = np.full(x.shape[1], np.nan)
    ok = np.isfinite(x)
    for key in {ok[:, j].tobytes() for j in range(x.shape[1])}:
        rows = np.frombuffer(key, dtype=bool)
        cols = np.flatnonzero((ok == rows[:, None]).all(axis=0))
        n, q = int(rows.sum()), d1.shape[1]
        if n <= q + 1 or np.linalg.matrix_rank(d1[rows]) < q:
            continue
        xs = x[rows][:, cols]
        rss0 = ((xs - d0[rows] @ np.linalg.lstsq(d0[rows], xs, rcond=None)[0]) ** 2).sum(axis=0)
        rss1 = ((xs - d1[rows] @ np.linalg.lstsq(d1[rows], xs, rcond=None)[0]) ** 2).sum(axis=0)
        df1, df2 = q - d0.shape[1], n - q
        with np.errstate(divide="ignore", invalid="ignore"):
            out[cols] = ((rss0 - rss1) / df1) / (rss1 / df2)
    return out


def harmonization_leak_check(frame: pd.DataFrame, features: Sequence[str], y: np.ndarray, *,
                             columns: Sequence[str] = (), max_mean_f: float = 0.5,
                             warn: bool = True) -> pd.DataFrame:
    """Flag a table that looks harmonised on these cases already (outside the folds).

    For every candidate batch column (``columns`` plus the columns whose names match
    :data:`BATCH_NAME_PATTERNS`, with 2 to 20 values of at least 3 cases each), the
    mean over ``features`` of :func:`batch_f_statistics` (batch term given the outcome,
    each capped at 10) is compared with ``max_mean_f``. Honest multi-centre data have
    batch means at least as different as sampling noise makes them: the mean F is about
    1 with no centre effect at all, and far larger with one. ComBat fitted on these very
    cases removes the sampling noise of the batch means too, leaving each feature's F
    at most about 1/4 (the empirical Bayes shrinkage keeps ``(n t2)/(n t2 + delta)^2``
    of it); per-centre standardisation leaves 0. A model cross-validated on such a
    table has seen its test folds. It is a warning, not a proof: a table with no centre
    effect and only a few independent features can reach it by chance.

    Returns the flagged columns as leakage rows (``column, auc, separation, reason``;
    ``separation`` holds the mean F) and warns with a
    :class:`~thyromics.models.cv.LeakageWarning` naming them.
    """
    import fnmatch

    from thyromics.models.cv import LeakageWarning

    cands = list(dict.fromkeys([*columns, *[c for c in frame.columns if any(
        fnmatch.fnmatchcase(str(c).lower(), p) for p in BATCH_NAME_PATTERNS)]]))
    feats = [f for f in features if f in frame.columns and f not in cands]
    rows = []
    for c in cands:
        if c not in frame.columns or len(feats) < 2:
            continue
        values = frame[c]
        counts = values.astype(str)[values.notna()].value_counts()
        if not 2 <= len(counts) <= 20 or counts.min() < 3:
            continue
        keep = values.notna().to_numpy()
        f = batch_f_statistics(frame.loc[keep, feats].to_numpy(dtype=float),
                               values[keep].astype(str).to_numpy(), np.asarray(y)[keep])
        mean = float(np.nanmean(np.minimum(f, 10.0))) if np.isfinite(f).any() else np.nan
        if np.isfinite(mean) and mean < max_mean_f:
            rows.append({"column": c, "auc": np.nan, "separation": mean,
                         "reason": f"features already harmonised across {c!r} (mean batch F "
                                   f"{mean:.3g} < {max_mean_f}): fitted outside the folds"})
    table = pd.DataFrame(rows, columns=["column", "auc", "separation", "reason"])
    if warn and len(table):
        shown = "; ".join(f"{r.column!r} (mean F {r.separation:.3g})" for r in table.itertuples())
        warnings.warn(f"possible leakage: the features look harmonised across {shown} on these "
                      "very cases (centre differences far below sampling noise), i.e. ComBat or "
                      "per-centre scaling was fitted on all cases, test folds included. Give the "
                      "raw feature table and --harmonize COLUMN, which fits ComBat inside each "
                      "training fold.", LeakageWarning, stacklevel=2)
    return table
