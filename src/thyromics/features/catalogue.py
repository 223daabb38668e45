"""The feature catalogue: the filter, family and feature of every column.

Columns are named ``<filter>_<family>_<feature>`` (``original_glcm_Contrast``,
``log-sigma-1-0-mm-3D_firstorder_Mean``, ``wavelet-LLH_glrlm_RunEntropy``,
``original_fractal_BoxCountingDimension``). Later stages use the family for
family-level analysis (e.g. the per-family representative values of Moon et al., Sci Rep
2023).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FAMILIES", "parse_column", "catalogue"]

#: Known families. ``ith``, ``deep`` and ``clinical`` are reserved for heterogeneity
#: scores, deep features and clinical variables; ``other`` marks unknown columns.
FAMILIES: tuple[str, ...] = ("shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm",
                             "gldm", "ngtdm", "gldzm", "fractal", "moment", "ith", "deep",
                             "clinical")


#: Column prefixes of the non-PyRadiomics blocks: ``iTED_glcm_Contrast`` and
#: ``ith_ITHscore3D_seed003`` are family ``ith``; ``deep_pca_1`` is family ``deep``.
_BLOCK_PREFIXES = {"iTED": "ith", "ith": "ith", "deep": "deep"}


def parse_column(name: str) -> tuple[str, str, str]:
    """Split a column name into ``(filter, family, feature)``.

    Filters may contain hyphens but no underscores (PyRadiomics' image type names);
    the feature is everything after the family. A name that does not follow the
    ``<filter>_<family>_<feature>`` pattern with a known family gives
    ``("", "other", name)``; this never raises.

    Examples
    --------
    >>> parse_column("wavelet-LLH_glrlm_RunEntropy")
    ('wavelet-LLH', 'glrlm', 'RunEntropy')
    >>> parse_column("iTED_glcm_Contrast")
    ('iTED', 'ith', 'glcm_Contrast')
    >>> parse_column("age")
    ('', 'other', 'age')
    """
    name = str(name)
    for prefix, family in _BLOCK_PREFIXES.items():  # heterogeneity and deep blocks
        if name.startswith(prefix + "_") and len(name) > len(prefix) + 1:
            return prefix, family, name[len(prefix) + 1:]
    parts = name.split("_", 2)
    if len(parts) == 3 and parts[1] in FAMILIES and parts[0] and parts[2]:
        return parts[0], parts[1], parts[2]
    return "", "other", str(name)


def catalogue(columns: "list[str] | pd.Index") -> "pd.DataFrame":
    """One row per column: ``column, filter, family, feature``.

    Parameters
    ----------
    columns : sequence of str
        Feature table columns (identifier columns such as ``case_id`` land in ``other``).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    rows = [(c, *parse_column(c)) for c in columns]
    return pd.DataFrame(rows, columns=["column", "filter", "family", "feature"])
