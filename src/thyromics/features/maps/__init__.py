"""Voxel-wise radiomics feature maps (sliding kernel), PyRadiomics-compatible and fast."""

from ._cache import configure as _configure_numba_cache

_configure_numba_cache()  # before any kernel module is imported (see _cache)

from .engine import FeatureMaps, compute_feature_maps, discretise, generate_angles
from .io import write_feature_maps
from .settings import MAP_FEATURES, MapSettings, resolve_features

__all__ = ["FeatureMaps", "MAP_FEATURES", "MapSettings", "compute_feature_maps", "discretise",
           "generate_angles", "resolve_features", "write_feature_maps"]
