"""A composite pathology score, chosen on some patients and tested on the others only.

The pathology analysis of the CRIT/iTED study (``4.5_Thyroid_cancer_pathology_analysis.py``
of github.com/Spr1te123/THCA-ITH) chose the features of its composite score by their
association with the true outcome (p < 0.2, weight |delta median| / pooled SD, top 10,
z-scored, signed) and then tested the score between the model's risk groups *in the same
12 patients*: the selection had already seen the answer. Here the composite is fitted on one set of
patients (``fit``) and may only be tested on others; :func:`check_disjoint` refuses any
overlap, and :func:`composite_split` refuses to run without a split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from thyromics.errors import InputError

__all__ = ["CircularityError", "Composite", "fit_composite", "check_disjoint", "composite_split"]


class CircularityError(InputError):
    """A score would be tested on patients that chose it."""


@dataclass(frozen=True)
class Composite:
    """Fitted composite: features, signed weights and the z-score parameters (training patients)."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    signs: tuple[float, ...]
    means: tuple[float, ...]
    sds: tuple[float, ...]
    fitted_on: tuple[str, ...]

    def score(self, frame: pd.DataFrame) -> pd.Series:
        """``sum_j w_j sign_j z_j / sum_j w_j`` with the training means and SDs."""
        check_disjoint(self.fitted_on, frame["patient_id"].astype(str).tolist())
        z = (frame[list(self.features)] - np.array(self.means)) / np.array(self.sds)
        w = np.array(self.weights) * np.array(self.signs)
        return pd.Series(z.to_numpy(float) @ w / np.sum(self.weights), index=frame.index, name="composite")


def check_disjoint(chosen_on: list[str] | tuple[str, ...], tested_on: list[str]) -> None:
    """Raise :class:`CircularityError` when a patient both chose the score and tests it."""
    both = sorted(set(map(str, chosen_on)) & set(map(str, tested_on)))
    if both:
        raise CircularityError(
            f"the composite score was chosen on {len(both)} of the patients it would now be tested on "
            f"(e.g. {both[:5]}): that is circular (the CRIT/iTED code's defect). "
            "Fit it on a training split and test it on the other patients only.")


def fit_composite(train: pd.DataFrame, features: list[str], outcome: str, *, p_max: float = 0.2,
                  top: int = 10) -> Composite:
    """The composite score of the CRIT/iTED study's pathology analysis, fitted on ``train`` only.

    Features with Mann-Whitney p < ``p_max`` between outcome 1 and 0, weighted by
    |median_1 - median_0| / pooled SD, the ``top`` heaviest kept, signed by the direction.
    """
    from scipy.stats import mannwhitneyu

    y = pd.to_numeric(train[outcome], errors="coerce")
    rows = []
    for f in features:
        a = train.loc[y == 1, f].dropna().to_numpy(float)
        b = train.loc[y == 0, f].dropna().to_numpy(float)
        if min(a.size, b.size) < 2:
            continue
        p = mannwhitneyu(a, b, method="asymptotic").pvalue
        sd = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        if p < p_max and sd > 0:
            d = np.median(a) - np.median(b)
            rows.append((f, abs(d) / sd if d else 1e-12, 1.0 if d >= 0 else -1.0))
    if not rows:
        raise InputError(f"no feature has p < {p_max} for {outcome!r} on the training patients; "
                         "no composite can be built.")
    rows = sorted(rows, key=lambda r: -r[1])[:top]
    feats = [r[0] for r in rows]
    sds = train[feats].std(ddof=1).to_numpy(float)
    return Composite(features=tuple(feats), weights=tuple(r[1] for r in rows), signs=tuple(r[2] for r in rows),
                     means=tuple(train[feats].mean().to_numpy(float)), sds=tuple(np.where(sds > 0, sds, 1.0)),
                     fitted_on=tuple(train["patient_id"].astype(str)))


def composite_split(frame: pd.DataFrame, features: list[str], outcome: str, split: str | None,
                    *, train_value: str = "train") -> tuple[Composite, pd.DataFrame]:
    """Fit on the rows whose ``split`` is ``train_value``; return it and the scored other rows."""
    if not split:
        raise CircularityError(
            "--composite needs --split COL: a composite pathology score chosen on the same patients it is "
            "then tested on is circular (the CRIT/iTED code's defect). Mark the patients to choose "
            f"it on with {train_value!r} in a split column of the imaging table.")
    if split not in frame.columns or outcome not in frame.columns:
        raise InputError(f"--split {split!r} and --composite {outcome!r} must be columns of the imaging table.")
    is_train = frame[split].astype(str) == train_value
    if not is_train.any() or is_train.all():
        raise CircularityError(f"--split {split!r} must mark some patients {train_value!r} (to choose the score) "
                               "and some otherwise (to test it); found "
                               f"{int(is_train.sum())} of {len(frame)} marked.")
    comp = fit_composite(frame[is_train], features, outcome)
    test = frame[~is_train].copy()
    test["composite"] = comp.score(test)
    return comp, test
