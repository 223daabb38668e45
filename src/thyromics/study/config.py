"""The study YAML: one file that chains extract -> table1 -> model -> evaluate -> report.

Every key is typed, validated once when the file is loaded, and documented here; the
user guide's reference table is generated from these models (``study_reference()``).
Unknown keys are refused with the closest valid names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from thyromics.errors import InputError

__all__ = ["StudyConfig", "ExtractConfig", "Table1Config", "ModelConfig", "DeepConfig",
           "SubgroupConfig", "EvaluateConfig", "RobustnessConfig", "HarmonizeConfig",
           "load_study", "study_reference"]


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
    engine: Literal["native", "pyradiomics"] = Field("native", description="Feature engine: native (compiled kernels, PyRadiomics' values within 1e-9) or pyradiomics (PyRadiomics' own classes, the reference).")
    convention: Literal["pyradiomics", "ibsi"] = Field("pyradiomics", description="Feature definitions of the native engine: PyRadiomics' or IBSI 1's.")

    @model_validator(mode="after")
    def _engine_convention(self) -> "ExtractConfig":
        if self.convention == "ibsi" and self.engine != "native":
            raise ValueError("extract.convention 'ibsi' needs extract.engine 'native' (PyRadiomics' "
                             "own classes compute PyRadiomics' definitions only)")
        return self


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
    selector: Literal["lasso", "univariate", "mrmr", "none"] = Field("lasso", validation_alias=AliasChoices("selector", "selection"), description="Feature selection inside each training fold (the same name as `thyromics model --selector`; `selection` is read as before).")
    resample: Literal["none", "smote", "undersample"] = Field("none", description="Class rebalancing inside each training fold.")
    threshold: Literal["youden", "constrained"] = Field("youden", description="Threshold rule on the out-of-fold training predictions, carried unchanged: youden, or constrained (sensitivity >= 0.70, NPV >= 0.50, then 0.5 sens + 0.3 NPV + 0.2 spec).")
    cv_threshold: Literal["nested", "pooled"] = Field("nested", description="Threshold of the cross-validated (cv) metrics: nested (chosen inside each outer training part on its inner out-of-fold scores, applied to the held-out fold) or pooled (chosen on the pooled out-of-fold scores it is evaluated on: optimistic).")
    tune: bool = Field(True, description="Tune each classifier's grid in an inner patient-grouped CV (forests tune on out-of-bag error).")
    tuner: Literal["grid", "optuna"] = Field("grid", description="grid: the registry grid; optuna: Optuna's seeded TPE sampler over the registry's search space (inner patient-grouped CV, ROC AUC).")
    trials: int = Field(30, ge=1, description="Optuna trials per fit (tuner: optuna).")
    calibration: Literal["none", "sigmoid", "isotonic"] = Field("none", description="Calibrate probabilities on inner out-of-fold training scores (Platt sigmoid or isotonic) before the threshold is chosen.")
    n_estimators: int = Field(500, ge=10, description="Trees of the forest and boosting classifiers.")
    importance: list[Literal["permutation", "vimp", "shap"]] = Field(["permutation", "vimp", "shap"], description="Importance tables: held-out permutation, OOB VIMP (forests), SHAP (trees).")
    importance_models: list[str] | None = Field(None, description="Classifiers or model ids (patterns) that get importance tables (default: every model).")
    shap_rows: int = Field(200, ge=10, description="SHAP explains at most this many training cases (a seeded sample; stated in the report).")
    jobs: int = Field(0, ge=0, description="Local processes running the fits in parallel (0 = all usable cores; the numbers are the same for any value).")
    scheduler: str | None = Field(None, description="Dask scheduler address (tcp://HOST:PORT): run the fits on that cluster (the study folder on shared storage).")
    optimism: int = Field(0, ge=0, description="Optimism-corrected bootstrap (Harrell; rms::validate): every final model's whole procedure refitted on this many bootstrap samples of the training patients; optimism.csv per block (0 = off).")


class DeepConfig(_Frozen):
    """A lesion classifier network (``thyromics dl``), its Grad-CAM and deep features."""

    enabled: bool = Field(False, description="Train a network on the lesion crops (training split; validation split or a patient-grouped share of it).")
    network: str = Field("densenet121", description="Network: cnn, alexnet, densenet121, resnet50, vit, inception_v3 (2D); se_resnet (3D).")
    network_options: dict[str, Any] = Field({}, description="Extra constructor arguments of the network, e.g. {channels: [8, 16]} for cnn.")
    spatial_dims: Literal[2, 3] = Field(2, description="2 for ultrasound crops, 3 for CT patches (32x48x48 at 1 mm).")
    size: int = Field(224, ge=32, description="2D crops are resized to size x size pixels.")
    epochs: int = Field(30, ge=1, description="Most training epochs (early stopping on validation AUC).")
    batch_size: int = Field(16, ge=1, description="Lesions per batch.")
    learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate.")
    pretrained: Path | None = Field(None, description="Local state_dict file to start from (never downloaded).")
    gradcam: int = Field(12, ge=0, description="Grad-CAM overlays written for this many lesions of the evaluation cohorts.")


class SubgroupConfig(_Frozen):
    """One subgroup variable: a manifest column, as it is or cut into bins.

    The lesion-size strata of the lung-metastasis study (>= 10, 9, 8, 7, 6, 5, <= 4 mm)::

        column: size_mm
        edges: [-.inf, 5, 6, 7, 8, 9, 10, .inf]
        labels: ["<= 4 mm", "5 mm", "6 mm", "7 mm", "8 mm", "9 mm", ">= 10 mm"]

    Bins are left-closed, ``[5, 6)`` holds 5.0 to 5.99 mm.
    """

    column: str = Field(..., description="Manifest column whose values (or bins of them) define the subgroups.")
    edges: list[float] | None = Field(None, description="Bin edges of a continuous column, increasing (left-closed bins [a, b); -.inf / .inf for open ends); none: every value is a subgroup.")
    labels: list[str] | None = Field(None, description="Names of the bins, one per pair of neighbouring edges (default '[a, b)').")

    @model_validator(mode="after")
    def _check_bins(self) -> "SubgroupConfig":
        if self.edges is None:
            if self.labels is not None:
                raise ValueError(f"subgroup {self.column!r}: labels need edges")
            return self
        if len(self.edges) < 2 or any(b <= a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"subgroup {self.column!r}: edges must be at least two increasing "
                             f"numbers, got {self.edges}")
        if self.labels is not None and len(self.labels) != len(self.edges) - 1:
            raise ValueError(f"subgroup {self.column!r}: {len(self.edges)} edges make "
                             f"{len(self.edges) - 1} bins, but {len(self.labels)} labels were given")
        return self

    def bin_labels(self) -> list[str] | None:
        """The bin names (given, or ``[a, b)``), or ``None`` for a categorical column."""
        if self.edges is None:
            return None
        if self.labels is not None:
            return list(self.labels)
        return [f"[{a:g}, {b:g})" for a, b in zip(self.edges, self.edges[1:])]


class EvaluateConfig(_Frozen):
    """Evaluation beyond the model comparison (``evaluate/`` of the study folder)."""

    subgroups: list[SubgroupConfig] = Field([], description="Subgroup variables: every model of every block is evaluated in each subgroup of every cohort, at its threshold carried from training.")


class RobustnessConfig(_Frozen):
    """Feature robustness under image perturbation (``thyromics robustness``; Zwanenburg et al. 2019)."""

    enabled: bool = Field(False, description="Perturb every case, extract again and rate each feature's ICC over the perturbations (robustness/ of the study folder).")
    chain: str = Field("ntvc", description="Perturbation chain preset: ntvc (noise, translation, volume, contour: the paper's best), rnvc, noise, rotation, translation, volume, contour.")
    repetitions: int = Field(10, ge=2, description="Perturbed versions of every case.")
    seed: int | None = Field(None, description="Seed of the perturbation draws (default: the study seed).")
    noise_level: float | None = Field(None, ge=0, description="Standard deviation of the added noise (default: estimated from each image).")
    rotation_angles: list[float] | None = Field(None, description="Rotation angles in degrees (default: -15 ... 15 in steps of 5, without 0).")
    translation_fractions: list[float] | None = Field(None, description="Sub-voxel translation fractions in [0, 1) (default: 0, 0.25, 0.5, 0.75).")
    volume_mode: Literal["fraction", "distance"] | None = Field(None, description="Volume adaptation by a volume fraction or a distance in mm (default: fraction).")
    volume_sizes: list[float] | None = Field(None, description="Volume changes (fractions, or mm; < 0 shrinks; default: -0.2 ... 0.2).")
    supervoxels: int | None = Field(None, ge=2, description="About this many supervoxels over the lesion in contour randomisation (default 20).")
    icc: list[Literal["icc1", "icc2", "icc3"]] = Field(["icc1"], description="ICC forms computed; the first decides 'stable' (icc1 is the paper's).")
    threshold: float = Field(0.9, gt=0, le=1, description="A feature is stable when its ICC is at least this.")
    criterion: Literal["icc", "lower"] = Field("icc", description="icc: the point estimate against the threshold; lower: its lower 95% bound.")
    in_model: bool = Field(True, description="Add the robust step to every model: drop features below the threshold, ICC computed on each training fold's cases only.")


class HarmonizeConfig(_Frozen):
    """ComBat harmonisation of the features across centres, fitted inside every training fold."""

    column: str | None = Field(None, description="Manifest column of the centre / scanner; none: no harmonisation.")
    covariates: list[str] = Field([], description="Biological covariates ComBat keeps (e.g. age, sex; never the label).")
    reference: str | None = Field(None, description="Reference batch, left unchanged.")
    unseen: Literal["refuse", "reference"] = Field("refuse", description="A centre met only in another cohort: refuse with a message, or pass its cases unchanged (needs reference).")
    compare: bool = Field(True, description="Also run every model without ComBat and write the AUCs side by side.")

    @model_validator(mode="after")
    def _check(self) -> "HarmonizeConfig":
        if self.unseen == "reference" and self.reference is None:
            raise ValueError("harmonize.unseen: reference needs harmonize.reference")
        if (self.covariates or self.reference) and not self.column:
            raise ValueError("harmonize.covariates / reference need harmonize.column")
        return self


class StudyConfig(_Frozen):
    """A whole study. Paths are relative to the YAML file."""

    name: str = Field("study", description="Title of the report.")
    cases: Path = Field(..., description="The case manifest (cases.csv).")
    seed: int = Field(0, description="Seed of every random draw (written into provenance).")
    extract: ExtractConfig = Field(ExtractConfig(), description="Extraction settings.")
    table1: Table1Config = Field(Table1Config(), description="Table 1 settings.")
    model: ModelConfig = Field(ModelConfig(), description="Modelling settings.")
    deep: DeepConfig = Field(DeepConfig(), description="Deep-learning settings.")
    robustness: RobustnessConfig = Field(RobustnessConfig(), description="Perturbation robustness settings.")
    harmonize: HarmonizeConfig = Field(HarmonizeConfig(), description="Harmonisation settings.")
    evaluate: EvaluateConfig = Field(EvaluateConfig(), description="Evaluation settings.")
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
            item = getattr(ann, "__args__", (None,))[0]
            if isinstance(item, type) and issubclass(item, BaseModel):  # a list of settings
                rows.append(f"| `{prefix}{name}` | `{f.default!r}` | {f.description} |")
                walk(item, f"{prefix}{name}[].")
                continue
            default = "required" if f.is_required() else f"`{f.default!r}`"
            rows.append(f"| `{prefix}{name}` | {default} | {f.description} |")

    walk(StudyConfig, "")
    return "\n".join(rows)
