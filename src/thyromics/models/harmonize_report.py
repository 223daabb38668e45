"""What harmonisation did, for the model stage's output folder (``OUT/harmonization/``).

``distributions.png``
    The features with the largest centre effect before harmonisation (batch F on the
    training cohort), their distribution by centre before and after.
``embedding.png``
    Every case's first two principal components (of the z-scored feature columns, PCA
    fitted on the training cohort's raw values), coloured by centre, before and after.
``auc.csv``
    The AUC (95 % CI) of every model and cohort with and without harmonisation, the
    same folds and seed otherwise.
``batch_f.csv``
    Per feature, the batch F (given the outcome) before and after, training cohort.

"After" is the final model's ComBat step, fitted on the training cohort and applied
unchanged to every cohort, as the models saw them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from thyromics.layout import MODEL

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.models.api import ModelStudyResult

__all__ = ["write_harmonization_report", "auc_comparison", "HARMONIZATION_DIR", "AUC_CSV",
           "BATCH_F_CSV", "DISTRIBUTIONS_PNG", "EMBEDDING_PNG"]

#: The folder (inside the model output folder) and its files (see the module docstring).
HARMONIZATION_DIR = MODEL.name("harmonization").rstrip("/")
AUC_CSV, BATCH_F_CSV, DISTRIBUTIONS_PNG, EMBEDDING_PNG = (
    Path(MODEL.name(f"harmonization_{k}")).name
    for k in ("auc", "batch_f", "distributions", "embedding"))


def auc_comparison(harmonized: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (model_id, cohort): AUC and CI with and without harmonisation."""
    keys = ["model_id", "cohort"]
    cols = ["auc", "auc_ci_low", "auc_ci_high"]
    a = harmonized[keys + cols].rename(columns={c: f"{c}_harmonized" for c in cols})
    b = raw[keys + cols].rename(columns={c: f"{c}_raw" for c in cols})
    out = a.merge(b, on=keys, how="outer")
    out["auc_difference"] = out["auc_harmonized"] - out["auc_raw"]
    return out


def write_harmonization_report(res: "ModelStudyResult", table: pd.DataFrame, out: Path, *,
                               split: str | None, label: str,
                               raw: "ModelStudyResult | None" = None) -> Path:
    """Write ``OUT/harmonization/`` (see the module docstring) and return the folder."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from thyromics.models.cv import cohorts
    from thyromics.models.harmonize import batch_f_statistics

    folder = Path(out) / HARMONIZATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    model = next(iter(res.models.values()))
    step = model.pipeline.named_steps["harmonize"]
    feats = list(step.features_)
    data = table[table[label].notna()].reset_index(drop=True)
    cohort_rows = cohorts(data[split] if split else None, len(data))
    after = step.transform(data[[c for c in dict.fromkeys([*feats, step.batch,
                                                           *step.covariates])]])
    tr = cohort_rows["train"]
    batch = data[step.batch].astype(str).to_numpy()
    y = (data[label] == model.positive_class).to_numpy(dtype=float)
    f_before = batch_f_statistics(data.loc[tr, feats].to_numpy(float), batch[tr], y[tr])
    f_after = batch_f_statistics(after.loc[tr, feats].to_numpy(float), batch[tr], y[tr])
    bf = pd.DataFrame({"feature": feats, "batch_f_before": f_before, "batch_f_after": f_after})
    bf.to_csv(folder / BATCH_F_CSV, index=False)
    _distributions(data, after, feats, f_before, batch, folder / DISTRIBUTIONS_PNG)
    _embedding(data, after, feats, batch, tr, folder / EMBEDDING_PNG)
    if raw is not None:
        auc_comparison(res.comparison, raw.comparison).to_csv(folder / AUC_CSV, index=False)
    return folder


def _distributions(before: pd.DataFrame, after: pd.DataFrame, feats: list[str],
                   f_before: np.ndarray, batch: np.ndarray, path: Path, top: int = 6) -> None:
    import matplotlib.pyplot as plt

    order = np.argsort(-np.nan_to_num(f_before, nan=-1), kind="stable")[:top]
    levels = sorted(set(batch))
    fig, axes = plt.subplots(2, len(order), figsize=(2.6 * len(order) + 1, 5), squeeze=False)
    for j, idx in enumerate(order):
        name = feats[idx]
        for row, (frame, when) in enumerate(((before, "before"), (after, "after"))):
            ax = axes[row, j]
            values = [frame.loc[batch == lv, name].dropna().to_numpy(float) for lv in levels]
            ax.boxplot([v if len(v) else [np.nan] for v in values], showfliers=False)
            ax.set_xticks(range(1, len(levels) + 1), levels, fontsize=7)
            ax.set_title(f"{name[:28]}\n{when}" if row == 0 else when, fontsize=7)
            ax.tick_params(labelsize=6)
    fig.suptitle("features with the largest centre effect, by centre: before / after ComBat")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _embedding(before: pd.DataFrame, after: pd.DataFrame, feats: list[str], batch: np.ndarray,
               train: np.ndarray, path: Path) -> None:
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA

    raw = before[feats].to_numpy(float)
    med = np.nanmedian(raw[train], axis=0)
    mu = np.nanmean(raw[train], axis=0)
    sd = np.nanstd(raw[train], axis=0)
    sd = np.where(sd > 0, sd, 1.0)

    def z(a: np.ndarray) -> np.ndarray:
        a = np.where(np.isfinite(a), a, med)
        return np.nan_to_num((a - mu) / sd)

    pca = PCA(n_components=2, random_state=0).fit(z(raw[train]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
    levels = sorted(set(batch))
    for ax, frame, when in ((axes[0], before, "before"), (axes[1], after, "after")):
        e = pca.transform(z(frame[feats].to_numpy(float)))
        for lv in levels:
            m = batch == lv
            ax.scatter(e[m, 0], e[m, 1], s=8, alpha=0.6, label=f"{lv} (n={int(m.sum())})")
        ax.set_title(f"{when} ComBat")
        ax.set_xlabel("PC 1")
    axes[0].set_ylabel("PC 2")
    axes[1].legend(fontsize=7, title="centre")
    fig.suptitle("cases by centre, first two principal components (PCA of the training cohort)")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
