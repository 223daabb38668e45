"""Intratumoral heterogeneity: supervoxel sub-regions, voxel habitats, iTED, ITHscores,
diversity (the ``ith`` feature block).

Names are imported lazily (PEP 562) so that ``thyromics.features.ith.commands`` stays
light for the CLI.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ith_features": "api",
    "HabitatModel": "habitats", "Habitats": "habitats", "habitat_features": "habitats",
    "lesion_habitats": "habitats",
    "cluster_subregions": "scores", "diversity": "scores", "ited": "scores",
    "ithscore3d_seed003": "scores", "ithscore_from_clusters": "scores",
    "li2022_from_label_map": "scores",
    "ITH_PARTS": "settings", "SEED003_RADIOMICS": "settings", "IthSettings": "settings",
    "ithscore_li2022": "subregion_features", "li2022_label_map": "subregion_features",
    "subregion_radiomics": "subregion_features",
    "Subregions": "subregions", "expand_mask": "subregions", "slic_subregions": "subregions",
    "run_habitats": "run_habitats",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
