"""The model stage's robust / harmonize plumbing (private; used by :mod:`thyromics.models.api`).

Their input columns that are not predictors (``case_id``, the batch column, covariates)
travel in the input frame; what the final model's steps did goes into its training
record; ``robust.csv`` and ``harmonization/`` are written beside the stage's tables.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError
from thyromics.layout import MODEL
from thyromics.models.pipeline import PipelineSettings

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.models.api import ModelStudyResult

__all__ = ["with_passengers", "harmonization_leakage", "step_summaries", "write_step_outputs",
           "ROBUST_CSV"]

#: What each final model's robust step removed (in the model output folder).
ROBUST_CSV = MODEL.name("robust")

def with_passengers(X: pd.DataFrame, data: pd.DataFrame, passengers: list[str],
                     settings: PipelineSettings, label: str) -> pd.DataFrame:
    """The predictor frame plus the robust / harmonize steps' own input columns."""
    if label in settings.harmonize_covariates or settings.harmonize == label:
        raise InputError(f"the outcome {label!r} cannot be a ComBat covariate or batch: test "
                         "cases have no outcome to adjust with, and keeping it in the design "
                         "leaks it into the features (Nygaard et al., Biostatistics 2016)")
    missing = [c for c in passengers if c not in data.columns]
    if missing:
        raise InputError(f"column(s) {missing} needed by the robust / harmonize steps are not in "
                         "the feature table (the batch column, covariates, case_id)")
    extra = {c: data[c] for c in passengers if c not in X.columns}
    return X.assign(**extra) if extra else X

def harmonization_leakage(leakage: pd.DataFrame, train: pd.DataFrame, y: np.ndarray,
                           numeric: list[str], settings: PipelineSettings) -> pd.DataFrame:
    """The leakage table plus batch columns the features look harmonised across already."""
    from thyromics.models.blocks import feature_family
    from thyromics.models.harmonize import harmonization_leak_check

    feats = [c for c in numeric if feature_family(c) not in (None, "clinical")]
    rows = harmonization_leak_check(train.reset_index(drop=True), feats, y,
                                    columns=[settings.harmonize] if settings.harmonize else [])
    return pd.concat([leakage, rows], ignore_index=True) if len(rows) else leakage

def step_summaries(pipe) -> dict[str, Any]:
    """What the final model's robust / harmonize steps did (for model.json and the report)."""
    from thyromics.robustness.select import removed_summary

    out: dict[str, Any] = {}
    robust = removed_summary(pipe)
    if robust is not None:
        out["robust"] = robust
    step = getattr(pipe, "named_steps", {}).get("harmonize")
    if step is not None and hasattr(step, "params_"):
        p = step.params_
        out["harmonize"] = {"batch": step.batch, "batches": list(p.batches),
                            "covariates": list(step.covariates), "reference": p.reference,
                            "unseen": step.unseen, "n_features": len(step.features_),
                            "n_adjusted": int(p.adjusted.sum()), "mean_only": p.mean_only}
    return out

def write_step_outputs(res: "ModelStudyResult", table: pd.DataFrame, out: Path,
                        settings: PipelineSettings, *, compare: bool, **study: Any) -> None:
    """``robust.csv`` and ``harmonization/`` when those steps ran."""
    if settings.robust:
        rows = [{"model_id": m.model_id, **{k: v for k, v in m.training["robust"].items()
                                            if k != "removed"},
                 "removed": ";".join(m.training["robust"]["removed"])}
                for m in res.models.values() if "robust" in m.training]
        pd.DataFrame(rows).to_csv(out / ROBUST_CSV, index=False)
    if settings.harmonize:
        from thyromics.models import api
        from thyromics.models.harmonize_report import write_harmonization_report

        raw = None
        if compare:
            with warnings.catch_warnings():  # its warnings were given by the run itself
                warnings.simplefilter("ignore")
                raw = api.fit_and_compare(table, settings=settings.model_copy(
                    update={"harmonize": None, "harmonize_covariates": (),
                            "harmonize_reference": None, "harmonize_unseen": "refuse",
                            "exclude": (*settings.exclude, settings.harmonize)}), importance=(),
                    **study)
        write_harmonization_report(res, table, out, split=study["split"], label=study["label"],
                                   raw=raw)

