"""Grad-CAM heat maps (Selvaraju et al., ICCV 2017) with MONAI, saved as PNG overlays.

For class ``c`` and target layer activations ``A^k``, Grad-CAM is
``ReLU(sum_k alpha_k A^k)`` with ``alpha_k = mean over positions of dy_c / dA^k``,
upsampled to the input size (MONAI ``GradCAM``) and min-max scaled to [0, 1] per sample
(1 = most important). The target layer is the registry's last convolutional stage.

Overlays show the image with the mask outline, and the image with the heat map and the
mask outline; for 3D samples the axial, coronal and sagittal mid-slices.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thyromics.layout import DL

__all__ = ["gradcam_maps", "save_overlay", "gradcam_manifest"]


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """Per-sample min-max scaling to [0, 1] (zeros for a constant map)."""
    flat = x.reshape(x.shape[0], -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return ((flat - lo) / span * (hi > lo)).reshape(x.shape)


def gradcam_maps(model: torch.nn.Module, network: str, images: np.ndarray, class_idx: int = 1,
                 batch_size: int = 8, target_layer: str | None = None) -> np.ndarray:
    """Grad-CAM maps of class ``class_idx`` for every sample.

    Parameters
    ----------
    model : torch.nn.Module
        A registered classifier.
    network : str
        Its registry name (gives the target layer).
    images : numpy.ndarray
        ``(N, 1, *spatial)`` in [0, 1].
    target_layer : str, optional
        Override of the registry's layer (dotted module name).

    Returns
    -------
    numpy.ndarray
        float32 ``(N, *spatial)`` in [0, 1].
    """
    from monai.visualize import GradCAM

    from thyromics.deep.nets import cam_layer

    layer = target_layer or cam_layer(network)
    model.eval()
    cam = GradCAM(nn_module=model, target_layers=layer, postprocessing=_minmax)
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.as_tensor(images[i:i + batch_size], dtype=torch.float32, device=device)
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            out.append(cam(x, class_idx=class_idx).detach().cpu().numpy()[:, 0])
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, *images.shape[2:]), np.float32)


def _panel(ax: Any, img: np.ndarray, cam: np.ndarray | None, mask: np.ndarray | None, title: str) -> None:
    ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if cam is not None:
        ax.imshow(cam, cmap="jet", alpha=0.4, vmin=0, vmax=1, interpolation="bilinear")
    if mask is not None and mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def save_overlay(image: np.ndarray, cam: np.ndarray, mask: np.ndarray | None, path: str | Path,
                 title: str = "") -> Path:
    """Save a PNG: the image with the mask outline, and with the heat map and the outline.

    2D inputs give one row of two panels; 3D inputs (``z, y, x``) give two rows of the
    axial, coronal and sagittal mid-slices.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 2:
        views = [("", image, cam, mask)]
    else:
        c = [n // 2 for n in image.shape]
        take = lambda a, ax: None if a is None else np.take(a, c[ax], axis=ax)  # noqa: E731
        views = [(name, take(image, ax), take(cam, ax), take(mask, ax))
                 for name, ax in (("axial", 0), ("coronal", 1), ("sagittal", 2))]
    fig, axes = plt.subplots(2 if len(views) > 1 else 1, max(len(views), 2), squeeze=False,
                             figsize=(3 * max(len(views), 2), 3 * (2 if len(views) > 1 else 1)))
    for j, (name, img, hm, m) in enumerate(views):
        if len(views) == 1:
            _panel(axes[0, 0], img, None, m, "image")
            _panel(axes[0, 1], img, hm, m, "Grad-CAM")
        else:
            _panel(axes[0, j], img, None, m, f"{name}")
            _panel(axes[1, j], img, hm, m, f"{name} Grad-CAM")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def gradcam_manifest(model_dir: str | Path, manifest: str | Path, out_dir: str | Path, *,
                     class_idx: int = 1, device: str = "auto", progress: bool = True,
                     roi: str | None = None) -> tuple[list[Path], list[tuple[str, str]]]:
    """Grad-CAM overlays ``<out_dir>/<case_id>.png`` for every lesion of a manifest.

    ``roi``: the RTSTRUCT structure / SEG or Slicer segment for rows whose ``roi`` cell is
    empty. Returns the written paths and the skipped ``(case_id, reason)`` pairs.
    """
    from dataclasses import replace

    from tqdm.auto import tqdm

    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.train import load_classifier, predict_probabilities

    model, settings = load_classifier(model_dir, device)
    samples = build_samples(read_cases(manifest, roi=roi),
                            replace(settings.data, max_lesions_per_patient=None),
                            progress=progress)
    maps = gradcam_maps(model, settings.network, samples.images, class_idx=class_idx)
    probs = predict_probabilities(model, samples.images, next(model.parameters()).device)
    out_dir = Path(out_dir)
    paths = []
    for i, cid in enumerate(tqdm(samples.case_ids, desc="grad-cam", disable=not progress, leave=False)):
        safe = "".join(ch if ch.isalnum() or ch in "-_.()" else "_" for ch in cid)
        label = "" if np.isnan(samples.labels[i]) else f", label {int(samples.labels[i])}"
        paths.append(save_overlay(samples.images[i, 0], maps[i], samples.masks[i, 0], DL.at(out_dir, "overlay", case=safe),
                                  f"{cid}: p(class {class_idx}) = {probs[i]:.2f}{label}"))
    return paths, samples.errors
