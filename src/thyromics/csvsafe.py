"""CSV cells that a spreadsheet shows as text, never runs as a formula.

A text cell that begins with ``=``, ``+``, ``-``, ``@`` (or their full-width forms), a
tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a formula
("CSV injection", OWASP). :func:`safe_cell` prefixes such a cell with an apostrophe,
which spreadsheets take as "this is text"; a cell that already begins with an apostrophe
gets one more, so :func:`restore_cell` undoes the change exactly. Numbers are never
changed: neither numeric values nor text that is a plain decimal number (``-0.5``,
``+3``, ``1e-3``).

Use :func:`safe_row` for :mod:`csv` writers and :func:`safe_frame` before
``DataFrame.to_csv``; readers of these files call :func:`restore_cell` (or
:func:`restore_frame`) to get the original text back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["safe_cell", "safe_row", "safe_frame", "restore_cell", "restore_frame"]

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula.

    Parameters
    ----------
    value : object
        A cell. Only ``str`` values are changed: those beginning with a formula trigger
        (``= + - @``, full-width forms, tab, CR, LF) or with ``'``, unless the text is a
        decimal number.

    Returns
    -------
    object
        ``"'" + value`` for such text; ``value`` unchanged otherwise.
    """
    if not isinstance(value, str) or not value.startswith((*_TRIGGERS, "'")):
        return value
    return value if _NUMBER.fullmatch(value) else "'" + value


def restore_cell(value: Any) -> Any:
    """The original text of a cell written by :func:`safe_cell` (other values unchanged)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith((*_TRIGGERS, "'")):
        return value[1:]
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of every cell of a row (for :meth:`csv.writer.writerow`)."""
    return [safe_cell(v) for v in row]


def safe_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """A copy of ``frame`` whose text cells and column names went through :func:`safe_cell`."""
    return _map_frame(frame, safe_cell)


def restore_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The inverse of :func:`safe_frame` (text cells and column names)."""
    return _map_frame(frame, restore_cell)


def _map_frame(frame: "pd.DataFrame", func: Any) -> "pd.DataFrame":
    import pandas as pd

    out = frame.copy()
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if isinstance(col.dtype, (pd.CategoricalDtype, pd.StringDtype)) or col.dtype == object:
            out.isetitem(i, col.astype(object).map(func))
    out.columns = [func(c) for c in out.columns]
    return out
