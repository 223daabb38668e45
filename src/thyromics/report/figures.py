"""The report's figures: matplotlib, drawn from tidy tables, returned as PNG + data.

Every function takes a long-format :class:`pandas.DataFrame` (the figure's data, also
written next to the report as CSV) and returns a :class:`Figure`. Figures use the
object-oriented matplotlib API with the Agg canvas (no pyplot state, no display), are
sized for an A4 / Letter page (7 in wide) and label their axes with units.
"""

from __future__ import annotations

import base64
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as _MplFigure

P = ParamSpec("P")

__all__ = [
    "Figure",
    "family_counts_figure",
    "family_boxplots_figure",
    "roc_figure",
    "calibration_figure",
    "decision_figure",
    "confusion_figure",
    "forest_figure",
    "importance_figure",
]

#: Figure width in inches (fits a printed page with margins).
WIDTH_IN: float = 7.0
#: Resolution of the embedded PNGs (dots per inch).
DPI: int = 130
_RC = {"font.size": 8.5, "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5}


@dataclass(frozen=True)
class Figure:
    """A rendered figure and the data it shows.

    Attributes
    ----------
    name : str
        File-safe name; the data go to ``report_data/<name>.csv``.
    caption : str
        Caption shown under the figure.
    png : bytes
        The PNG image.
    data : DataFrame
        Exactly the numbers drawn.
    """

    name: str
    caption: str
    png: bytes
    data: pd.DataFrame

    def data_uri(self) -> str:
        """The PNG as a ``data:`` URI for an ``<img src>``."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _styled(func: Callable[P, Figure]) -> Callable[P, Figure]:
    """Draw under the report's font sizes (matplotlib reads rcParams when drawing)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        import matplotlib

        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def _new(nrows: int = 1, ncols: int = 1, *, height: float = 3.2, width: float = WIDTH_IN,
         extra: float = 0.0):
    """A figure of ``nrows`` x ``ncols`` panels, ``height`` (+ ``extra``) inches per row."""
    fig = _MplFigure(figsize=(width, (height + extra) * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _legend_room(n_entries: int) -> float:
    """Inches below a panel for a one-column legend of ``n_entries`` lines."""
    return 0.5 + 0.16 * n_entries


def _render(fig: _MplFigure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    ncols = min(n, max_cols)
    return math.ceil(n / ncols), ncols


def _colors(names: list[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def cohort_title(cohort: str) -> str:
    """Panel title of a cohort (``cv`` is the out-of-fold training predictions)."""
    return "Training, out-of-fold (CV)" if cohort == "cv" else f"Cohort: {cohort}"


def _legend_below(ax) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1, frameon=False)


def _hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.ravel()[used:]:
        ax.set_visible(False)


@_styled
def family_counts_figure(counts: pd.DataFrame, *, name: str = "feature_families") -> Figure:
    """Horizontal bars: number of features per family (``family``, ``n_features``)."""
    data = counts.sort_values("n_features")
    fig, axes = _new(height=max(1.6, 0.28 * len(data) + 0.8))
    ax = axes[0, 0]
    ax.barh(data["family"], data["n_features"], color="#4C72B0")
    for y, v in enumerate(data["n_features"]):
        ax.text(v, y, f" {v}", va="center", fontsize=7.5)
    ax.set_xlabel("Number of features")
    ax.set_ylabel("Feature family")
    ax.margins(x=0.12)
    return Figure(name, "Number of extracted features per family.", _render(fig), counts)


def _short(text: str, width: int = 26) -> str:
    """A long feature name on at most two lines of ``width`` characters (middle elided)."""
    if len(text) <= width:
        return text
    if len(text) <= 2 * width:
        return text[:width] + "\n" + text[width:]
    return text[:width] + "\n..." + text[-(width - 3):]


@_styled
def family_boxplots_figure(values: pd.DataFrame, *, name: str = "family_boxplots",
                           caption: str = "") -> Figure:
    """Boxplots by outcome of one value per family.

    ``values`` has columns ``family``, ``feature`` (what the value is), ``label``
    (outcome, 0/1) and ``value`` (z-score, unitless).
    """
    families = list(dict.fromkeys(values["family"]))
    nrows, ncols = _grid(len(families), 4)
    fig, axes = _new(nrows, ncols, height=2.1)
    labels = sorted(values["label"].dropna().unique().tolist())
    for ax, fam in zip(axes.ravel(), families):
        part = values[values["family"] == fam]
        groups = [part.loc[part["label"] == lab, "value"].dropna().to_numpy() for lab in labels]
        ax.boxplot(groups, tick_labels=[f"label {lab}" for lab in labels], widths=0.6,
                   flierprops={"markersize": 2})
        feature = str(part["feature"].iloc[0])
        ax.set_title(f"{fam}\n{_short(feature)}", fontsize=7)
        ax.set_ylabel("Value (unitless)")
    _hide_unused(axes, len(families))
    return Figure(name, caption or "Representative value of each feature family by outcome.",
                  _render(fig), values)


def _cohort_panels(frame: pd.DataFrame):
    """One square panel per cohort of ``frame`` (two a row), a colour per model, and room
    for the legend below each: ``(fig, axes, cohorts, colors)``."""
    cohorts = list(dict.fromkeys(frame["cohort"]))
    colors = _colors(list(dict.fromkeys(frame["model"])))
    nrows, ncols = _grid(len(cohorts), 2)
    fig, axes = _new(nrows, ncols, height=3.4 if ncols > 1 else 4.2,
                     width=WIDTH_IN if ncols > 1 else 4.6, extra=_legend_room(len(colors) + 1))
    return fig, axes, cohorts, colors


def _unit_panels(frame: pd.DataFrame, legend: dict[tuple[str, str], str],
                 draw: Callable[[object, pd.DataFrame, tuple, str], None], *, diagonal: str,
                 top: float, xlabel: str, ylabel: str, name: str, caption: str) -> Figure:
    """Curves on the unit square, one panel per cohort (:func:`_cohort_panels`).

    ``draw(ax, part, colour, label)`` draws one model's rows ``part`` of a cohort;
    ``legend`` maps ``(model, cohort)`` to its label (default: the model). Each panel ends
    with the dashed diagonal (legend text ``diagonal``), ``[0, 1] x [0, top]`` axes of
    equal aspect and the legend below.
    """
    fig, axes, cohorts, colors = _cohort_panels(frame)
    for ax, cohort in zip(axes.ravel(), cohorts):
        for model, part in frame[frame["cohort"] == cohort].groupby("model", sort=False):
            draw(ax, part, colors[model], legend.get((model, cohort), model))
        ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label=diagonal)
        ax.set(xlim=(0, 1), ylim=(0, top), aspect="equal", title=cohort_title(cohort),
               xlabel=xlabel, ylabel=ylabel)
        _legend_below(ax)
    _hide_unused(axes, len(cohorts))
    return Figure(name, caption, _render(fig), frame)


@_styled
def roc_figure(curves: pd.DataFrame, legend: dict[tuple[str, str], str], *, name: str,
               caption: str) -> Figure:
    """ROC curves with confidence bands, one panel per cohort.

    ``curves``: ``model``, ``cohort``, ``fpr``, ``tpr``, ``tpr_low``, ``tpr_high``
    (fractions). ``legend`` maps ``(model, cohort)`` to its legend text (e.g. the AUC).
    """
    def draw(ax, part: pd.DataFrame, c: tuple, label: str) -> None:
        ax.fill_between(part["fpr"], part["tpr_low"], part["tpr_high"], color=c, alpha=0.12, lw=0)
        ax.plot(part["fpr"], part["tpr"], color=c, lw=1.4, label=label)

    return _unit_panels(curves, legend, draw, diagonal="chance", top=1.01,
                        xlabel="1 - specificity (false-positive rate)",
                        ylabel="Sensitivity (true-positive rate)", name=name, caption=caption)


@_styled
def calibration_figure(bins: pd.DataFrame, legend: dict[tuple[str, str], str] | None = None, *,
                       name: str, caption: str) -> Figure:
    """Reliability curves.

    ``bins``: ``model``, ``cohort``, ``mean_predicted``, ``observed`` and, optionally,
    ``observed_ci_low`` / ``observed_ci_high`` (drawn as error bars). ``legend`` maps
    ``(model, cohort)`` to its legend text.
    """
    has_ci = {"observed_ci_low", "observed_ci_high"} <= set(bins.columns)

    def draw(ax, part: pd.DataFrame, c: tuple, label: str) -> None:
        yerr = (np.vstack([part["observed"] - part["observed_ci_low"],
                           part["observed_ci_high"] - part["observed"]]).clip(min=0)
                if has_ci else None)
        ax.errorbar(part["mean_predicted"], part["observed"], yerr=yerr, marker="o", ms=3, lw=1.2,
                    elinewidth=0.6, capsize=1.5, color=c, label=label)

    return _unit_panels(bins, legend or {}, draw, diagonal="perfect calibration", top=1,
                        xlabel="Mean predicted probability",
                        ylabel="Observed fraction of positives", name=name, caption=caption)


@_styled
def decision_figure(curves: pd.DataFrame, *, name: str, caption: str) -> Figure:
    """Decision curves (``model``, ``cohort``, ``threshold``, ``net_benefit``).

    The models ``treat_all`` and ``treat_none`` are drawn as reference lines.
    """
    cohorts = list(dict.fromkeys(curves["cohort"]))
    models = [m for m in dict.fromkeys(curves["model"]) if m not in ("treat_all", "treat_none")]
    colors = _colors(models)
    nrows, ncols = _grid(len(cohorts), 2)
    fig, axes = _new(nrows, ncols, height=3.0 if ncols > 1 else 3.4,
                     width=WIDTH_IN if ncols > 1 else 5.0, extra=_legend_room(len(models) + 2))
    for ax, cohort in zip(axes.ravel(), cohorts):
        part = curves[curves["cohort"] == cohort]
        for model, sub in part.groupby("model", sort=False):
            style = {"treat_all": dict(color="black", lw=0.9, ls=":", label="treat all"),
                     "treat_none": dict(color="grey", lw=0.9, ls="--", label="treat none")}
            kw = style.get(model, dict(color=colors.get(model), lw=1.3, label=model))
            ax.plot(sub["threshold"], sub["net_benefit"], **kw)
        top = float(part["net_benefit"].max()) if len(part) else 0.1
        ax.set(xlim=(0, 1), ylim=(-0.05, max(top * 1.1, 0.05)), title=cohort_title(cohort),
               xlabel="Threshold probability", ylabel="Net benefit (true positives per patient)")
        _legend_below(ax)
    _hide_unused(axes, len(cohorts))
    return Figure(name, caption, _render(fig), curves)


@_styled
def confusion_figure(counts: pd.DataFrame, *, name: str, caption: str) -> Figure:
    """2x2 tables (``model``, ``cohort``, ``threshold``, ``tn``, ``fp``, ``fn``, ``tp``).

    A NaN threshold is titled "per-fold thresholds"; counts averaged over repeats may be
    fractional.
    """
    n = len(counts)
    nrows, ncols = _grid(n, 4)
    fig, axes = _new(nrows, ncols, height=1.9)
    for ax, row in zip(axes.ravel(), counts.itertuples(index=False)):
        table = np.array([[row.tn, row.fp], [row.fn, row.tp]])
        ax.imshow(table, cmap="Blues", vmin=0, vmax=max(int(table.max()), 1))
        for (i, j), v in np.ndenumerate(table):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=9,
                    color="white" if v > table.max() / 2 else "black")
        ax.set_xticks([0, 1], ["pred. 0", "pred. 1"])
        ax.set_yticks([0, 1], ["true 0", "true 1"])
        at = "per-fold thresholds" if np.isnan(row.threshold) else f"threshold {row.threshold:.3g}"
        ax.set_title(f"{row.model} / {row.cohort}\n{at}", fontsize=7.5)
    _hide_unused(axes, n)
    return Figure(name, caption, _render(fig), counts)


@_styled
def forest_figure(rows: pd.DataFrame, *, name: str, caption: str, xlabel: str = "AUC (95% CI)",
                  reference: float | None = 0.5) -> Figure:
    """Forest plot (``label``, ``estimate``, ``ci_low``, ``ci_high``, optional ``n``)."""
    data = rows.reset_index(drop=True)
    fig, axes = _new(height=max(1.6, 0.32 * len(data) + 0.9))
    ax = axes[0, 0]
    y = np.arange(len(data))[::-1]
    err = np.vstack([data["estimate"] - data["ci_low"], data["ci_high"] - data["estimate"]])
    ax.errorbar(data["estimate"], y, xerr=np.nan_to_num(np.abs(err)), fmt="s", color="#333333",
                ms=4, capsize=2, lw=1)  # no CI (NaN): a point without whiskers, labelled so
    if reference is not None:
        ax.axvline(reference, ls="--", color="grey", lw=0.8)
    labels = [f"{r.label} (n={int(r.n)})" if "n" in data and pd.notna(r.n) else str(r.label)
              for r in data.itertuples(index=False)]
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.set_ylim(-0.7, len(data) - 0.3)
    return Figure(name, caption, _render(fig), rows)


@_styled
def importance_figure(table: pd.DataFrame, *, name: str, caption: str, top: int = 10,
                      xlabel: str = "Importance (model's own units)") -> Figure:
    """Top features per model (``model``, ``feature``, ``importance``, optional ``sd``)."""
    models = list(dict.fromkeys(table["model"]))
    nrows, ncols = _grid(len(models), 2)
    fig, axes = _new(nrows, ncols, height=0.25 * top + 1.0)
    shown = []
    for ax, model in zip(axes.ravel(), models):
        part = table[table["model"] == model].nlargest(top, "importance").iloc[::-1]
        shown.append(part)
        xerr = part["sd"] if "sd" in part and part["sd"].notna().any() else None
        ax.barh([f[:40] for f in part["feature"]], part["importance"], xerr=xerr, color="#55A868",
                error_kw={"lw": 0.8})
        ax.set_title(model)
        ax.set_xlabel(xlabel)
        ax.tick_params(axis="y", labelsize=6.5)
    _hide_unused(axes, len(models))
    return Figure(name, caption, _render(fig), pd.concat(shown, ignore_index=True))
