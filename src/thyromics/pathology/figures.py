"""Association figures (matplotlib, Agg): volcano, correlation heat map, stacked bars, box plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["volcano", "heatmap", "stacked_bars", "boxplots"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    from thyromics.provenance import atomic_write

    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=150, bbox_inches="tight"))
    _plt().close(fig)
    return path


def volcano(groups: pd.DataFrame, path: Path, *, alpha: float = 0.05, label: int = 10) -> Path:
    """Rank-biserial correlation (high vs low) against -log10 p; BH-significant features in red."""
    plt = _plt()
    g = groups.dropna(subset=["p"]).copy()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    y = -np.log10(g["p"].clip(lower=1e-300))
    sig = g["q"] < alpha
    ax.scatter(g.loc[~sig, "rank_biserial"], y[~sig], s=14, c="0.6", label="q >= %.2g" % alpha)
    ax.scatter(g.loc[sig, "rank_biserial"], y[sig], s=18, c="tab:red", label="q < %.2g (BH)" % alpha)
    for _, r in g.nsmallest(label, "p").iterrows():
        ax.annotate(f"{r['feature']}", (r["rank_biserial"], -np.log10(max(r["p"], 1e-300))), fontsize=6,
                    xytext=(3, 2), textcoords="offset points")
    ax.axvline(0, c="0.8", lw=0.8)
    ax.set_xlabel("rank-biserial correlation (high vs low phenotype)")
    ax.set_ylabel("-log10 p")
    ax.set_xlim(-1.05, 1.05)
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def heatmap(corr: pd.DataFrame, path: Path, *, top: int = 40, alpha: float = 0.05) -> Path:
    """Spearman's rho, features x imaging scores; * marks q < alpha (BH). At most ``top`` features."""
    plt = _plt()
    c = corr.assign(label=corr["source"] + ": " + corr["feature"])
    best = c.groupby("label")["p"].min().nsmallest(top).index
    rho = c[c["label"].isin(best)].pivot(index="label", columns="score", values="rho").loc[best]
    q = c[c["label"].isin(best)].pivot(index="label", columns="score", values="q").loc[best]
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * rho.shape[1], 1.5 + 0.22 * rho.shape[0]))
    im = ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            v, qv = rho.iat[i, j], q.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}{'*' if np.isfinite(qv) and qv < alpha else ''}", ha="center",
                        va="center", fontsize=6)
    ax.set_xticks(range(rho.shape[1]), rho.columns, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(rho.shape[0]), rho.index, fontsize=6)
    fig.colorbar(im, ax=ax, label="Spearman rho", shrink=0.6)
    return _save(fig, path)


def stacked_bars(joined: pd.DataFrame, features: list[str], path: Path) -> Path:
    """Per ordinal feature: percent of each grade within the low and high groups."""
    plt = _plt()
    n = len(features)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    for ax, f in zip(axes.ravel(), features):
        d = joined.dropna(subset=[f, "_group"])
        tab = pd.crosstab(d["_group"], d[f], normalize="index").reindex(["low", "high"]).fillna(0) * 100
        bottom = np.zeros(len(tab))
        for k, grade in enumerate(tab.columns):
            ax.bar(tab.index, tab[grade], bottom=bottom, label=f"{grade:g}", color=plt.cm.Blues(0.25 + 0.7 * k / max(1, len(tab.columns) - 1)))
            bottom += tab[grade].to_numpy()
        ax.set_title(f, fontsize=8)
        ax.set_ylabel("% of patients", fontsize=7)
        ax.legend(title="grade", fontsize=6, title_fontsize=6)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def boxplots(joined: dict[str, pd.DataFrame], groups: pd.DataFrame, path: Path, *, top: int = 8) -> Path:
    """Box plots (with the patients as points) of the ``top`` features with the smallest p."""
    plt = _plt()
    best = groups.dropna(subset=["p"]).nsmallest(top, "p")
    n = max(1, len(best))
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (_, r) in zip(axes.ravel(), best.iterrows()):
        d = joined[r["source"]]
        data = [d.loc[d["_group"] == g, r["feature"]].dropna().to_numpy(float) for g in ("low", "high")]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks([1, 2], ["low", "high"])
        for k, v in enumerate(data, start=1):
            ax.scatter(k + rng.uniform(-0.12, 0.12, v.size), v, s=6, c="k", alpha=0.5)
        ax.set_title(f"{r['feature']}\np={r['p']:.2g}, q={r['q']:.2g}", fontsize=7)
    for ax in axes.ravel()[len(best):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)
