"""Univariable screen and multivariable binary logistic regression (statsmodels).

* Model: ``logit P(y = 1) = b0 + x . b``, fitted by unpenalised maximum likelihood
  (``statsmodels.api.Logit``, Newton-Raphson), as R's ``glm(family = binomial)``.
* Odds ratio ``OR = exp(b)``; 95% Wald interval ``exp(b ± z_0.975 SE)`` (R's
  ``confint.default``; ``ci="wald"``, default) or the profile-likelihood interval
  (``ci="profile"``, R's ``confint`` on a ``glm``; see :mod:`thyromics.stats._likelihood`),
  which is the better one in small samples and for ORs far from 1; Wald p-value
  ``2 (1 - Phi(|b / SE|))``; ``AIC = -2 log L + 2 k`` (R's ``AIC(glm)``). The ``ci``
  column of the table names the interval.
* ``firth=True``: Firth's penalised likelihood (R ``brglm2``, ``type = "AS_mean"``),
  whose estimates stay finite under separation; Wald intervals and p-values from its
  standard errors. AIC and log-likelihood are then those of the penalised fit.
* Categorical predictors (non-numeric columns, or those listed in ``categorical``) are
  treatment-coded: one 0/1 term per level against a reference level, named in the
  ``reference`` column. Default reference: the first level in sorted order (R's
  ``factor`` default: numbers in numeric order, so levels 1, 2, 10 have reference 1 and
  are labelled ``1``, ``2``, ``10``, not ``1.0``); ``reference={"grade": "low"}``
  overrides. Numeric and boolean columns enter as numbers (one OR per unit).
* Missing values: complete cases on the outcome and the model's predictors; the number
  of rows dropped is reported (``n_dropped``).
* Variance inflation factors: for each non-intercept column ``j`` of the design,
  ``VIF_j = 1 / (1 - R_j^2)`` with ``R_j^2`` from the least-squares regression of column
  ``j`` on all other columns *including the intercept* (statsmodels
  ``variance_inflation_factor`` on the design *with* its constant column; the VIF of the
  constant itself is not reported). Leaving the constant out would give uncentred R^2 and
  wrong VIFs. For a categorical predictor one VIF per dummy is given. Beside it, per
  predictor, the generalised VIF of the fitted model (``gvif``, ``gvif_df``,
  ``gvif_adj = GVIF^(1/(2 df))``) as R's ``car::vif`` on the ``glm``, which is the number
  to report for a categorical predictor.
* Separation is checked before fitting (:mod:`thyromics.stats._separation`); terms with
  infinite estimates get NaN OR/CI/p and the finding in words in ``note`` and
  :attr:`LogisticResult.separation`, with a :class:`SeparationWarning`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning, did_you_mean
from thyromics.stats._separation import SeparationReport, detect_separation

__all__ = ["LogisticResult", "SeparationWarning", "SeparationReport", "univariable",
           "multivariable", "CI_METHODS"]

_COLUMNS = ["term", "variable", "level", "reference", "coef", "se", "OR", "ci_low",
            "ci_high", "p"]
CI_METHODS = ("wald", "profile")


class SeparationWarning(ThyromicsWarning):
    """The data separate the outcome: some odds ratios are infinite and not reported."""


@dataclass(frozen=True)
class LogisticResult:
    """A fitted multivariable logistic model.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term (intercept first): ``term, variable, level, reference, coef,
        se, OR, ci_low, ci_high, p, vif, note``.
    outcome : str
    predictors : tuple of str
    n, events : int
        Cases used and, of them, cases with outcome 1.
    n_dropped : int
        Rows left out for missing values (complete-case analysis).
    aic, log_likelihood : float
    converged : bool
    separation : SeparationReport or None
    """

    table: pd.DataFrame
    outcome: str
    predictors: tuple[str, ...]
    n: int
    events: int
    n_dropped: int
    aic: float
    log_likelihood: float
    converged: bool
    separation: SeparationReport | None = None
    ci: str = "wald"
    method: str = "maximum likelihood"

    @property
    def vif(self) -> pd.Series:
        """VIF per non-intercept term."""
        t = self.table[self.table["term"] != "const"]
        return pd.Series(t["vif"].to_numpy(), index=t["term"].to_numpy(), name="vif")


def _binary_outcome(s: pd.Series, name: str, event: object | None) -> pd.Series:
    vals = set(s.dropna().unique().tolist())
    if event is not None:
        if event not in vals:
            raise InputError(f"event {event!r} is not a value of outcome {name!r} "
                             f"(values: {sorted(map(str, vals))})")
        return (s == event).astype(float).where(s.notna())
    if vals <= {0, 1} or vals <= {True, False}:
        if len(vals) < 2:
            raise InputError(f"outcome {name!r} has only one class ({vals}); logistic "
                             "regression needs both 0 and 1")
        return s.astype(float)
    raise InputError(f"outcome {name!r} must be 0/1 or boolean, found values "
                     f"{sorted(map(str, vals))[:10]}; recode it or pass event=<value of "
                     "the positive class>")


def _design(frame: pd.DataFrame, outcome: str, predictors: list[str],
            categorical: set[str], reference: dict, event: object | None):
    missing = [c for c in [outcome, *predictors] if c not in frame.columns]
    if missing:
        raise InputError("columns not in the table: " + "; ".join(
            f"{m!r}" + did_you_mean(m, frame.columns) for m in missing))
    for r in reference:
        if r not in predictors:
            raise InputError(f"reference given for {r!r}, which is not a predictor")
    used = frame[[outcome, *predictors]]
    complete = used.notna().all(axis=1)
    data = used.loc[complete]
    y = _binary_outcome(data[outcome], outcome, event).to_numpy()
    cols: dict[str, np.ndarray] = {"const": np.ones(len(data))}
    meta: list[dict] = [{"term": "const", "variable": "", "level": "", "reference": ""}]
    describe: dict[str, str] = {}
    for var in predictors:
        s = data[var]
        is_cat = var in categorical or not (pd.api.types.is_numeric_dtype(s)
                                            or pd.api.types.is_bool_dtype(s))
        if not is_cat:
            cols[var] = s.astype(float).to_numpy()
            meta.append({"term": var, "variable": var, "level": "", "reference": ""})
            x, ys = cols[var], y
            if len(np.unique(ys)) == 2 and (x[ys == 1].min() >= x[ys == 0].max()
                                             or x[ys == 1].max() <= x[ys == 0].min()):
                describe[var] = (f"On its own, {var!r} splits the classes: events span "
                                 f"[{x[ys == 1].min():g}, {x[ys == 1].max():g}], non-events "
                                 f"[{x[ys == 0].min():g}, {x[ys == 0].max():g}].")
            continue
        numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
        labels = s.map(_level_label) if numeric else s.astype(str)
        levels = (sorted(labels.unique().tolist(), key=float) if numeric
                  else sorted(labels.unique().tolist()))
        ref = str(reference.get(var, levels[0]))
        if ref not in levels:
            hint = did_you_mean(ref, levels, n=1)
            raise InputError(f"reference level {ref!r} of {var!r} not found among its "
                             f"levels {levels}{hint}")
        for lv in levels:
            k = int((labels == lv).sum())
            ev = int(y[(labels == lv).to_numpy()].sum())
            if lv == ref:
                continue
            term = f"{var}[{lv}]"
            cols[term] = (labels == lv).astype(float).to_numpy()
            meta.append({"term": term, "variable": var, "level": lv, "reference": ref})
            ref_mask = (labels == ref).to_numpy()
            describe[term] = (f"Level {lv!r} of {var!r}: {ev} of {k} cases are events "
                              f"(reference {ref!r}: {int(y[ref_mask].sum())} of "
                              f"{int(ref_mask.sum())}).")
    x = pd.DataFrame(cols, index=data.index)
    return y, x, meta, int((~complete).sum()), describe


def _level_label(v: object) -> str:
    """A numeric level as R's ``factor`` prints it: ``1`` not ``1.0``."""
    f = float(v)  # type: ignore[arg-type]
    return str(int(f)) if f.is_integer() else repr(f)


