"""Score new cases with a saved model: from a feature table, or from raw images.

Given a case manifest (``cases.csv`` with ``image`` and ``mask`` columns) the features
are extracted first, with exactly the settings recorded in the model (those of the
feature table it was trained on), so new cases are measured the way training cases were.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from thyromics.errors import InputError
from thyromics.layout import EXTRACT

__all__ = ["predict_cases", "is_manifest"]


def is_manifest(path: Path) -> bool:
    """A CSV whose header has ``image`` and ``mask`` columns."""
    if path.suffix.lower() != ".csv":
        return False
    header = pd.read_csv(path, nrows=0).columns
    return {"case_id", "image", "mask"} <= set(header)


def predict_cases(model_dir: str | Path, table: str | Path, *, work_dir: str | Path,
                  jobs: int = 0) -> tuple[pd.DataFrame, list[dict]]:
    """Predictions for a feature table or a manifest, and the cases that failed extraction.

    Returns
    -------
    (predictions, errors)
        ``predictions`` as :func:`thyromics.models.persist.predict_table`; ``errors`` the
        extraction errors (``case_id, stage, error, file``) of cases not scored.
    """
    from thyromics.models.api import read_feature_table
    from thyromics.models.persist import load_model, predict_table

    table = Path(table)
    if not is_manifest(table):
        return predict_table(model_dir, read_feature_table(table)), []
    from thyromics.features.extract import extract_cohort
    from thyromics.features.settings import ExtractionSettings
    from thyromics.parallel import default_jobs

    _, meta = load_model(Path(model_dir))
    saved = (meta.get("training") or {}).get("extraction_settings")
    if not saved:
        raise InputError(f"model {model_dir} records no extraction settings (it was trained on "
                         "a table made outside `thyromics extract`): extract the new cases "
                         "yourself with the training settings and pass the feature table.")
    settings = ExtractionSettings.model_validate(saved)
    out = EXTRACT.at(work_dir, "features", stem=f"{table.stem}.features")
    summary = extract_cohort(table, settings, out, jobs=jobs or default_jobs())
    if summary.n_ok == 0:
        raise InputError(f"no case of {table} could be extracted; reasons in {summary.errors_path}")
    return predict_table(model_dir, read_feature_table(out)), summary.errors
