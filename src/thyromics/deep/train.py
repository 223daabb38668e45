"""Classifier training and prediction on lesion samples.

``fit_classifier(manifest, settings, out_dir)`` reads the manifest, cuts one sample per
lesion, splits patients into training and validation (the manifest's ``split`` column,
else a seeded stratified grouped split), trains with class-weighted cross-entropy and
Adam, stops early on the validation AUC and writes to ``out_dir``:

``model.pt`` (best weights + what rebuilds the network), ``checkpoint.pt`` (last epoch,
for resuming), ``settings.json``, ``history.csv`` (loss, validation loss and AUC per
epoch), ``split.csv`` (case_id, patient_id, split) and ``errors.csv`` (skipped cases).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thyromics.batch import write_errors
from thyromics.deep._io import read_cases
from thyromics.deep._loop import (LoopResult, epoch_seed, load_model_file, load_pretrained, resolve_device,
                                  run_loop, seed_everything, train_step)
from thyromics.deep.data import LesionSamples, build_samples
from thyromics.deep.nets import build_network, get_spec
from thyromics.deep.settings import TrainSettings, settings_from_dict, settings_to_dict
from thyromics.deep.transforms import build_augmentation
from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import DEEP_MODEL

__all__ = ["TrainResult", "fit_classifier", "train_classifier", "split_train_val", "class_weights",
           "binary_auc", "load_classifier", "predict_probabilities", "predict_classifier"]

TRAIN_SPLITS = ("train", "training")
VAL_SPLITS = ("val", "valid", "validation", "tune")


@dataclass
class TrainResult:
    """What :func:`train_classifier` returns."""

    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_auc: float
    stopped_early: bool


def binary_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney), NaN when ``y`` holds one class only."""
    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return math.nan
    try:
        from thyromics.evaluate.roc import auc  # type: ignore[import-not-found]
    except ImportError:
        from sklearn.metrics import roc_auc_score as auc
    return float(auc(y, p))


def class_weights(labels: np.ndarray, n_classes: int = 2) -> np.ndarray:
    """Balanced weights ``w_c = n / (k * n_c)`` (scikit-learn's ``"balanced"``); 0 for absent classes."""
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = len(labels) / (present.sum() * counts[present])
    return w


