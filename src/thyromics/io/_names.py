"""Choosing a structure or segment by name (RTSTRUCT ROIs, SEG and Slicer segments)."""

from __future__ import annotations

import difflib
from pathlib import Path

from thyromics.errors import CaseError

__all__ = ["choose_name", "closest_first"]


def closest_first(wanted: str, names: list[str]) -> list[str]:
    """``names`` sorted by similarity to ``wanted`` (case-insensitive), closest first."""
    w = wanted.lower()
    return sorted(names, key=lambda n: (-difflib.SequenceMatcher(None, w, n.lower()).ratio(), n))


def choose_name(names: list[str], wanted: str | None, path: Path | str, what: str,
                option: str = "--roi") -> int:
    """Index of the entry named ``wanted`` (case-insensitive, surrounding spaces ignored).

    Parameters
    ----------
    names : list of str
        The names present in the file, in file order.
    wanted : str or None
        The name asked for; None is accepted when the file holds exactly one entry.
    path : path
        The file (for messages).
    what : str
        ``"ROI"`` or ``"segment"`` (for messages).

    Raises
    ------
    CaseError
        ``stage="validate"``: no entries; several and none chosen (all listed); an
        unknown name (the names present listed, closest first); a name that matches
        several entries once case is ignored.
    """
    if not names:
        raise CaseError(f"the file holds no {what}s: expected at least one.", file=str(path),
                        stage="validate")
    if wanted is None or not str(wanted).strip():
        if len(names) == 1:
            return 0
        listed = ", ".join(repr(n) for n in names)
        raise CaseError(f"the file holds {len(names)} {what}s ({listed}): choose one with a "
                        f"'roi' column in the manifest or {option} NAME.", file=str(path),
                        stage="validate")
    key = str(wanted).strip().lower()
    hits = [i for i, n in enumerate(names) if n.strip().lower() == key]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise CaseError(f"{len(hits)} {what}s are named {wanted!r} once case is ignored "
                        f"({', '.join(repr(names[i]) for i in hits)}): the name does not say "
                        "which one. Rename them in the file.", file=str(path), stage="validate")
    listed = ", ".join(repr(n) for n in closest_first(str(wanted), names))
    raise CaseError(f"{what} {wanted!r} not found; the file holds {len(names)}: {listed} "
                    "(closest first). Names are compared ignoring case.", file=str(path),
                    stage="validate")
