"""The study's subgroup evaluation (``evaluate.subgroups`` of the study YAML).

Every model of every block in ``OUT/models/`` is evaluated in each subgroup of every
cohort by :func:`thyromics.evaluate.api.evaluate_scores`, at the threshold the model
stage chose on the out-of-fold training predictions (``comparison.csv``), carried
unchanged: a threshold is never re-chosen inside a subgroup. The out-of-fold score of a
training case is its mean over CV repeats, as in the model stage.

Writes ``OUT/evaluate/subgroups.json`` (the evaluate API's full output per block and
cohort) and ``OUT/evaluate/subgroups.csv`` (one row per block, cohort, model, variable
and subgroup), which the report reads.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import EVALUATE, MODEL
from thyromics.study.config import SubgroupConfig

__all__ = ["run_subgroups", "SUBGROUPS_DIR", "SUBGROUPS_JSON", "SUBGROUPS_CSV", "SUBGROUP_COLUMNS"]

#: Folder of the study output that receives the subgroup evaluation.
SUBGROUPS_DIR: str = EVALUATE.folder
#: The evaluate API's output per block, cohort and variable.
SUBGROUPS_JSON: str = EVALUATE.name("subgroups_json")
#: One row per block, cohort, model, variable and subgroup.
SUBGROUPS_CSV: str = EVALUATE.name("subgroups")
#: Columns of :data:`SUBGROUPS_CSV`.
SUBGROUP_COLUMNS: tuple[str, ...] = EVALUATE.columns("subgroups")


def _groups(frame: pd.DataFrame, spec: SubgroupConfig) -> pd.Series:
    """The subgroup of every row: the column's value, or its bin."""
    from thyromics.evaluate.subgroups import bin_column

    values = frame[spec.column]
    if spec.edges is None:
        return values.astype(object).where(values.notna(), None)
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & numeric.isna()
    if bad.any():
        raise InputError(f"evaluate.subgroups: column {spec.column!r} has edges but holds "
                         f"non-numbers (e.g. {values[bad].iloc[0]!r}); remove the edges to use its "
                         "values as they are, or fix the column.")
    return bin_column(numeric.to_numpy(), spec.edges, spec.bin_labels()).set_axis(frame.index)


def _scores(preds: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, case): the score (mean over CV repeats) and the truth."""
    key = "model_id" if "model_id" in preds else "model"
    return (preds.groupby([key, "case_id"], sort=False)
            .agg(y_true=("y_true", "first"), score=("score", "mean")).reset_index()
            .rename(columns={key: "model_id"}))


def _block_rows(block: str, folder: Path, cases: pd.DataFrame,
                specs: Sequence[SubgroupConfig], seed: int) -> tuple[dict, list[dict]]:
    from thyromics.evaluate.api import evaluate_scores

    preds = pd.read_parquet(MODEL.at(folder, "predictions"))
    comp = pd.read_csv(MODEL.at(folder, "comparison"))
    key = "model_id" if "model_id" in comp else "model"
    thresholds = {}
    for m, values in comp.groupby(comp[key].astype(str))["threshold"]:
        carried = values.dropna().astype(float).unique()  # one per model, carried to every cohort
        if len(carried) > 1:
            raise InputError(f"{MODEL.at(folder, 'comparison')}: model {m!r} has {len(carried)} different "
                             "thresholds; a subgroup analysis needs the one carried from training.")
        if len(carried):
            thresholds[m] = float(carried[0])
    names = dict(zip(comp[key].astype(str), comp["model"].astype(str)))
    out: dict[str, Any] = {}
    rows: list[dict] = []
    for cohort, part in preds.groupby("cohort", sort=False):
        wide = _scores(part).pivot(index="case_id", columns="model_id", values="score")
        truth = part.groupby("case_id")["y_true"].first()
        models = [m for m in wide.columns.astype(str) if m in thresholds]
        frame = wide[models].join(truth).join(cases, how="left")
        if frame["y_true"].nunique() < 2:
            out[str(cohort)] = {"note": "one outcome class only: no subgroup AUC"}
            continue
        out[str(cohort)] = {}
        for spec in specs:
            frame["_subgroup"] = _groups(frame, spec)
            res = evaluate_scores(frame.reset_index(), truth="y_true", scores=models,
                                  threshold={m: thresholds[m] for m in models},
                                  subgroup="_subgroup", seed=seed)
            groups = res["subgroups"]["_subgroup"]
            out[str(cohort)][spec.column] = {"bins": spec.bin_labels(), "subgroups": groups}
            order = spec.bin_labels() or list(groups)
            for sub in [g for g in order if g in groups] + [g for g in groups if g not in order]:
                g = groups[sub]
                for m in models:
                    s = g["scores"][m]
                    rows.append({"block": block, "cohort": str(cohort), "model": names[m],
                                 "model_id": m, "variable": spec.column, "subgroup": sub,
                                 "n": g["n"], "n_pos": g["n_pos"], "auc": s["auc"],
                                 "auc_ci_low": s["auc_ci"][0], "auc_ci_high": s["auc_ci"][1],
                                 "sensitivity": s["sensitivity"]["value"],
                                 "specificity": s["specificity"]["value"],
                                 "threshold": thresholds[m]})
    return out, rows


def run_subgroups(models_dir: Path, manifest: pd.DataFrame, specs: Sequence[SubgroupConfig],
                  out_dir: Path, *, seed: int = 0) -> Path:
    """Evaluate every block's models per subgroup; returns the CSV written.

    Parameters
    ----------
    models_dir : Path
        ``OUT/models`` (each block a folder with ``predictions.parquet`` and
        ``comparison.csv``).
    manifest : DataFrame
        The case manifest (``case_id`` and the subgroup columns).
    specs : sequence of SubgroupConfig
        The subgroup variables.
    out_dir : Path
        ``OUT/evaluate``.
    seed : int
        Seed of the evaluation (written into the JSON).
    """
    from thyromics.provenance import atomic_write, atomic_write_json

    missing = [s.column for s in specs if s.column not in manifest.columns]
    if missing:
        raise InputError(f"evaluate.subgroups names column(s) {missing} that the manifest does not "
                         f"have; its columns are {list(manifest.columns)}.")
    cases = manifest.drop_duplicates("case_id").assign(case_id=lambda d: d["case_id"].astype(str))
    cases = cases.set_index("case_id")[[s.column for s in specs]]
    blocks = sorted(p for p in Path(models_dir).iterdir()
                    if MODEL.at(p, "predictions").is_file() and MODEL.at(p, "comparison").is_file())
    result: dict[str, Any] = {"seed": seed, "positive_when": "score >= threshold",
                              "threshold": "carried from the out-of-fold training predictions",
                              "variables": [s.model_dump(mode="json") for s in specs], "blocks": {}}
    rows: list[dict] = []
    for folder in blocks:
        result["blocks"][folder.name], block_rows = _block_rows(folder.name, folder, cases, specs, seed)
        rows += block_rows
    if not rows:
        warnings.warn("evaluate.subgroups: no cohort with both outcome classes; no subgroup "
                      "evaluation written", ThyromicsWarning, stacklevel=2)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / SUBGROUPS_JSON, result)
    table = pd.DataFrame(rows, columns=list(SUBGROUP_COLUMNS))
    path = out_dir / SUBGROUPS_CSV
    atomic_write(path, lambda p: table.to_csv(p, index=False))
    return path

