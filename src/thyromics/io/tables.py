"""The one reader of tables given by users or written by stages.

:func:`read_table` chooses the format by the file's ending, and every failure is an
:class:`~thyromics.errors.InputError` that names the file, what it is (``what``), what was
expected and what was found, then the fix (``hint``):

=====================  ==========================================================
ending                 read as
=====================  ==========================================================
``.csv``               comma-separated, header row first
``.tsv``               tab-separated
``.txt``               tab-separated; comma-separated when its first line has no tab
``.csv.gz/.tsv.gz``    the same, gzip-compressed
``.parquet``, ``.pq``  Parquet (stored column types kept)
``.xlsx``, ``.xls``    the first sheet of a workbook (needs openpyxl / xlrd)
=====================  ==========================================================

A file that is missing, a folder, empty, unreadable in its format, or whose header names
a column twice is refused (pandas would silently rename the second ``a`` to ``a.1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from thyromics.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["read_table", "table_format", "TABLE_ENDINGS"]

#: Accepted endings (lower case) and the format each is read as.
TABLE_ENDINGS: dict[str, str] = {
    ".csv": "csv", ".csv.gz": "csv", ".tsv": "tsv", ".tsv.gz": "tsv", ".txt": "txt",
    ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx", ".xls": "xls"}

_NAMES = {"csv": "CSV", "tsv": "tab-separated text", "txt": "delimited text",
          "parquet": "Parquet", "xlsx": "an Excel workbook", "xls": "an Excel workbook"}
_ENGINES = {"xlsx": "openpyxl", "xls": "xlrd"}


def table_format(path: str | Path) -> str | None:
    """The format (a value of :data:`TABLE_ENDINGS`) of ``path`` by its ending, or ``None``."""
    name = Path(path).name.lower()
    for ending in sorted(TABLE_ENDINGS, key=len, reverse=True):  # ".csv.gz" before ".gz"
        if name.endswith(ending) and len(name) > len(ending):
            return TABLE_ENDINGS[ending]
    return None


def _ending(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    return "".join(suffixes) if len(suffixes) == 2 and suffixes[-1] == ".gz" else path.suffix.lower()


def _separator(path: Path, fmt: str) -> str:
    if fmt == "tsv":
        return "\t"
    if fmt == "txt":
        with open(path, encoding="utf-8", errors="replace") as f:
            return "\t" if "\t" in f.readline() else ","
    return ","


def read_table(path: str | Path, *, what: str = "table", text: bool | Sequence[str] = False,
               hint: str = "") -> pd.DataFrame:
    """Read a table file, chosen by its ending (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for messages (``"the feature table"``).
    text : bool or sequence of str
        ``True``: every cell of a CSV / TSV / Excel file read as written, as a string, empty
        cells ``""`` (a printed table whose ``1.000`` must stay ``1.000``). A sequence of
        column names: those columns read as strings (identifiers such as ``007``). Parquet
        files keep their stored types.
    hint : str
        The fix, added to every message (e.g. ``"make it with `thyromics extract`"``).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    InputError
        Naming the file and ``what``: not found, a folder, an unknown ending, an empty
        file, a file unreadable in its format (or needing an uninstalled reader), or
        duplicate column names.
    """
    import pandas as pd

    path = Path(path)
    tail = f" {hint.strip()}" if hint.strip() else ""
    tail = tail if not tail or tail.endswith((".", "?", ")")) else tail + "."

    def fail(problem: str) -> InputError:
        return InputError(f"file {path}: {what} {problem}{tail}")

    if path.is_dir():
        raise fail("is a folder; expected a table file.")
    if not path.is_file():
        raise fail("not found.")
    fmt = table_format(path)
    if fmt is None:
        found = _ending(path) or "no ending"
        raise fail(f"has an unknown ending: expected one of {', '.join(TABLE_ENDINGS)}, "
                   f"found {found!r}.")
    if path.stat().st_size == 0:
        raise fail(f"is empty (0 bytes); expected {_NAMES[fmt]} with a header row.")
    as_text = text is True
    columns = [] if isinstance(text, bool) else list(text)
    options: dict = {"dtype": str, "keep_default_na": False} if as_text else (
        {"dtype": dict.fromkeys(columns, str)} if columns else {})
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            header = [str(c) for c in frame.columns]
        elif fmt in _ENGINES:
            frame = pd.read_excel(path, **options)
            header = pd.read_excel(path, header=None, nrows=1, dtype=str).iloc[0].tolist() \
                if len(frame.columns) else []
        else:
            sep = _separator(path, fmt)
            frame = pd.read_csv(path, sep=sep, **options)
            header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str,
                                 keep_default_na=False).iloc[0].tolist()
    except ImportError as e:
        raise fail(f"is {_NAMES[fmt]}, which needs the package {_ENGINES.get(fmt, 'pyarrow')} "
                   f"(pip install {_ENGINES.get(fmt, 'pyarrow')}); {e}.") from e
    except pd.errors.EmptyDataError as e:
        raise fail(f"is empty; expected {_NAMES[fmt]} with a header row.") from e
    except UnicodeDecodeError as e:
        raise fail(f"cannot be read as {_NAMES[fmt]}: it is not UTF-8 text ({e}). Save it "
                   "as UTF-8.") from e
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many types; re-raised naming the file
        raise fail(f"cannot be read as {_NAMES[fmt]} ({type(e).__name__}: {e}).") from e
    named = [c for c in header if isinstance(c, str) and c]  # empty cells: pandas' "Unnamed: k"
    twice = sorted({c for c in named if named.count(c) > 1})
    if twice:
        raise fail(f"names the column(s) {', '.join(map(repr, twice))} more than once; expected "
                   "one column per name.")
    return frame
