"""Named feature blocks (radiomics, clinical, deep, ith) and their combinations.

A feature table has id columns (``case_id``, ``patient_id``, the label, the split),
feature columns named ``<filter>_<family>_<feature>`` (``original_glcm_Contrast``)
and, possibly, clinical columns (anything else). A block is a named set of columns;
a block set such as ``"radiomics+clinical"`` is the union of its blocks, so a study
compares e.g. ``["radiomics", "clinical", "radiomics+clinical"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from thyromics.errors import InputError, did_you_mean

__all__ = ["BLOCKS", "RADIOMICS_FAMILIES", "ID_COLUMNS", "parse_feature_column",
           "feature_family", "block_columns", "resolve_block_sets"]

RADIOMICS_FAMILIES = frozenset({"shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm",
                                "gldm", "ngtdm", "gldzm", "fractal", "moment"})
_OTHER_FAMILIES = {"deep": "deep", "ith": "ith", "clinical": "clinical"}
BLOCKS = ("radiomics", "clinical", "deep", "ith")
ID_COLUMNS = frozenset({"case_id", "patient_id", "label", "split", "image", "mask",
                        "parent_case_id", "lesion_id"})  # the last two: --lesions tables


def parse_feature_column(name: str) -> tuple[str, str, str] | None:
    """``(filter, family, feature)`` of a feature column, or None for other columns.

    See :func:`thyromics.features.catalogue.parse_column`.
    """
    from thyromics.features.catalogue import parse_column

    parsed = parse_column(name)
    return None if parsed[1] == "other" else parsed


def feature_family(name: str) -> str | None:
    """The family of a feature column (``glcm``, ``deep`` ...), or None."""
    parsed = parse_feature_column(name)
    return None if parsed is None else parsed[1]


def block_columns(table: pd.DataFrame, *, reserved: Sequence[str] = (),
                  clinical: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Columns of every block in ``table``.

    Parameters
    ----------
    reserved : sequence of str
        Columns that are never predictors (label, group, split, ids).
    clinical : sequence of str or None
        Explicit clinical columns; None takes every non-reserved column that is not a
        feature column and not a PyRadiomics ``diagnostics_*`` column.
    """
    skip = set(reserved) | ID_COLUMNS
    out: dict[str, list[str]] = {b: [] for b in BLOCKS}
    for col in table.columns:
        if col in skip or str(col).startswith("diagnostics_"):
            continue
        fam = feature_family(col)
        if fam is None:
            if clinical is None:
                out["clinical"].append(col)
        elif fam in _OTHER_FAMILIES:
            out[_OTHER_FAMILIES[fam]].append(col)
        else:
            out["radiomics"].append(col)
    if clinical is not None:
        missing = [c for c in clinical if c not in table.columns]
        if missing:
            raise InputError(f"clinical column(s) {missing} not in the feature table; "
                             f"found columns such as {list(table.columns[:8])}")
        out["clinical"] = [c for c in clinical if c not in skip]
    return out


def resolve_block_sets(specs: Sequence[str], blocks: dict[str, list[str]]) -> dict[str, list[str]]:
    """Columns of every block set (``"radiomics"``, ``"radiomics+clinical"`` ...).

    Raises
    ------
    InputError
        Unknown block name (with the closest valid one) or an empty block set.
    """
    out = {}
    for spec in specs:
        names = [s.strip().lower() for s in str(spec).split("+") if s.strip()]
        cols: list[str] = []
        for name in names:
            if name not in blocks:
                hint = did_you_mean(name, list(blocks), n=1)
                raise InputError(f"unknown feature block {name!r} in {spec!r}; valid blocks: "
                                 f"{', '.join(blocks)}.{hint}")
            cols += [c for c in blocks[name] if c not in cols]
        if not cols:
            raise InputError(f"feature block set {spec!r} has no columns in this table "
                             f"(block sizes: { {k: len(v) for k, v in blocks.items()} })")
        out["+".join(names)] = cols
    return out
