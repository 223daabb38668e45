"""The files the model stage writes (see :func:`thyromics.models.api.run_model_stage`)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from thyromics.layout import MODEL
from thyromics.models.pipeline import PipelineSettings

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.models.api import ModelStudyResult

__all__ = ["write_stage"]


def _extraction_settings(features_path: Path) -> dict | None:
    """The extraction settings recorded in a feature table's provenance, if any."""
    from thyromics.features.extract import read_features

    try:
        return read_features(features_path)[1].get("settings")
    except Exception:  # noqa: BLE001 - a table made elsewhere has no provenance
        return None



def write_stage(res: "ModelStudyResult", table: "pd.DataFrame", out: Path, features_path: Path,
                 settings: PipelineSettings, *, label: str, group: str | None,
                 split: str | None, blocks: Sequence[str], models: Sequence[str], cv: int,
                 repeats: int, seed: int, importance: Sequence[str], families: bool,
                 manifest: Path | None, positive: Any, t0: float) -> None:
    """Write the model stage's tables, saved models and ``run.json`` into ``out``."""
    from thyromics.models.persist import provenance, save_model
    from thyromics.provenance import file_sha256

    res.comparison.to_csv(MODEL.at(out, "comparison"), index=False)
    res.predictions.to_parquet(MODEL.at(out, "predictions"), index=False)
    res.delong.to_csv(MODEL.at(out, "delong"), index=False)
    res.fold_auc.to_csv(MODEL.at(out, "fold_auc"), index=False)
    res.leakage.to_csv(MODEL.at(out, "leakage"), index=False)
    res.sample_size.to_csv(MODEL.at(out, "sample_size"), index=False)
    for kind, frame in res.importance.items():
        frame.to_csv(MODEL.at(out, "importance", kind=kind), index=False)
    MODEL.at(out, "evaluation").write_text(json.dumps(res.evaluation, indent=1))
    if families:
        from thyromics.models.blocks import feature_family
        from thyromics.models.families import family_analysis
        cols = [c for c in table.columns if feature_family(c) is not None
                and c in {col for m in res.models.values() for col in m.numeric}]
        from thyromics.models.cv import cohorts
        train = table.iloc[cohorts(table[split] if split else None, len(table))["train"]]
        pos = next(iter(res.models.values())).positive_class  # families see True = positive
        train = train[train[label].notna()].assign(**{label: lambda d: d[label] == pos})
        values: list = []
        family_analysis(train, label=label, columns=cols, seed=seed, values=values).to_csv(
            MODEL.at(out, "families"), index=False)
        if values:  # per-case representative values (training cohort), for the report
            pd.concat(values, ignore_index=True).to_parquet(MODEL.at(out, "family_values"),
                                                            index=False)
    source = {"features": str(Path(features_path).resolve()),
              "features_sha256": file_sha256(Path(features_path))}
    extraction = _extraction_settings(Path(features_path))
    for m in res.models.values():
        m.training["source"] = source
        m.training["extraction_settings"] = extraction  # lets `predict` extract raw cases
        save_model(m, MODEL.at(out, "models") / m.model_id)
    run = provenance(settings) | {
        "stage": "model", "args": {"label": label, "group": group, "split": split,
                                   "blocks": list(blocks), "models": list(models), "cv": cv,
                                   "repeats": repeats, "seed": seed, "positive": positive,
                                   "importance": list(importance)},
        "input": source | ({"manifest": str(Path(manifest).resolve())} if manifest else {}),
        "excluded_columns": res.excluded, "thresholds": res.thresholds,
        "threshold_rules": res.threshold_rules, "importance": res.importance_options,
        "seconds": round(time.perf_counter() - t0, 1)}
    MODEL.at(out, "run").write_text(json.dumps(run, indent=1, default=str))