def split_train_val(samples: LesionSamples, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation samples; patients never straddle the two.

    With a ``split`` column: rows marked train/training train, val/valid/validation/tune
    validate, others (test ...) are left out. Without: ``StratifiedGroupKFold`` with
    ``round(1 / val_fraction)`` folds grouped by patient (seeded); the first fold validates.
    """
    splits = [None if s is None else str(s).lower() for s in samples.splits]
    if any(s is not None for s in splits):
        tr = np.array([i for i, s in enumerate(splits) if s in TRAIN_SPLITS], dtype=int)
        va = np.array([i for i, s in enumerate(splits) if s in VAL_SPLITS], dtype=int)
        if len(tr) and len(va):
            return tr, va
        if len(tr) == 0:
            raise InputError(f"the manifest's split column has no training rows ({TRAIN_SPLITS}); "
                             f"found {sorted({s for s in splits if s})}")
        candidates = tr  # no validation rows: carve them out of the training rows
    else:
        candidates = np.arange(len(samples))
    from sklearn.model_selection import StratifiedGroupKFold

    y = samples.labels[candidates].astype(int)
    groups = np.array(samples.patient_ids)[candidates]
    n_splits = max(2, int(round(1.0 / val_fraction)))
    if len(np.unique(groups)) < n_splits:
        raise InputError(f"{len(np.unique(groups))} patients are too few for a validation fraction of "
                         f"{val_fraction}; give more cases or a split column")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    tr, va = next(cv.split(np.zeros(len(y)), y, groups))
    return candidates[tr], candidates[va]


class _ArrayDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Any = None) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(self.images[i])
        if self.transform is not None:
            from monai.data import get_track_meta, set_track_meta

            track = get_track_meta()
            set_track_meta(False)  # plain tensors: MONAI's metadata tracking is 5x slower here
            try:
                x = torch.as_tensor(np.asarray(self.transform(x)), dtype=torch.float32)
            finally:
                set_track_meta(track)
        return x, torch.as_tensor(int(self.labels[i]))


def _meta(settings: TrainSettings, img_size: tuple[int, ...]) -> dict[str, Any]:
    return {"network": settings.network, "task": "classify", "spatial_dims": settings.data.spatial_dims,
            "in_channels": 1, "out_channels": 2, "img_size": list(img_size),
            "options": dict(settings.network_options), "settings": settings_to_dict(settings)}


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, images: np.ndarray, device: torch.device,
                          batch_size: int = 32) -> np.ndarray:
    """Softmax probability of class 1 for every sample, shape ``(N,)``."""
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.as_tensor(images[i:i + batch_size], dtype=torch.float32, device=device)
        out.append(torch.softmax(model(x), dim=1)[:, 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_classifier(train: LesionSamples, val: LesionSamples, settings: TrainSettings, out_dir: str | Path,
                     *, resume: bool = True, progress: bool = True) -> TrainResult:
    """Train a registered classifier on in-memory lesion samples.

    Parameters
    ----------
    train, val : LesionSamples
        Labelled samples (labels 0/1).
    settings : TrainSettings
    out_dir : path
        Receives ``model.pt``, ``checkpoint.pt``, ``settings.json`` and ``history.csv``.
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` when it exists.
    progress : bool
        Show a progress bar with the loss and the validation AUC per epoch.
    """
    out_dir = Path(out_dir)
    for name, s in (("training", train), ("validation", val)):
        if len(s) == 0:
            raise InputError(f"no {name} samples")
        if np.isnan(s.labels).any():
            raise InputError(f"{name} samples without labels: {[c for c, y in zip(s.case_ids, s.labels) if np.isnan(y)][:10]}")
    get_spec(settings.network, task="classify")
    device = resolve_device(settings.device)
    seed_everything(settings.seed)
    img_size = tuple(train.images.shape[2:])
    model = build_network(settings.network, spatial_dims=settings.data.spatial_dims, in_channels=1,
                          out_channels=2, img_size=img_size, task="classify", **settings.network_options)
    if settings.pretrained:
        load_pretrained(model, settings.pretrained, settings.pretrained_exclude)
    model.to(device)
    y_train = train.labels.astype(int)
    w = class_weights(y_train) if settings.class_weights else np.ones(2)
    criterion = torch.nn.CrossEntropyLoss(weight=torch.as_tensor(w, dtype=torch.float32, device=device))
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    augment = build_augmentation(settings.augment, img_size, settings.seed)
    dataset = _ArrayDataset(train.images, y_train, augment)
    out_dir.mkdir(parents=True, exist_ok=True)
    DEEP_MODEL.at(out_dir, "settings").write_text(json.dumps(settings_to_dict(settings), indent=2, default=list))

    def train_epoch(epoch: int) -> float:
        s = epoch_seed(settings.seed, epoch)
        torch.manual_seed(s)
        if augment is not None:
            augment.set_random_state(seed=s)
        loader = torch.utils.data.DataLoader(dataset, batch_size=settings.batch_size, shuffle=True,
                                             generator=torch.Generator().manual_seed(s),
                                             drop_last=len(dataset) > settings.batch_size)
        model.train()
        total, n = 0.0, 0
        for x, y in loader:
            total += train_step(model, optimizer, criterion, x, y, device)
            n += len(y)
        return total / max(n, 1)

    def validate() -> dict[str, float]:
        p = predict_probabilities(model, val.images, device, settings.batch_size)
        pt = torch.as_tensor(np.stack([1 - p, p], 1).clip(1e-7, 1), device=device)
        vloss = float(criterion(torch.log(pt), torch.as_tensor(val.labels.astype(int), device=device)))
        return {"val_loss": vloss, "val_auc": binary_auc(val.labels, p), "val_score": _score(val.labels, p, vloss)}

    if len(np.unique(val.labels)) < 2:
        warnings.warn("the validation set holds one class only: AUC is undefined, early stopping "
                      "watches the validation loss instead", ThyromicsWarning, stacklevel=2)
    res: LoopResult = run_loop(model, optimizer, out_dir, epochs=settings.epochs, patience=settings.patience,
                               train_epoch=train_epoch, validate=validate, monitor="val_score", tiebreak="val_loss",
                               show=("val_loss", "val_auc"),
                               meta=_meta(settings, img_size), resume=resume, progress=progress,
                               desc=f"{settings.network}")
    best_auc = next((r["val_auc"] for r in res.history if r["epoch"] == res.best_epoch), math.nan)
    return TrainResult(out_dir, res.history, res.best_epoch, best_auc, res.stopped_early)


def _score(y: np.ndarray, p: np.ndarray, vloss: float) -> float:
    """Early-stopping score: validation AUC, or minus the validation loss when AUC is undefined."""
    auc = binary_auc(y, p)
    return auc if np.isfinite(auc) else -vloss


def fit_classifier(manifest: str | Path, settings: TrainSettings, out_dir: str | Path, *,
                   resume: bool = True, progress: bool = True,
                   roi: str | None = None) -> TrainResult:
    """Read a case manifest, cut lesion samples, split by patient and train (see module docstring).

    ``roi``: the RTSTRUCT structure / SEG or Slicer segment for rows whose ``roi`` cell is
    empty (:func:`thyromics.io.load_case`).
    """
    import pandas as pd

    out_dir = Path(out_dir)
    samples = build_samples(read_cases(manifest, roi=roi), settings.data, require_label=True,
                            progress=progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_errors(DEEP_MODEL, out_dir, samples.errors)
    if len(samples) == 0:
        raise InputError(f"no usable labelled case in {manifest}; see {DEEP_MODEL.at(out_dir, 'errors')}")
    tr, va = split_train_val(samples, settings.val_fraction, settings.seed)
    split = pd.DataFrame({"case_id": samples.case_ids, "patient_id": samples.patient_ids, "split": "unused"})
    split.loc[tr, "split"] = "train"
    split.loc[va, "split"] = "val"
    split.to_csv(DEEP_MODEL.at(out_dir, "split"), index=False)
    return train_classifier(samples.subset(tr), samples.subset(va), settings, out_dir,
                            resume=resume, progress=progress)


def load_classifier(model_dir: str | Path, device: str = "auto") -> tuple[torch.nn.Module, TrainSettings]:
    """Rebuild a trained classifier from ``model_dir/model.pt`` (on ``device``, in eval mode)."""
    blob = load_model_file(DEEP_MODEL.at(model_dir, "model"))
    settings = settings_from_dict(blob["settings"])
    model = build_network(blob["network"], spatial_dims=blob["spatial_dims"], in_channels=blob["in_channels"],
                          out_channels=blob["out_channels"], img_size=blob["img_size"], **blob["options"])
    model.load_state_dict(blob["state_dict"])
    return model.to(resolve_device(device)).eval(), settings  # type: ignore[return-value]


def predict_classifier(model_dir: str | Path, manifest: str | Path, *, device: str = "auto",
                       progress: bool = True,
                       roi: str | None = None) -> tuple["Any", list[tuple[str, str]]]:
    """Probabilities of class 1 for every lesion of a manifest (``roi`` as in
    :func:`fit_classifier`).

    Returns
    -------
    (pandas.DataFrame, list)
        Columns ``case_id, patient_id, label, probability``, and the skipped
        ``(case_id, reason)`` pairs. Every row is predicted (no per-patient draw).
    """
    import pandas as pd
    from dataclasses import replace

    model, settings = load_classifier(model_dir, device)
    data = replace(settings.data, max_lesions_per_patient=None)
    samples = build_samples(read_cases(manifest, roi=roi), data, progress=progress)
    p = predict_probabilities(model, samples.images, next(model.parameters()).device, settings.batch_size)
    df = pd.DataFrame({"case_id": samples.case_ids, "patient_id": samples.patient_ids,
                       "label": samples.labels, "probability": p})
    return df, samples.errors
