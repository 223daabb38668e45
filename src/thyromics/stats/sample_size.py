"""Minimum sample size for developing a binary prediction model (Riley et al., BMJ 2020).

Riley RD, Ensor J, Snell KIE, et al. "Calculating the sample size required for developing
a clinical prediction model." BMJ 2020;368:m441 (binary outcomes: criteria i-iii), as the
``pmsampsize`` package computes them. With ``p`` candidate predictor *parameters*
(a categorical predictor counts its levels minus one), outcome prevalence ``phi`` and an
anticipated Cox-Snell ``R2_CS``:

* ``max R2_CS = 1 - exp(2 lnL_null / n)``, ``lnL_null / n = phi ln phi + (1 - phi) ln(1 - phi)``;
* (i) expected uniform shrinkage ``S >= 0.9``: ``n = p / ((S - 1) ln(1 - R2_CS / S))``;
* (ii) optimism in Nagelkerke's R2 at most ``delta = 0.05``: the same with
  ``S = R2_CS / (R2_CS + delta max R2_CS)``;
* (iii) the overall risk within ``0.05``: ``n = (1.96 / 0.05)^2 phi (1 - phi)``.

The minimum is the largest of the three (each rounded up); events per candidate
parameter ``EPP = n phi / p``. Checked against the package's worked example
(``rsquared = 0.288, parameters = 24, prevalence = 0.174``: 623, 662, 221 -> 662).

When no anticipated ``R2_CS`` is given, Riley et al.'s conservative default is used:
``R2_CS = 0.15 max R2_CS`` (a Nagelkerke R2 of 0.15); the output says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

from thyromics.errors import InputError, ThyromicsWarning

__all__ = ["SampleSizeWarning", "SampleSize", "riley_binary", "check_sample_size"]


class SampleSizeWarning(ThyromicsWarning):
    """The cohort is smaller than the minimum for a model of this many candidate predictors."""


@dataclass(frozen=True)
class SampleSize:
    """Riley et al.'s minimum sample size beside the cohort's own numbers."""

    parameters: int
    prevalence: float
    r2_cs: float
    r2_source: str
    max_r2_cs: float
    shrinkage_i: float
    shrinkage_ii: float
    n_criterion_i: int
    n_criterion_ii: int
    n_criterion_iii: int
    n_required: int
    events_required: int
    epp_required: float
    n: int | None = None
    events: int | None = None
    epp: float | None = None
    enough: bool | None = None
    message: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def riley_binary(parameters: int, prevalence: float, *, r2_cs: float | None = None,
                 shrinkage: float = 0.9, delta: float = 0.05, margin: float = 0.05) -> SampleSize:
    """Minimum sample size of a binary-outcome prediction model (see the module notes)."""
    if parameters < 1:
        raise InputError(f"parameters must be at least 1, found {parameters}")
    if not 0 < prevalence < 1:
        raise InputError(f"prevalence must lie strictly between 0 and 1, found {prevalence}")
    lnl = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    max_r2 = 1 - math.exp(2 * lnl)
    source = "given"
    if r2_cs is None:
        r2_cs, source = 0.15 * max_r2, "default: 15% of the maximum (Nagelkerke R2 = 0.15; Riley 2020)"
    if not 0 < r2_cs < max_r2:
        raise InputError(f"r2_cs must lie in (0, {max_r2:.3f}) for prevalence {prevalence}, "
                         f"found {r2_cs}")

    def n_for(s: float) -> int:
        return math.ceil(parameters / ((s - 1) * math.log(1 - r2_cs / s)))

    s2 = r2_cs / (r2_cs + delta * max_r2)
    n1, n2 = n_for(shrinkage), n_for(s2)
    n3 = math.ceil((1.959963984540054 / margin) ** 2 * prevalence * (1 - prevalence))
    n = max(n1, n2, n3)
    return SampleSize(parameters=parameters, prevalence=prevalence, r2_cs=r2_cs, r2_source=source,
                      max_r2_cs=max_r2, shrinkage_i=shrinkage, shrinkage_ii=s2, n_criterion_i=n1,
                      n_criterion_ii=n2, n_criterion_iii=n3, n_required=n,
                      events_required=math.ceil(n * prevalence),
                      epp_required=n * prevalence / parameters)


def check_sample_size(n: int, events: int, parameters: int, *, r2_cs: float | None = None,
                      what: str = "the model", warn: bool = True) -> SampleSize:
    """:func:`riley_binary` at the cohort's prevalence, with a warning when it is too small.

    Parameters
    ----------
    n, events : int
        Cases and events of the development (training) cohort.
    parameters : int
        Candidate predictor parameters considered (before any selection: selecting
        among them spends the same degrees of freedom).
    """
    if not 0 < events < n:
        raise InputError(f"{what}: {events} events in {n} cases; need both classes")
    r = riley_binary(parameters, events / n, r2_cs=r2_cs)
    enough = n >= r.n_required
    epp = events / parameters
    msg = (f"{what}: {n} cases, {events} events, {parameters} candidate predictor parameters "
           f"(EPP {epp:.2f}). Riley et al. (BMJ 2020) minimum at prevalence {events / n:.3f} and "
           f"R2_CS {r.r2_cs:.3f} ({r.r2_source}): {r.n_required} cases, {r.events_required} "
           f"events (EPP {r.epp_required:.1f}).")
    if not enough:
        msg += (" The cohort is too small for this many candidate predictors: expect an "
                "overfitted model whose apparent and cross-validated performance is unstable; "
                "reduce the candidates (prior knowledge, a feature family, fewer filters), "
                "or report the model as exploratory.")
        if warn:
            warnings.warn(msg, SampleSizeWarning, stacklevel=2)
    fields = {**r.to_dict(), "n": n, "events": events, "epp": epp, "enough": enough, "message": msg}
    return SampleSize(**fields)