def _vif(x: pd.DataFrame) -> np.ndarray:
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    values = x.to_numpy(dtype=float)
    out = np.full(values.shape[1], np.nan)
    if values.shape[1] <= 2:  # intercept + one predictor: nothing to regress on
        out[1:] = 1.0
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(1, values.shape[1]):
            out[j] = variance_inflation_factor(values, j)
    return out


def _fit_firth(y: np.ndarray, x: pd.DataFrame, meta: list[dict]):
    from scipy import stats

    from thyromics.stats._likelihood import firth_logistic

    fit = firth_logistic(x.to_numpy(dtype=float), y)
    table = pd.DataFrame(meta)
    b, se = fit.params, fit.bse
    z = stats.norm.ppf(0.975)
    table["coef"], table["se"] = b, se
    with np.errstate(over="ignore"):
        table["OR"] = np.exp(b)
        table["ci_low"], table["ci_high"] = np.exp(b - z * se), np.exp(b + z * se)
    table["p"] = 2 * stats.norm.sf(np.abs(b / se))
    table["note"] = "" if fit.converged else "Firth fit did not converge"
    cov = np.linalg.inv((x.to_numpy(float) * (lambda p: p * (1 - p))(
        1 / (1 + np.exp(-(x.to_numpy(float) @ b))))[:, None]).T @ x.to_numpy(float))
    return table, fit, cov


