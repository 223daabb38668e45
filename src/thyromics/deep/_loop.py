"""The epoch loop shared by classifier and segmenter training.

Checkpoints after every epoch (``checkpoint.pt``: weights, optimiser, counters, history),
keeps the best weights by the monitored validation score in ``model.pt``, writes
``history.csv``, stops early after ``patience`` epochs without improvement, and resumes
from ``checkpoint.pt`` when asked. Every epoch re-seeds its own random draws from
``(seed, epoch)`` (see :func:`epoch_seed`), so an interrupted and resumed run gives the
same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from thyromics.errors import InputError
from thyromics.layout import DEEP_MODEL

__all__ = ["LoopResult", "run_loop", "seed_everything", "epoch_seed", "resolve_device",
           "train_step", "save_model", "load_model_file", "load_pretrained"]

FORMAT = "thyromics-deep-1"


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU. ``"cuda"`` without a GPU raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available; use --device auto or cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy, torch and MONAI (``monai.utils.set_determinism``)."""
    from monai.utils import set_determinism

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    set_determinism(seed=seed % 2**32)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch``'s shuffling, augmentation and dropout draws."""
    return (int(seed) * 100_003 + int(epoch) * 7_919) % 2**31


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               loss_fn: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor,
               device: torch.device) -> float:
    """One optimiser step on the batch ``(x, y)``, moved to ``device``.

    Returns the batch's summed loss: ``loss_fn``'s (mean) loss times the batch size, so an
    epoch's mean loss is the sum over its batches divided by the samples seen.
    """
    x, y = x.to(device), y.to(device)
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    return float(loss.detach()) * len(y)


@dataclass
class LoopResult:
    """Outcome of :func:`run_loop`."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stopped_early: bool = False
    resumed_from: int | None = None


def save_model(path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Save weights with what is needed to rebuild the network (``meta``)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, **meta, "state_dict": state}, path)


def load_model_file(path: Path) -> dict[str, Any]:
    """Load a ``model.pt`` written by :func:`save_model` (tensors and plain types only)."""
    if not Path(path).exists():
        raise InputError(f"no model at {path}; train one first with `thyromics dl train` "
                         "or `thyromics segment train`")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise InputError(f"{path} is not a thyromics model file (format {FORMAT!r})")
    return blob


def load_pretrained(model: torch.nn.Module, path: str | Path, exclude: tuple[str, ...] = ()) -> None:
    """Load a local state_dict into ``model``; nothing is ever downloaded.

    The file may hold a bare state_dict, or a dict with a ``"state_dict"`` (or
    ``"model"``) entry. Keys starting with a prefix in ``exclude`` are skipped (and the
    model's parameters under those prefixes keep their initial values). Any other
    missing or unexpected key, or a shape mismatch, raises :class:`InputError` listing
    them all.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"pretrained weights file {path} does not exist (weights are never downloaded; "
                         "give a local state_dict file)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for bad files
        raise InputError(f"cannot read pretrained weights {path}: {e}") from e
    if isinstance(blob, dict):
        for key in ("state_dict", "model"):
            if key in blob and isinstance(blob[key], dict):
                blob = blob[key]
                break
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise InputError(f"{path} does not hold a state_dict (a dict of parameter name -> tensor)")
    skip = lambda k: any(k.startswith(p) for p in exclude)  # noqa: E731
    own = {k: v for k, v in model.state_dict().items() if not skip(k)}
    given = {k: v for k, v in blob.items() if not skip(k)}
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    shapes = sorted(f"{k}: file {tuple(given[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(given) if given[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        def show(xs: list[str]) -> str:
            return ", ".join(xs[:20]) + (f" ... ({len(xs)} in all)" if len(xs) > 20 else "") if xs else "none"
        raise InputError(
            f"pretrained weights {path} do not match the network: missing keys [{show(missing)}]; "
            f"unexpected keys [{show(unexpected)}]; shape mismatches [{show(shapes)}]. "
            "Use the same network and options, or skip a layer with pretrained_exclude "
            "(e.g. the classification head).")
    model.load_state_dict(given, strict=False)


def run_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, out_dir: Path, *, epochs: int,
             patience: int, train_epoch: Callable[[int], float], validate: Callable[[], dict[str, float]],
             monitor: str, meta: dict[str, Any], tiebreak: str | None = None, resume: bool = True,
             progress: bool = True, show: tuple[str, ...] = (),
             desc: str = "train") -> LoopResult:
    """Train for up to ``epochs`` epochs, keeping the best ``validate()[monitor]`` (higher is better).

    Parameters
    ----------
    train_epoch : callable
        ``train_epoch(epoch) -> mean training loss``; it seeds its own draws.
    validate : callable
        ``validate() -> {metric: value}``; must contain ``monitor`` (NaN counts as worse
        than anything).
    meta : dict
        Written into ``model.pt`` to rebuild the network.
    show : tuple of str
        Metrics shown in the progress bar beside the loss (default: ``monitor``).
    tiebreak : str, optional
        A metric (lower is better) that decides between epochs with equal ``monitor``
        (e.g. the validation loss when the validation AUC saturates at 1).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, model_path = DEEP_MODEL.at(out_dir, "checkpoint"), DEEP_MODEL.at(out_dir, "model")
    history_path = DEEP_MODEL.at(out_dir, "history")
    res = LoopResult()
    start = 0
    if not resume:  # a fresh run must not keep a previous run's files
        for stale in (ckpt_path, model_path, history_path):
            stale.unlink(missing_ok=True)
    if resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        res = LoopResult(ck["history"], ck["best_epoch"], ck["best_score"], ck["stopped_early"], ck["epoch"])
        start = ck["epoch"]
        if ck["stopped_early"]:
            return res
    bad = start - res.best_epoch if start else 0
    bar = tqdm(range(start, epochs), desc=desc, disable=not progress, initial=start, total=epochs)
    for epoch in bar:
        loss = float(train_epoch(epoch))
        metrics = validate()
        score = metrics.get(monitor, math.nan)
        row = {"epoch": epoch + 1, "train_loss": loss, **metrics}
        res.history.append(row)
        tie = (tiebreak is not None and score == res.best_score and res.best_epoch > 0
               and metrics[tiebreak] < res.history[res.best_epoch - 1][tiebreak])
        if np.isfinite(score) and (score > res.best_score or tie):
            res.best_score, res.best_epoch, bad = float(score), epoch + 1, 0
            save_model(model_path, model, {**meta, "epoch": epoch + 1, "score": float(score)})
        else:
            bad += 1
        if not model_path.exists():  # no finite score yet: keep the latest weights
            save_model(model_path, model, {**meta, "epoch": epoch + 1, "score": math.nan})
        res.stopped_early = bad >= patience
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                    "history": res.history, "best_epoch": res.best_epoch, "best_score": res.best_score,
                    "stopped_early": res.stopped_early}, ckpt_path)
        pd.DataFrame(res.history).to_csv(history_path, index=False)
        bar.set_postfix({"loss": f"{loss:.4f}", **{k: f"{metrics[k]:.3f}" for k in (show or (monitor,))}})
        if res.stopped_early:
            break
    bar.close()
    return res
