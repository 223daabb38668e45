"""Lesion segmentation: training, sliding-window inference, lesions and agreement metrics.

* 2D (ultrasound): whole images resized to ``size_2d``; predictions are resized back to
  the input's size.
* 3D (CT): volumes resampled to ``spacing_3d``; training uses ``patch_3d`` patches
  centred on the lesion (random flips), inference runs
  ``monai.inferers.sliding_window_inference`` over the whole resampled volume with
  ``patch_3d`` windows, and the probability map is resampled back to the input grid.

Loss: soft Dice (``monai.losses.DiceLoss`` on sigmoid outputs), Adam; early stopping on
the validation Dice. Predicted masks are written in the input image's format and
geometry, split into lesions by connected components (smaller than ``min_lesion_size``
removed), and compared with reference masks by Dice, IoU and HD95
(:mod:`thyromics.evaluate.segmentation`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from thyromics.batch import write_errors
from thyromics.deep._io import (CASE_FAILURES, CaseRef, load_case_images, read_cases, skip_reason,
                               write_mask_like)
from thyromics.deep._loop import (epoch_seed, load_model_file, resolve_device, run_loop, seed_everything,
                                  train_step)
from thyromics.deep.data import _cut_centred, _resize, bounding_box, resample_image
from thyromics.deep.nets import build_network, get_spec
from thyromics.deep.settings import SegmentSettings, settings_from_dict, settings_to_dict
from thyromics.deep.transforms import normalize
from thyromics.errors import CaseError, InputError
from thyromics.io.image import Image
from thyromics.layout import DEEP_MODEL

__all__ = ["SegmentResult", "segmentation_samples", "train_segmenter", "fit_segmenter", "load_segmenter",
           "predict_probability_map", "postprocess", "agreement", "predict_segmentation"]


@dataclass
class SegmentResult:
    """What :func:`train_segmenter` returns."""

    out_dir: Path
    history: list[dict[str, Any]]
    best_epoch: int
    best_dice: float
    stopped_early: bool


def _prepare(image: Image, settings: SegmentSettings) -> np.ndarray:
    """Network input of a whole image: normalised, resized (2D) or resampled (3D)."""
    if image.ndim != settings.spatial_dims:
        raise ValueError(f"expected a {settings.spatial_dims}D image, found shape {image.array.shape}")
    if image.ndim == 2:
        return np.clip(_resize(normalize(image.array, settings.window), settings.size_2d, "bilinear"), 0, 1)
    return normalize(resample_image(image, settings.spacing_3d, is_mask=False).array, settings.window)


def segmentation_samples(cases: Sequence[CaseRef], settings: SegmentSettings
                         ) -> tuple[np.ndarray, np.ndarray, list[str], list[str], list[tuple[str, str]]]:
    """Training pairs ``(images, masks)`` of shape ``(N, 1, *size)`` plus ids and errors.

    2D: the whole image and mask resized to ``size_2d``. 3D: the ``patch_3d`` block
    around the lesion centre after resampling, the centre shifted by a seeded random
    offset of up to a quarter of the patch on every axis.
    """
    imgs, msks, ids, pids, errors = [], [], [], [], []
    rng = np.random.default_rng(settings.seed)
    for case in cases:
        try:
            image, mask = load_case_images(case)
            if mask is None:
                raise CaseError("no mask: segmentation training needs one", case_id=case.case_id)
            x = _prepare(image, settings)
            if image.ndim == 2:
                m = _resize(mask.array.astype(np.float32), settings.size_2d, "nearest") > 0.5
            else:
                mr = resample_image(mask, settings.spacing_3d, is_mask=True).array
                box = bounding_box(mr)
                # the lesion centre shifted by up to a quarter patch (seeded), so the network
                # does not learn that lesions always sit in the middle of a window
                centre = [(b.start + b.stop - 1) / 2 + rng.integers(-(n // 4), n // 4 + 1)
                          for b, n in zip(box, settings.patch_3d)]
                x = _cut_centred(x, centre, settings.patch_3d, 0.0)
                m = _cut_centred(mr, centre, settings.patch_3d, 0)
        except CASE_FAILURES as e:
            errors.append((case.case_id, skip_reason(e)))
            continue
        imgs.append(x.astype(np.float32))
        msks.append(np.asarray(m, np.float32))
        ids.append(case.case_id)
        pids.append(case.patient_id)
    shape = settings.size_2d if settings.spatial_dims == 2 else settings.patch_3d
    return (np.stack(imgs)[:, None] if imgs else np.zeros((0, 1, *shape), np.float32),
            np.stack(msks)[:, None] if msks else np.zeros((0, 1, *shape), np.float32), ids, pids, errors)


def _grouped_split(patient_ids: Sequence[str], splits: Sequence[str | None], val_fraction: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training / validation indices by patient; test rows of a split column are never used."""
    s = [None if v is None else str(v).lower() for v in splits]
    idx = np.arange(len(patient_ids))
    if any(v is not None for v in s):
        tr = np.array([i for i, v in enumerate(s) if v in ("train", "training")], int)
        va = np.array([i for i, v in enumerate(s) if v in ("val", "valid", "validation", "tune")], int)
        if len(tr) and len(va):
            return tr, va
        if len(tr) == 0:
            raise InputError(f"the split column has no training rows; found {sorted({v for v in s if v})}")
        idx = tr  # no validation rows: carve them out of the training rows
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(patient_ids)[idx]
    if len(set(groups)) < 2:
        raise InputError("segmentation training needs cases of at least 2 patients (one for validation)")
    gss = GroupShuffleSplit(n_splits=1, test_size=val_fraction, random_state=seed)
    tr, va = next(gss.split(idx, groups=groups))
    return idx[tr], idx[va]