def _fit(y: np.ndarray, x: pd.DataFrame, meta: list[dict], describe: dict[str, str],
         ci: str = "wald"):
    import statsmodels.api as sm
    from scipy import stats

    names = list(x.columns)
    sep = detect_separation(x.to_numpy(dtype=float), y, names, describe)
    table = pd.DataFrame(meta)
    for c in ["coef", "se", "OR", "ci_low", "ci_high", "p"]:
        table[c] = np.nan
    table["note"] = ""
    if sep is not None:
        warnings.warn(sep.message + " Or fit it here with firth=True (--firth).",
                      SeparationWarning, stacklevel=3)
    model = sm.Logit(y, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # separation handled above; convergence below
        try:
            res = model.fit(method="newton", maxiter=100, disp=0)
        except np.linalg.LinAlgError as e:
            if sep is None:
                raise InputError(f"the design is singular (collinear predictors among "
                                 f"{names[1:]}); drop or merge predictors") from e
            res = None
    if res is not None:
        b, se = res.params.to_numpy(), res.bse.to_numpy()
        z = stats.norm.ppf(0.975)
        table["coef"], table["se"] = b, se
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            table["OR"] = np.exp(b)
            table["ci_low"], table["ci_high"] = np.exp(b - z * se), np.exp(b + z * se)
            table["p"] = 2 * stats.norm.sf(np.abs(b / se))
        if ci == "profile" and sep is None:
            from thyromics.stats._likelihood import profile_ci

            lo, hi = profile_ci(x.to_numpy(dtype=float), y, b, se, float(res.llf))
            with np.errstate(over="ignore"):
                table["ci_low"], table["ci_high"] = np.exp(lo), np.exp(hi)
    if sep is not None:
        bad = table["term"].isin(sep.infinite)
        table.loc[bad, ["coef", "se", "OR", "ci_low", "ci_high", "p"]] = np.nan
        table.loc[bad, "note"] = f"{sep.kind} separation: estimate infinite"
        table.loc[~bad, "note"] = ("model has quasi-complete separation: see "
                                   "LogisticResult.separation")
    return table, res, sep


def _gvif_columns(table: pd.DataFrame, cov: np.ndarray | None) -> pd.DataFrame:
    """``gvif, gvif_df, gvif_adj`` per term row (the predictor's value; car::vif)."""
    from thyromics.stats._likelihood import gvif

    table = table.assign(gvif=np.nan, gvif_df=np.nan, gvif_adj=np.nan)
    terms = table["term"].tolist()
    variables = [v for v in dict.fromkeys(table["variable"]) if v]
    if cov is None or len(variables) < 2 or not np.all(np.isfinite(cov)):
        return table
    pos = {v: [i - 1 for i, t in enumerate(terms) if table["variable"].iloc[i] == v]
           for v in variables}
    with np.errstate(invalid="ignore", divide="ignore"):
        values = gvif(np.asarray(cov)[1:, 1:], [pos[v] for v in variables])
    for v, (g, df, adj) in zip(variables, values):
        rows = table["variable"] == v
        table.loc[rows, ["gvif", "gvif_df", "gvif_adj"]] = [g, df, adj]
    return table


def multivariable(frame: pd.DataFrame, outcome: str, predictors: list[str], *,
                  categorical: list[str] | None = None, reference: dict | None = None,
                  event: object | None = None, ci: str = "wald",
                  firth: bool = False) -> LogisticResult:
    """Fit one logistic model of ``outcome`` on all ``predictors`` together.

    Parameters
    ----------
    frame : pandas.DataFrame
    outcome : str
        0/1 (or boolean) column; otherwise give ``event``.
    predictors : list of str
    categorical : list of str, optional
        Numeric columns to treat as categorical (text columns always are).
    reference : dict, optional
        ``{predictor: reference level}``; default: first level in sorted order.
    event : object, optional
        Value of ``outcome`` that counts as the event (1).
    ci : {"wald", "profile"}
        Wald (``confint.default``) or profile-likelihood (``confint``) intervals.
    firth : bool
        Fit Firth's penalised likelihood instead (Wald intervals; R ``brglm2``).

    Returns
    -------
    LogisticResult
    """
    if not predictors:
        raise InputError("no predictors given")
    if ci not in CI_METHODS:
        raise InputError(f"ci must be one of {', '.join(CI_METHODS)}, found {ci!r}")
    if firth and ci == "profile":
        raise InputError("profile-penalised-likelihood intervals for Firth's regression are "
                         "not implemented; use ci='wald' with firth=True")
    y, x, meta, dropped, describe = _design(frame, outcome, list(predictors),
                                            set(categorical or []), dict(reference or {}),
                                            event)
    if len(np.unique(y)) < 2:
        raise InputError(f"after dropping {dropped} incomplete rows, outcome {outcome!r} "
                         "has only one class")
    vif = _vif(x)
    vif[0] = np.nan  # the constant's VIF is not reported
    columns = _COLUMNS + ["ci", "vif", "gvif", "gvif_df", "gvif_adj", "note"]
    if firth:
        table, fit, cov = _fit_firth(y, x, meta)
        table["vif"] = vif
        table = _gvif_columns(table, cov)
        table["ci"] = "wald (Firth)"
        return LogisticResult(
            table=table[columns], outcome=outcome, predictors=tuple(predictors), n=len(y),
            events=int(y.sum()), n_dropped=dropped, aic=float(-2 * fit.llf + 2 * x.shape[1]),
            log_likelihood=float(fit.llf), converged=fit.converged, separation=None, ci="wald",
            method="Firth penalised likelihood")
    table, res, sep = _fit(y, x, meta, describe, ci=ci)
    table["vif"] = vif
    ok = res is not None and sep is None
    table = _gvif_columns(table, res.cov_params().to_numpy() if ok else None)
    table["ci"] = ci
    return LogisticResult(
        table=table[columns],
        outcome=outcome, predictors=tuple(predictors), n=len(y), events=int(y.sum()),
        n_dropped=dropped,
        aic=float(res.aic) if res is not None else float("nan"),
        log_likelihood=float(res.llf) if res is not None else float("nan"),
        converged=bool(res is not None and res.mle_retvals.get("converged", False)
                       and sep is None),
        separation=sep, ci=ci)


def univariable(frame: pd.DataFrame, outcome: str, predictors: list[str], *,
                categorical: list[str] | None = None, reference: dict | None = None,
                event: object | None = None, ci: str = "wald",
                firth: bool = False) -> pd.DataFrame:
    """Screen predictors one at a time: one logistic model per predictor.

    Each model uses the complete cases of the outcome and that predictor only.

    Returns
    -------
    pandas.DataFrame
        One row per term (intercepts left out): ``predictor, term, level, reference,
        OR, ci_low, ci_high, p, n, events, n_dropped, note``. A separated predictor has
        NaN estimates and the finding in words in ``note``; the screen goes on.
    """
    rows = []
    for var in predictors:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SeparationWarning)
            r = multivariable(frame, outcome, [var], categorical=categorical,
                              reference={k: v for k, v in (reference or {}).items()
                                         if k == var}, event=event, ci=ci, firth=firth)
        t = r.table[r.table["term"] != "const"]
        for _, row in t.iterrows():
            note = r.separation.message if r.separation is not None else ""
            rows.append({"predictor": var, "term": row["term"], "level": row["level"],
                         "reference": row["reference"], "OR": row["OR"],
                         "ci_low": row["ci_low"], "ci_high": row["ci_high"], "p": row["p"],
                         "ci": row["ci"], "n": r.n, "events": r.events,
                         "n_dropped": r.n_dropped, "note": note})
        if r.separation is not None:
            warnings.warn(f"univariable model of {var!r}: {r.separation.message}",
                          SeparationWarning, stacklevel=2)
    return pd.DataFrame(rows, columns=["predictor", "term", "level", "reference", "OR",
                                       "ci_low", "ci_high", "p", "ci", "n", "events",
                                       "n_dropped", "note"])
