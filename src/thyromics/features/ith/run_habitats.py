"""Batch habitat analysis behind ``thyromics habitats`` (tables, label maps, overlays)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .habitats import HabitatModel, habitat_features, lesion_habitats
from .scores import diversity
from .settings import IthSettings

from thyromics.batch import write_errors
from thyromics.layout import HABITATS

__all__ = ["run_habitats"]


def _overlay_png(image: np.ndarray, labels: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if image.ndim == 3:
        z = int(np.argmax((labels > 0).sum(axis=(1, 2))))
        image, labels = image[z], labels[z]
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(image, cmap="gray")
    ax.imshow(np.ma.masked_equal(labels, 0), cmap="tab10", alpha=0.5, vmin=1, vmax=10,
              interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def run_habitats(cases: Path, output: Path, settings: IthSettings | None = None, *,
                 population: bool = False, train_split: str = "train",
                 progress: bool = True) -> dict[str, Path]:
    """Habitats of every lesion of a manifest.

    Writes ``habitats.csv`` (one row per case and habitat: voxels, volume fraction, mean
    intensity), ``diversity.csv`` (per case), ``errors.csv`` (failed cases and why),
    ``labels/<case>.nii.gz`` and ``png/<case>.png`` (largest slice with the overlay).

    Parameters
    ----------
    population : bool
        Fit one :class:`HabitatModel` on the voxels of the cases whose ``split`` is
        ``train_split`` (all cases if the manifest has no split) and apply it to all.
    """
    import pandas as pd
    from tqdm import tqdm

    from thyromics.io import load_case, read_manifest, write_image

    s = settings or IthSettings()
    man = read_manifest(cases)
    output = Path(output)
    (output / "labels").mkdir(parents=True, exist_ok=True)
    (output / "png").mkdir(parents=True, exist_ok=True)
    rows, div_rows, errors = [], [], []
    model = None
    if population:
        train = [c for c in man.cases if c.split in (None, train_split)]
        rng = np.random.default_rng(s.seed)
        xs = []
        for c in tqdm(train, desc="fit habitats", disable=not progress):
            try:
                img, msk = load_case(c)
                x = habitat_features(img, msk.array != 0, s)
                xs.append(x[rng.choice(len(x), min(len(x), 2000), replace=False)])
            except Exception as e:  # noqa: BLE001 - recorded, the batch goes on
                errors.append({"case_id": c.case_id, "stage": "fit", "reason": str(e)})
        if not xs:
            raise RuntimeError("no training case could be read to fit population habitats; "
                               f"see {HABITATS.at(output, 'errors')}")
        model = HabitatModel(method=s.habitat_method, n_habitats=s.n_habitats,
                             k_range=s.habitat_k_range, seed=s.seed).fit(np.vstack(xs))
    for c in tqdm(man.cases, desc="habitats", disable=not progress):
        try:
            img, msk = load_case(c)
            lesion = msk.array != 0
            h = lesion_habitats(img, lesion, s, model=model)
            for k in range(1, h.k + 1):
                sel = h.labels == k
                rows.append({"case_id": c.case_id, "habitat": k, "voxels": int(sel.sum()),
                             "fraction": h.fractions[k - 1],
                             "mean_intensity": float(img.array[sel].mean()) if sel.any() else np.nan})
            d = diversity(h.labels[lesion].astype(int) - 1)
            div_rows.append({"case_id": c.case_id, "k": h.k, **{f"habitat_{k}": v for k, v in d.items()}})
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in c.case_id)
            write_image(img.with_array(h.labels), HABITATS.at(output, "labels", case=safe))
            _overlay_png(img.array, h.labels, HABITATS.at(output, "overlay", case=safe), f"{c.case_id}: {h.k} habitats")
        except Exception as e:  # noqa: BLE001 - recorded, the batch goes on
            errors.append({"case_id": c.case_id, "stage": "habitats", "reason": str(e)})
    paths = {k: HABITATS.at(output, k) for k in ("habitats", "diversity", "errors")}
    pd.DataFrame(rows, columns=list(HABITATS.columns("habitats"))).to_csv(paths["habitats"],
                                                                       index=False)
    pd.DataFrame(div_rows).to_csv(paths["diversity"], index=False)
    write_errors(HABITATS, output, errors)
    return paths