def _dice_batch(prob: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    """Hard Dice per sample: ``2|P n R| / (|P| + |R|)``, 1 when both are empty."""
    p = (prob > 0.5).flatten(1).float()
    r = (ref > 0.5).flatten(1).float()
    inter, total = (p * r).sum(1), p.sum(1) + r.sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total)).cpu().numpy()


def _meta(settings: SegmentSettings) -> dict[str, Any]:
    return {"network": settings.network, "task": "segment", "spatial_dims": settings.spatial_dims,
            "in_channels": 1, "out_channels": 1, "img_size": None, "options": dict(settings.network_options),
            "settings": settings_to_dict(settings)}


def train_segmenter(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                    settings: SegmentSettings, out_dir: str | Path, *, resume: bool = True,
                    progress: bool = True) -> SegmentResult:
    """Train a registered segmentation network on ``(images, masks)`` arrays ``(N, 1, *size)``.

    Soft Dice loss on the sigmoid of the single output channel, Adam, random flips on
    every axis (seeded per epoch), early stopping on the mean validation Dice.
    """
    from monai.losses import DiceLoss

    get_spec(settings.network, task="segment")
    out_dir = Path(out_dir)
    if len(train[0]) == 0 or len(val[0]) == 0:
        raise InputError("segmentation training needs at least one training and one validation image")
    device = resolve_device(settings.device)
    seed_everything(settings.seed)
    model = build_network(settings.network, spatial_dims=settings.spatial_dims, in_channels=1, out_channels=1,
                          task="segment", **settings.network_options).to(device)
    loss_fn = DiceLoss(sigmoid=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    out_dir.mkdir(parents=True, exist_ok=True)
    DEEP_MODEL.at(out_dir, "settings").write_text(json.dumps(settings_to_dict(settings), indent=2, default=list))
    x_all, y_all = torch.as_tensor(train[0]), torch.as_tensor(train[1])
    nd = settings.spatial_dims

    def train_epoch(epoch: int) -> float:
        g = torch.Generator().manual_seed(epoch_seed(settings.seed, epoch))
        torch.manual_seed(epoch_seed(settings.seed, epoch))
        order = torch.randperm(len(x_all), generator=g)
        model.train()
        total = 0.0
        for i in range(0, len(order), settings.batch_size):
            idx = order[i:i + settings.batch_size]
            x, y = x_all[idx], y_all[idx]
            flips = [2 + a for a in range(nd) if torch.rand(1, generator=g).item() < 0.5]
            if flips:
                x, y = x.flip(flips), y.flip(flips)
            total += train_step(model, optimizer, loss_fn, x, y, device)
        return total / len(order)

    @torch.no_grad()
    def validate() -> dict[str, float]:
        model.eval()
        dices, losses = [], []
        for i in range(0, len(val[0]), settings.batch_size):
            x = torch.as_tensor(val[0][i:i + settings.batch_size], device=device)
            y = torch.as_tensor(val[1][i:i + settings.batch_size], device=device)
            logits = model(x)
            losses.append(float(loss_fn(logits, y)) * len(x))
            dices.append(_dice_batch(torch.sigmoid(logits), y))
        return {"val_loss": sum(losses) / len(val[0]), "val_dice": float(np.concatenate(dices).mean())}

    res = run_loop(model, optimizer, out_dir, epochs=settings.epochs, patience=settings.patience,
                   train_epoch=train_epoch, validate=validate, monitor="val_dice", tiebreak="val_loss",
                   show=("val_loss", "val_dice"),
                   meta=_meta(settings), resume=resume, progress=progress, desc=settings.network)
    return SegmentResult(out_dir, res.history, res.best_epoch, res.best_score, res.stopped_early)


def fit_segmenter(manifest: str | Path, settings: SegmentSettings, out_dir: str | Path, *,
                  resume: bool = True, progress: bool = True,
                  roi: str | None = None) -> SegmentResult:
    """Read a manifest, split patients into training/validation and train a segmenter.

    ``roi``: the RTSTRUCT structure / SEG or Slicer segment for rows whose ``roi`` cell is
    empty. Writes ``split.csv`` and ``errors.csv`` beside the model files.
    """
    import pandas as pd

    out_dir = Path(out_dir)
    cases = read_cases(manifest, roi=roi)
    x, y, ids, pids, errors = segmentation_samples(cases, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_errors(DEEP_MODEL, out_dir, errors)
    split_of = {c.case_id: c.split for c in cases}
    tr, va = _grouped_split(pids, [split_of[i] for i in ids], settings.val_fraction, settings.seed)
    split = pd.DataFrame({"case_id": ids, "patient_id": pids, "split": "unused"})
    split.loc[tr, "split"] = "train"
    split.loc[va, "split"] = "val"
    split.to_csv(DEEP_MODEL.at(out_dir, "split"), index=False)
    return train_segmenter((x[tr], y[tr]), (x[va], y[va]), settings, out_dir, resume=resume, progress=progress)


def load_segmenter(model_dir: str | Path, device: str = "auto") -> tuple[torch.nn.Module, SegmentSettings]:
    """Rebuild a trained segmenter from ``model_dir/model.pt``."""
    blob = load_model_file(DEEP_MODEL.at(model_dir, "model"))
    if blob.get("task") != "segment":
        raise InputError(f"{model_dir} holds a {blob.get('task')} model, not a segmenter")
    settings = settings_from_dict(blob["settings"])
    model = build_network(blob["network"], spatial_dims=blob["spatial_dims"], in_channels=1, out_channels=1,
                          **blob["options"])
    model.load_state_dict(blob["state_dict"])
    return model.to(resolve_device(device)).eval(), settings  # type: ignore[return-value]


@torch.no_grad()
def predict_probability_map(model: torch.nn.Module, image: Image, settings: SegmentSettings) -> np.ndarray:
    """Foreground probability on the input image's own grid (same shape as ``image.array``).

    2D: resize -> network -> resize back (bilinear). 3D: resample to ``spacing_3d`` ->
    sliding-window inference with ``patch_3d`` windows (``overlap``, Gaussian blending)
    -> resample back to the input grid (linear).
    """
    from monai.inferers import sliding_window_inference

    device = next(model.parameters()).device
    x = torch.as_tensor(_prepare(image, settings)[None, None], device=device)
    model.eval()
    if image.ndim == 2:
        prob = torch.sigmoid(model(x))[0, 0].cpu().numpy()
        return np.clip(_resize(prob, image.array.shape, "bilinear"), 0, 1)
    prob = torch.sigmoid(sliding_window_inference(x, settings.patch_3d, 1, model, overlap=settings.overlap,
                                                  mode="gaussian"))[0, 0].cpu().numpy()
    grid = resample_image(image, settings.spacing_3d, is_mask=False)
    on_grid = Image(prob.astype(np.float32), grid.spacing, grid.origin, grid.direction)
    from thyromics.preprocess.resample import Grid, resample_to_grid

    back, _ = resample_to_grid(on_grid, Grid.of(image), interpolator="linear", outside="fill")
    return back.array.astype(np.float32)


def postprocess(prob: np.ndarray, threshold: float, min_size: int) -> tuple[np.ndarray, int]:
    """Threshold, label connected components (full connectivity), drop those < ``min_size``.

    Returns the cleaned 0/1 mask and the number of lesions kept.
    """
    from scipy import ndimage

    fg = prob > threshold
    structure = ndimage.generate_binary_structure(fg.ndim, fg.ndim)
    labels, n = ndimage.label(fg, structure=structure)
    if n == 0:
        return fg.astype(np.uint8), 0
    sizes = np.bincount(labels.ravel())
    keep = np.nonzero(sizes >= min_size)[0]
    keep = keep[keep > 0]
    return np.isin(labels, keep).astype(np.uint8), int(len(keep))


def agreement(pred: np.ndarray, ref: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Dice, IoU and HD95 (mm) of a predicted and a reference mask.

    ``spacing`` is in ITK order (as :class:`Image` keeps it); metrics come from
    :mod:`thyromics.evaluate.segmentation` (undefined values are NaN with its warning).
    """
    from thyromics.evaluate.segmentation import case_agreement

    return case_agreement(ref, pred, tuple(reversed(spacing)))


def predict_segmentation(model_dir: str | Path, manifest: str | Path, out_dir: str | Path, *,
                         device: str = "auto", progress: bool = True,
                         mask_format: str = "auto",
                         roi: str | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """Segment every case of a manifest; write masks and a per-case table.

    Masks go to ``out_dir/masks/<case_id><image suffix>`` in the image's format and
    geometry (picture formats as 0/255 PNG). With ``mask_format="auto"`` a DICOM series
    image gets a DICOM SEG (``<case_id>.dcm``, segment "lesion", algorithm type
    AUTOMATIC, referencing every slice: :func:`thyromics.io.dicom_seg.write_seg`), so
    it opens in 3D Slicer, OHIF and PACS; ``mask_format="seg"`` writes SEG for DICOM
    file images too. ``roi`` is the RTSTRUCT structure / SEG or Slicer segment of the
    reference masks for rows whose ``roi`` cell is empty. Returns a DataFrame with ``case_id,
    mask_path, n_lesions, dice, iou, hd95`` (metrics NaN when the manifest row has no
    readable reference mask) and the skipped ``(case_id, reason)`` pairs.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if mask_format not in ("auto", "seg"):
        raise InputError(f"mask_format must be 'auto' or 'seg', got {mask_format!r}.")
    model, settings = load_segmenter(model_dir, device)
    out_dir = Path(out_dir)
    rows, errors = [], []
    for case in tqdm(read_cases(manifest, roi=roi), desc="segment", disable=not progress):
        try:
            image, ref = load_case_images(case) if case.mask is not None and Path(case.mask).exists() \
                else (load_case_images(replace(case, mask=None))[0], None)
            prob = predict_probability_map(model, image, settings)
            mask, n = postprocess(prob, settings.threshold, settings.min_lesion_size)
            name = case.image.name
            suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else case.image.suffix
            safe = "".join(ch if ch.isalnum() or ch in "-_.()" else "_" for ch in case.case_id)
            if Path(case.image).is_dir() or mask_format == "seg":
                from thyromics.io.dicom_seg import write_seg

                path = write_seg(image.with_array((mask > 0).astype(np.uint8)), case.image,
                                 out_dir / "masks" / f"{safe}.dcm",
                                 algorithm=f"thyromics segment {Path(model_dir).name}",
                                 series_description="thyromics segmentation")
            else:
                path = write_mask_like(mask, image, out_dir / "masks" / f"{safe}{suffix}")
            row = {"case_id": case.case_id, "mask_path": str(path), "n_lesions": n}
            if ref is not None:
                row |= agreement(mask, ref.array, image.spacing)
            rows.append(row)
        except CASE_FAILURES as e:
            errors.append((case.case_id, skip_reason(e)))
    cols = ["case_id", "mask_path", "n_lesions", "dice", "iou", "hd95"]
    return pd.DataFrame(rows).reindex(columns=cols), errors
