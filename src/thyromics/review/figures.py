"""Figures of ``thyromics agreement``: Dice and modification classes; volume Bland-Altman."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from thyromics.review.agreement import CLASSES, bland_altman

__all__ = ["agreement_figure", "bland_altman_figure"]

_CLASS_COLOURS = {"none": "#9e9e9e", "minor": "#4caf50", "moderate": "#ff9800", "major": "#e53935"}


def _save(fig: Any, path: Path) -> Path:
    from thyromics.provenance import atomic_write

    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png", bbox_inches="tight"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def agreement_figure(per_case: Any, path: Path) -> Path:
    """Dice box plot per comparison (with the points) and the modification classes (stacked %)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = list(dict.fromkeys(per_case["comparison"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(4 + 2.2 * len(comps), 4), layout="constrained")
    data = [per_case.loc[per_case["comparison"] == c, "dice"].dropna().to_numpy() for c in comps]
    ax1.boxplot(data, showfliers=False)
    ax1.set_xticks(range(1, len(comps) + 1), comps, rotation=20, ha="right", fontsize=8)
    rng = np.random.default_rng(0)  # jitter only
    for i, d in enumerate(data, start=1):
        ax1.scatter(i + rng.uniform(-0.12, 0.12, d.size), d, s=8, alpha=0.5, color="#23324a")
    ax1.axhline(0.9, ls="--", lw=0.8, color="grey")
    ax1.set_ylabel("Dice")
    ax1.set_title("Dice per case (dashed: 0.9)")
    bottom = np.zeros(len(comps))
    for cls in CLASSES:
        pct = np.array([100 * float((per_case.loc[per_case["comparison"] == c, "modification_class"] == cls).mean())
                        for c in comps])
        ax2.bar(range(len(comps)), pct, bottom=bottom, color=_CLASS_COLOURS[cls], label=cls)
        bottom += pct
    ax2.set_xticks(range(len(comps)), comps, rotation=20, ha="right", fontsize=8)
    ax2.set_ylabel("% of cases")
    ax2.set_title("Modification class")
    ax2.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def bland_altman_figure(part: Any, title: str, path: Path) -> Path:
    """Bland-Altman plot of the volumes: mean of the two against their difference (second - first)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a, b = part["volume_a"].to_numpy(float), part["volume_b"].to_numpy(float)
    ba = bland_altman(a, b)
    unit = part["volume_unit"].iloc[0]
    fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
    ax.scatter((a + b) / 2, b - a, s=12, alpha=0.7, color="#23324a")
    if np.isfinite(ba["sd"]):
        for y, ls, text in ((ba["bias"], "-", "bias"), (ba["loa_high"], "--", "+1.96 SD"),
                            (ba["loa_low"], "--", "-1.96 SD")):
            ax.axhline(y, ls=ls, color="#e53935", lw=1)
            ax.annotate(f"{text} {y:.1f}", (1.0, y), xycoords=("axes fraction", "data"),
                        fontsize=7, ha="right", va="bottom")
    ax.set_xlabel(f"mean volume ({unit})")
    ax.set_ylabel(f"difference, second - first ({unit})")
    within = "" if not np.isfinite(ba["pct_within"]) else f"; {ba['pct_within']:.1f}% within limits"
    ax.set_title(f"{title}\nn = {ba['n']}{within}", fontsize=9)
    return _save(fig, path)
