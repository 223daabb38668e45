"""Small HTML building blocks shared by the report's sections (all text escaped).

Every piece of markup is built here from data (tables, numbers, text); no HTML read
from the study folder is ever passed through.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from thyromics.layout import REPORT
from thyromics.report.figures import Figure

__all__ = ["Section", "not_run", "note", "table_html", "figure_html", "png_html", "safe_name",
           "fmt", "heading"]


@dataclass
class Section:
    """One section of the report.

    Attributes
    ----------
    id : str
        HTML anchor (``<section id=...>``); stable, tests look for it.
    title : str
        Heading.
    parts : list of Markup
        The body, in order.
    figures : list of Figure
        Figures shown (their data go to ``report_data/<name>.csv``).
    tables : dict of str to DataFrame
        Tables shown, also written to ``report_data/<name>.csv``.
    error : bool
        Whether the section failed to build (its body then says why).
    """

    id: str
    title: str
    parts: list[Markup] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    error: bool = False
    has_content: bool = False

    @property
    def status(self) -> str:
        """``ok``, ``not run`` (nothing but notes) or ``error``."""
        if self.error:
            return "error"
        return "ok" if self.has_content else "not run"

    def add(self, html: Markup | str, *, content: bool = False) -> None:
        """Append HTML; ``content=True`` marks it as a result (not only a note)."""
        self.parts.append(Markup(html))
        self.has_content = self.has_content or content

    def add_figure(self, fig: Figure) -> None:
        self.figures.append(fig)
        self.add(figure_html(fig), content=True)

    def add_table(self, name: str, frame: pd.DataFrame, shown: pd.DataFrame | None = None,
                  caption: str = "", *, source: str | None = None,
                  derived: str | None = None) -> None:
        """Show ``shown`` (default ``frame``) and write ``frame`` as ``report_data/<name>.csv``.

        Every table names where its numbers come from: ``source``, the stage file whose
        rows ``frame`` holds unchanged (a path inside the study folder, ``file.json#key``
        for a part of a JSON file), or ``derived``, the files it is computed from (counts,
        for instance). Row ``i`` of ``shown`` is row ``i`` of ``frame``, formatted.
        """
        if (source is None) == (derived is None):
            raise ValueError(f"table {name!r}: give exactly one of source= or derived=")
        if shown is not None and len(shown) != len(frame):
            raise ValueError(f"table {name!r}: the shown table has {len(shown)} rows, its data {len(frame)}")
        self.tables[name] = frame
        self.add(table_html(frame if shown is None else shown, caption=caption,
                            data_name=name, source=source, derived=derived), content=True)

    def not_run(self, what: str, path: str, command: str) -> None:
        self.add(not_run(what, path, command))

    @property
    def body(self) -> Markup:
        return Markup("\n").join(self.parts)


def safe_name(text: str) -> str:
    """A file-safe version of ``text`` (letters, digits, ``-`` and ``_``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


def heading(text: str, level: int = 3) -> Markup:
    return Markup(f"<h{level}>{escape(text)}</h{level}>")


def note(text: str) -> Markup:
    return Markup(f'<p class="note">{escape(text)}</p>')


def not_run(what: str, path: str, command: str) -> Markup:
    """The short note shown where an input is missing."""
    return Markup(
        f'<p class="not-run"><strong>Not run:</strong> {escape(what)} '
        f"(<code>{escape(path)}</code> not found; it is written by <code>{escape(command)}</code>).</p>"
    )


def fmt(value: object, digits: int = 3) -> str:
    """A number for a table: integers as they are, floats with ``digits`` decimals, NaN as a dash."""
    if value is None:
        return "\u2013"
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "\u2013" if np.isnan(value) else f"{float(value):.{digits}f}"
    return str(value)


def table_html(frame: pd.DataFrame, *, caption: str = "", data_name: str | None = None,
               max_rows: int = 200, source: str | None = None,
               derived: str | None = None) -> Markup:
    """An escaped HTML table (at most ``max_rows`` rows, the rest counted).

    ``source`` / ``derived`` (see :meth:`Section.add_table`) are shown in the caption and
    written as the ``data-source`` / ``data-derived`` attribute of the table's wrapper,
    so that a reader, or a test, can check every number against its file.
    """
    shown = frame.head(max_rows)
    html = shown.to_html(index=False, escape=True, border=0, classes="data", na_rep="\u2013")
    # Long feature names may wrap after an underscore; numbers never wrap (print layout).
    html = html.replace("_", "_<wbr>")
    extra = ""
    if len(frame) > max_rows:
        extra = f'<p class="note">{len(frame) - max_rows} more rows in the data file.</p>'
    cap = f'<p class="caption">{escape(caption)}' if caption else '<p class="caption">'
    attr = ""
    if source:
        cap += f' <span class="data-file">Source: {escape(source)}.</span>'
        attr = f' data-source="{escape(source)}"'
    elif derived:
        cap += f' <span class="data-file">Computed from: {escape(derived)}.</span>'
        attr = f' data-derived="{escape(derived)}"'
    if data_name:
        cap += f' <span class="data-file">Data: {escape(REPORT.name("data", name=data_name))}</span>'
        attr += f' data-name="{escape(data_name)}"'
    cap += "</p>"
    return Markup(f'<div class="table-wrap"{attr}>{html}</div>{extra}{cap}')


def figure_html(fig: Figure) -> Markup:
    return Markup(
        f'<figure><img src="{fig.data_uri()}" alt="{escape(fig.caption)}">'
        f"<figcaption>{escape(fig.caption)} "
        f'<span class="data-file">Data: {escape(REPORT.name("data", name=fig.name))}</span>'
        "</figcaption></figure>"
    )


def png_html(path: Path, caption: str, *, css_class: str = "") -> Markup:
    """An existing PNG file embedded as base64."""
    uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    cls = f' class="{css_class}"' if css_class else ""
    return Markup(f'<figure{cls}><img src="{uri}" alt="{escape(caption)}">'
                  f"<figcaption>{escape(caption)}</figcaption></figure>")
