"""Exceptions shared by every stage.

Every error a user can cause names the case, the file, what was expected, what was
found and, where there is one, the fix.
"""

from __future__ import annotations

__all__ = ["ThyromicsError", "InputError", "CaseError", "ThyromicsWarning", "did_you_mean",
           "one_line"]


class ThyromicsError(Exception):
    """Base class of all errors raised by thyromics on purpose."""


class InputError(ThyromicsError, ValueError):
    """Bad input that is not tied to one case (a settings file, a table, an option)."""


class CaseError(ThyromicsError):
    """A failure tied to one case; batches record it and go on with the others.

    Parameters
    ----------
    case_id : str or None
        The case the failure belongs to.
    message : str
        What was expected, what was found, and the fix.
    file : str or None
        The file concerned, if any.
    stage : str
        The stage that failed (``read``, ``validate``, ``extract`` ...).
    """

    def __init__(self, message: str, *, case_id: str | None = None,
                 file: str | None = None, stage: str = "read") -> None:
        self.case_id = case_id
        self.file = file
        self.stage = stage
        self.reason = message
        where = []
        if case_id is not None:
            where.append(f"case {case_id!r}")
        if file is not None:
            where.append(f"file {file}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


class ThyromicsWarning(UserWarning):
    """Base class of warnings raised by thyromics on purpose."""


def did_you_mean(word: object, options, *, n: int = 3, cutoff: float = 0.6) -> str:
    """`` Did you mean 'a', 'b'?`` for the options closest to ``word`` (``difflib``), or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=n, cutoff=cutoff)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def one_line(error: BaseException, limit: int = 240) -> str:
    """``Type: message`` of an exception on one line, cut to ``limit`` characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
