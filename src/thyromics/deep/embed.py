"""Deep features: penultimate-layer activations reduced by PCA fitted on training rows only.

Ni et al. (Gland Surg 2024) keep the activations that enter the last fully connected layer
and reduce them to 128 principal components. Here the PCA is fitted on the *training* rows
of the model's own split (``split.csv`` of the model folder) and only applied to every
other row, so no validation or test image shapes the projection. The number of
components is ``min(n_components, n_train - 1, n_features)``.

The table has ``case_id`` and ``deep_pca_1 ... deep_pca_k`` columns (family ``deep``),
with the family map and provenance in ``DataFrame.attrs`` (kept in the Parquet file).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from thyromics.errors import InputError
from thyromics.layout import DEEP_MODEL

__all__ = ["penultimate_activations", "DeepPCA", "deep_feature_table", "embed_manifest", "FAMILY", "PREFIX"]

FAMILY = "deep"
PREFIX = "deep_pca_"


@torch.no_grad()
def penultimate_activations(model: torch.nn.Module, network: str, images: np.ndarray,
                            batch_size: int = 32) -> np.ndarray:
    """Inputs of the network's final fully connected layer, shape ``(N, n_features)``.

    Read with a forward pre-hook on the layer the registry names as the head
    (:func:`thyromics.deep.nets.penultimate_module`), with the model in eval mode.
    """
    from thyromics.deep.nets import penultimate_module

    head = penultimate_module(model, network)
    captured: list[torch.Tensor] = []
    handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().flatten(1).cpu()))
    model.eval()
    device = next(model.parameters()).device
    try:
        for i in range(0, len(images), batch_size):
            model(torch.as_tensor(images[i:i + batch_size], dtype=torch.float32, device=device))
    finally:
        handle.remove()
    return torch.cat(captured).numpy() if captured else np.zeros((0, 0), np.float32)


class DeepPCA:
    """PCA of deep activations, fitted on training rows (scikit-learn contract).

    Parameters
    ----------
    n_components : int
        Upper bound of components (128); the fitted number is
        ``min(n_components, n_train - 1, n_features)``.
    seed : int
        ``random_state`` of the PCA solver.
    """

    def __init__(self, *, n_components: int = 128, seed: int = 0) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit(self, X: np.ndarray) -> "DeepPCA":
        from sklearn.decomposition import PCA

        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[0] < 2:
            raise InputError(f"PCA needs at least 2 training rows, got shape {X.shape}")
        if not np.any(X.std(axis=0) > 0):
            import warnings

            from thyromics.errors import ThyromicsWarning

            warnings.warn("the training activations are identical for every case (a collapsed network?): "
                          "the deep features carry no information", ThyromicsWarning, stacklevel=2)
        k = int(min(self.n_components, X.shape[0] - 1, X.shape[1]))
        self.n_components_ = k
        self.pca_ = PCA(n_components=k, random_state=self.seed, svd_solver="full").fit(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(np.asarray(X, dtype=float))

    @property
    def columns(self) -> list[str]:
        return [f"{PREFIX}{i + 1}" for i in range(self.n_components_)]


def deep_feature_table(case_ids: Sequence[str], activations: np.ndarray, train_mask: np.ndarray, *,
                       n_components: int = 128, seed: int = 0, provenance: dict[str, Any] | None = None) -> Any:
    """Fit :class:`DeepPCA` on ``activations[train_mask]`` and project every row.

    Returns
    -------
    pandas.DataFrame
        ``case_id`` + ``deep_pca_<k>``; ``attrs["families"]`` maps every feature column
        to ``"deep"``, ``attrs["provenance"]`` holds the settings and training case ids.
    """
    import pandas as pd

    train_mask = np.asarray(train_mask, dtype=bool)
    if train_mask.sum() < 2:
        raise InputError(f"only {int(train_mask.sum())} training rows for the deep-feature PCA; need >= 2")
    pca = DeepPCA(n_components=n_components, seed=seed).fit(activations[train_mask])
    df = pd.DataFrame(pca.transform(activations), columns=pca.columns)
    df.insert(0, "case_id", list(case_ids))
    df.attrs["families"] = {c: FAMILY for c in pca.columns}
    df.attrs["provenance"] = {
        **(provenance or {}), "n_components": pca.n_components_, "n_features": int(activations.shape[1]),
        "explained_variance_ratio": [float(v) for v in pca.pca_.explained_variance_ratio_],
        "train_case_ids": [c for c, m in zip(case_ids, train_mask) if m]}
    return df


def embed_manifest(model_dir: str | Path, manifest: str | Path, *, n_components: int = 128,
                   device: str = "auto", progress: bool = True,
                   roi: str | None = None) -> tuple[Any, list[tuple[str, str]]]:
    """Deep-feature table for every lesion of ``manifest`` with a trained classifier.

    ``roi``: the RTSTRUCT structure / SEG or Slicer segment for rows whose ``roi`` cell is
    empty.

    The PCA is fitted on the rows whose ``case_id`` the model folder's ``split.csv``
    marks ``train``; all other rows are only projected. Raises when none of the
    manifest's rows are training rows.

    Returns
    -------
    (pandas.DataFrame, list)
        The table of :func:`deep_feature_table` and the skipped ``(case_id, reason)``.
    """
    import pandas as pd

    from thyromics import __version__
    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.train import load_classifier

    model_dir = Path(model_dir)
    split_file = DEEP_MODEL.at(model_dir, "split")
    if not split_file.exists():
        raise InputError(f"{split_file} is missing: the PCA must be fitted on the model's training rows; "
                         "train the model with `thyromics dl train`")
    split = pd.read_csv(split_file, dtype={"case_id": str})
    train_ids = set(split.loc[split["split"] == "train", "case_id"])
    model, settings = load_classifier(model_dir, device)
    samples = build_samples(read_cases(manifest, roi=roi),
                            replace(settings.data, max_lesions_per_patient=None),
                            progress=progress)
    mask = np.array([c in train_ids for c in samples.case_ids])
    if mask.sum() < 2:
        raise InputError(f"the manifest {manifest} holds {int(mask.sum())} of the model's training cases; "
                         "embed the training manifest (the PCA is fitted on its training rows)")
    acts = penultimate_activations(model, settings.network, samples.images, settings.batch_size)
    prov = {"thyromics_version": __version__, "model_dir": str(model_dir), "network": settings.network,
            "seed": settings.seed}
    return deep_feature_table(samples.case_ids, acts, mask, n_components=n_components, seed=settings.seed,
                              provenance=prov), samples.errors
