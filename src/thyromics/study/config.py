"""The study YAML: one file that chains extract -> table1 -> model -> evaluate -> report.

Every key is typed, validated once when the file is loaded, and documented here; the
user guide's reference table is generated from these models (``study_reference()``).
Unknown keys are refused with the closest valid names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thyromics.errors import InputError

__all__ = ["StudyConfig", "ExtractConfig", "Table1Config", "ModelConfig", "DeepConfig", "load_study",
           "study_reference"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExtractConfig(_Frozen):
    """Radiomics extraction (``thyromics extract``)."""

    preset: str = Field("ct", description="Settings preset: ct, us, seed000_ct, seed002_us, seed003_ct.")
    params: Path | None = Field(None, description="A PyRadiomics parameter file used instead of the preset (relative to the YAML).")
    label: int | None = Field(None, description="Mask label value of the lesion in multi-label masks.")
    jobs: int = Field(0, description="Local worker processes (0 = all usable cores).")
    scheduler: str | None = Field(None, description="Dask scheduler address to run on a cluster.")
    geometry_tolerance: float = Field(1e-3, description="Largest allowed image/mask geometry difference.")


class Table1Config(_Frozen):
    """Table 1 of the clinical columns (``thyromics table1``)."""

    enabled: bool = Field(True, description="Make Table 1.")
    variables: list[str] | None = Field(None, description="Columns to describe (default: every clinical column).")
    by_cohort: bool = Field(True, description="Also a Table 1 by cohort (the split column) when it exists.")


class ModelConfig(_Frozen):
    """Model comparison (``thyromics model``)."""

    models: list[str] = Field(["lr", "rf", "rfq"], description="Classifiers from the registry: lr, svm, knn, mlp, rf, extratrees, xgboost, lightgbm, rfq, balanced_rf.")
    blocks: list[str] = Field(["radiomics", "clinical", "radiomics+clinical"], description="Feature blocks to compare; '+' joins blocks.")
    cv: int = Field(5, ge=2, description="Folds of the patient-grouped stratified cross-validation.")
    repeats: int = Field(1, ge=1, description="Repeats of the cross-validation with different seeds.")
    exclude: list[str] = Field([], description="Column patterns never used as predictors (e.g. label-derived columns such as 'Malignancy*').")
    selection: Literal["lasso", "univariate", "mrmr", "none"] = Field("lasso", description="Feature selection inside each training fold.")
    resample: Literal["none", "smote", "undersample"] = Field("none", description="Class rebalancing inside each training fold.")
    threshold: Literal["youden", "constrained"] = Field("youden", description="Threshold rule on the out-of-fold training predictions, carried unchanged: youden, or constrained (sensitivity >= 0.70, NPV >= 0.50, then 0.5 sens + 0.3 NPV + 0.2 spec).")
    tune: bool = Field(True, description="Tune each classifier's grid in an inner patient-grouped CV (forests tune on out-of-bag error).")
    tuner: Literal["grid", "optuna"] = Field("grid", description="grid: the registry grid; optuna: Optuna's seeded TPE sampler over the registry's search space (inner patient-grouped CV, ROC AUC).")
    trials: int = Field(30, ge=1, description="Optuna trials per fit (tuner: optuna).")
    calibration: Literal["none", "sigmoid", "isotonic"] = Field("none", description="Calibrate probabilities on inner out-of-fold training scores (Platt sigmoid or isotonic) before the threshold is chosen.")
    n_estimators: int = Field(500, ge=10, description="Trees of the forest and boosting classifiers.")
    importance: list[Literal["permutation", "vimp", "shap"]] = Field(["permutation", "vimp", "shap"], description="Importance tables: held-out permutation, OOB VIMP (forests), SHAP (trees).")


class DeepConfig(_Frozen):
    """A lesion classifier network (``thyromics dl``), its Grad-CAM and deep features."""

    enabled: bool = Field(False, description="Train a network on the lesion crops (training split; validation split or a patient-grouped share of it).")
    network: str = Field("densenet121", description="Network: cnn, alexnet, densenet121, resnet50, vit, inception_v3 (2D); se_resnet (3D).")
    spatial_dims: Literal[2, 3] = Field(2, description="2 for ultrasound crops, 3 for CT patches (32x48x48 at 1 mm).")
    size: int = Field(224, ge=32, description="2D crops are resized to size x size pixels.")
    epochs: int = Field(30, ge=1, description="Most training epochs (early stopping on validation AUC).")
    batch_size: int = Field(16, ge=1, description="Lesions per batch.")
    learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate.")
    pretrained: Path | None = Field(None, description="Local state_dict file to start from (never downloaded).")
    gradcam: int = Field(12, ge=0, description="Grad-CAM overlays written for this many lesions of the evaluation cohorts.")


class StudyConfig(_Frozen):
    """A whole study. Paths are relative to the YAML file."""

    name: str = Field("study", description="Title of the report.")
    cases: Path = Field(..., description="The case manifest (cases.csv).")
    seed: int = Field(0, description="Seed of every random draw (written into provenance).")
    extract: ExtractConfig = Field(ExtractConfig(), description="Extraction settings.")
    table1: Table1Config = Field(Table1Config(), description="Table 1 settings.")
    model: ModelConfig = Field(ModelConfig(), description="Modelling settings.")
    deep: DeepConfig = Field(DeepConfig(), description="Deep-learning settings.")
    report: bool = Field(True, description="Build the HTML report at the end.")


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML; relative paths are resolved against its folder."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as e:
        raise InputError(f"study file not found: {path}") from e
    except yaml.YAMLError as e:
        raise InputError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of keys at the top level, found {type(raw).__name__}")
    try:
        cfg = StudyConfig.model_validate(raw)
    except ValidationError as e:
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise InputError(f"{path} has {len(lines)} problem(s):\n" + "\n".join(lines) +
                         "\nSee the study YAML reference in docs/user-guide.md.") from e
    base = path.resolve().parent
    changes = {"cases": (base / cfg.cases).resolve()}
    if cfg.extract.params is not None:
        changes["extract"] = cfg.extract.model_copy(update={"params": (base / cfg.extract.params).resolve()})
    if cfg.deep.pretrained is not None:
        changes["deep"] = cfg.deep.model_copy(update={"pretrained": (base / cfg.deep.pretrained).resolve()})
    return cfg.model_copy(update=changes)


def study_reference() -> str:
    """A Markdown table of every study key, its default and meaning."""
    rows = ["| key | default | meaning |", "|---|---|---|"]

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            ann = f.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                rows.append(f"| `{prefix}{name}` | | {f.description} |")
                walk(ann, f"{prefix}{name}.")
                continue
            default = "required" if f.is_required() else f"`{f.default!r}`"
            rows.append(f"| `{prefix}{name}` | {default} | {f.description} |")

    walk(StudyConfig, "")
    return "\n".join(rows)
