"""The robustness figure: ICC by feature family and filter.

Left, the distribution of every feature's ICC by family (one box per family, points
for the features, the threshold as a dashed line); right, a filter x family grid
holding the share of stable features (annotated ``stable / n``). Written with
matplotlib's Agg backend and no timestamp, so the same table gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["icc_figure"]


def _filter_group(name: str) -> str:
    """``log-sigma-1-0-mm-3D`` -> ``log-sigma-1-0``; wavelet bands are kept apart."""
    return name.replace("-mm-3D", "").replace("-mm-2D", "") or "other"


def icc_figure(icc: "pd.DataFrame", path: str | Path, *, kind: str = "icc1",
               threshold: float = 0.9, title: str = "") -> Path:
    """Draw the figure of an ICC table (:func:`thyromics.robustness.icc.feature_icc` with
    a ``stable`` column) into ``path`` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    data = icc[np.isfinite(icc[kind].to_numpy(dtype=float))]
    families = sorted(icc["family"].unique())
    filters = sorted({_filter_group(f) for f in icc["filter"]},
                     key=lambda f: (f != "original", f))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, max(4.0, 0.35 * len(filters) + 2)),
                                   gridspec_kw={"width_ratios": [1, 1.2]})
    values = [data.loc[data["family"] == f, kind].to_numpy(dtype=float) for f in families]
    ax1.boxplot([v if len(v) else [np.nan] for v in values], orientation="horizontal", showfliers=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same figure every time
    for i, v in enumerate(values, start=1):
        ax1.scatter(np.clip(v, -0.2, 1.0), i + rng.uniform(-0.2, 0.2, len(v)), s=4,
                    alpha=0.4, color="tab:blue")
    ax1.axvline(threshold, ls="--", color="tab:red", lw=1)
    ax1.set_yticks(range(1, len(families) + 1), families)
    ax1.set_xlim(-0.2, 1.02)
    ax1.set_xlabel(f"{kind.upper()} over perturbations (values below -0.2 drawn at -0.2)")
    ax1.set_title("ICC by family")
    grid = np.full((len(filters), len(families)), np.nan)
    text = [["" for _ in families] for _ in filters]
    grouped = icc.assign(_f=[_filter_group(f) for f in icc["filter"]])
    for (fl, fam), part in grouped.groupby(["_f", "family"]):
        i, j = filters.index(fl), families.index(fam)
        grid[i, j] = part["stable"].mean()
        text[i][j] = f"{int(part['stable'].sum())}/{len(part)}"
    im = ax2.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(filters)):
        for j in range(len(families)):
            if text[i][j]:
                ax2.text(j, i, text[i][j], ha="center", va="center", fontsize=7,
                         color="white" if grid[i, j] < 0.6 else "black")
    ax2.set_xticks(range(len(families)), families, rotation=45, ha="right")
    ax2.set_yticks(range(len(filters)), filters)
    ax2.set_title(f"share of stable features ({kind.upper()} >= {threshold})")
    fig.colorbar(im, ax=ax2, fraction=0.04)
    n_stable = int(icc["stable"].sum())
    fig.suptitle(f"{title}: {n_stable} of {len(icc)} features stable" if title
                 else f"{n_stable} of {len(icc)} features stable")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path
