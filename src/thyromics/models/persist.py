"""Saved models: ``model.joblib`` + ``model.json``, and prediction on new tables.

``model.json`` holds the thyromics version, the pipeline settings, the input columns
(numeric and categorical), the threshold and the rule that chose it, the label and its
positive class, and the training provenance (cases, patients, seed, input hash,
library versions). A model saved by another thyromics major.minor version is refused,
because pipeline internals may differ.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thyromics.errors import InputError
from thyromics.layout import SAVED_MODEL
from thyromics.provenance import file_sha256, library_versions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from thyromics.models.api import FittedModel
    from thyromics.models.pipeline import PipelineSettings

__all__ = ["save_model", "load_model", "predict_table", "provenance", "MODEL_LIBRARIES",
           "IncompatibleModelError"]

_FORMAT = 1


class IncompatibleModelError(InputError):
    """A saved model from an incompatible thyromics version."""


#: Distributions whose versions ``model.json`` records under ``libraries`` (``None``: absent).
MODEL_LIBRARIES = ("numpy", "pandas", "scikit-learn", "imbalanced-learn", "xgboost-cpu",
                   "lightgbm", "shap", "umap-learn")


def provenance(settings: PipelineSettings) -> dict[str, Any]:
    """Versions of thyromics and the modelling libraries, and the settings."""
    import thyromics

    return {"thyromics_version": thyromics.__version__, "python": platform.python_version(),
            "libraries": library_versions(MODEL_LIBRARIES),
            "settings": settings.model_dump(mode="json")}


def save_model(model: FittedModel, directory: Path) -> Path:
    """Write ``model.joblib`` (the fitted pipeline) and ``model.json`` into ``directory``."""
    from thyromics.models._canonical_pickle import canonical_dump

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    canonical_dump(model.pipeline, SAVED_MODEL.at(directory, "model"))  # same model, same bytes
    meta = provenance(model.settings) | {
        "format": _FORMAT, "model_id": model.model_id, "classifier": model.classifier,
        "blocks": model.blocks, "label": model.label, "positive_class": model.positive_class,
        "numeric_columns": model.numeric, "categorical_columns": model.categorical,
        "passenger_columns": list(getattr(model, "passengers", [])),
        "threshold": model.threshold,
        "threshold_rule": f"{model.settings.threshold} on out-of-fold training predictions "
                          "(mean over repeats)",
        "positive_when": "score >= threshold",
        "training": model.training,
        "model_sha256": file_sha256(SAVED_MODEL.at(directory, "model"))}
    SAVED_MODEL.at(directory, "meta").write_text(json.dumps(meta, indent=1, default=str))
    return directory


def _major_minor(v: str) -> tuple[str, ...]:
    return tuple(str(v).split(".")[:2])


def load_model(directory: Path) -> tuple[Any, dict[str, Any]]:
    """``(pipeline, meta)`` of a saved model.

    Raises
    ------
    InputError
        Missing files, or a changed ``model.joblib`` (hash mismatch).
    IncompatibleModelError
        Saved by another thyromics major.minor version.
    """
    import joblib

    import thyromics

    directory = Path(directory)
    meta_path, model_path = SAVED_MODEL.at(directory, "meta"), SAVED_MODEL.at(directory, "model")
    for p in (meta_path, model_path):
        if not p.exists():
            raise InputError(f"{p} not found: {directory} is not a saved thyromics model "
                             f"(make one with `thyromics model ... -o OUT`; models are in "
                             f"OUT/models/<model_id>)")
    meta = json.loads(meta_path.read_text())
    saved = str(meta.get("thyromics_version", "unknown"))
    if _major_minor(saved) != _major_minor(thyromics.__version__):
        raise IncompatibleModelError(
            f"model {directory} was saved by thyromics {saved}, this is thyromics "
            f"{thyromics.__version__}: versions {'.'.join(_major_minor(saved))}.x and "
            f"{'.'.join(_major_minor(thyromics.__version__))}.x are not compatible. Refit it "
            f"with `thyromics model`, or install thyromics {saved} to use it.")
    if meta.get("model_sha256") and file_sha256(model_path) != meta["model_sha256"]:
        raise InputError(f"{model_path} does not match the hash in {meta_path}; the model "
                         f"file was changed after saving. Refit it with `thyromics model`.")
    return joblib.load(model_path), meta


def predict_table(model_dir: Path, table: pd.DataFrame, *,
                  id_column: str = "case_id") -> pd.DataFrame:
    """Score a feature table with a saved model.

    Returns a DataFrame with ``case_id`` (when present), ``score`` = ``P(positive)``,
    ``prediction`` (1 when ``score >= threshold``), ``threshold`` and ``model_id``.

    Raises
    ------
    InputError
        A column the model needs is missing; a column it uses is empty in every case or
        holds text (:func:`thyromics.models._inputs.check_new_cases`, which also warns on
        repeated case ids).
    """
    import numpy as np
    import pandas as pd

    from thyromics.models._inputs import check_new_cases
    from thyromics.models.pipeline import prepare_frame

    pipeline, meta = load_model(model_dir)
    numeric, categorical = meta["numeric_columns"], meta["categorical_columns"]
    passengers = meta.get("passenger_columns", [])  # e.g. the batch column of ComBat
    missing = [c for c in numeric + categorical + passengers if c not in table.columns]
    if missing:
        raise InputError(f"the table lacks {len(missing)} column(s) that model "
                         f"{meta['model_id']!r} needs, e.g. {missing[:5]}; extract them with "
                         f"the same settings as the training table")
    check_new_cases(table, pipeline, meta, id_column=id_column)
    X = prepare_frame(table, numeric, categorical)[numeric + categorical]
    if passengers:
        X = X.assign(**{c: table[c].to_numpy() for c in passengers if c not in X.columns})
    score = pipeline.predict_proba(X)[:, 1]
    out = pd.DataFrame(index=table.index)
    if id_column in table.columns:
        out[id_column] = table[id_column].to_numpy()
    out["score"] = score
    out["prediction"] = (score >= meta["threshold"]).astype(np.int8)
    out["threshold"] = meta["threshold"]
    out["model_id"] = meta["model_id"]
    return out.reset_index(drop=True)
