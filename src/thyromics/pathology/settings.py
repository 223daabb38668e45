"""Frozen, typed settings of the pathology stage.

Each stage of ``thyromics pathology`` (tiles -> normalise -> nuclei -> features) has one
settings object, validated once when it is made and written into the provenance of
every output and into the cache keys (so changing a setting recomputes what it affects).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from thyromics.errors import InputError

__all__ = ["TileSettings", "StainSettings", "NucleiSettings", "FeatureSettings",
           "PANNUKE_TYPES", "STAIN_METHODS", "SEGMENTERS"]

#: HoVer-Net / TIAToolbox PanNuke type ids -> names (0: no type, e.g. the classical segmenter).
PANNUKE_TYPES: dict[int, str] = {0: "untyped", 1: "neoplastic", 2: "inflammatory",
                                 3: "connective", 4: "dead", 5: "non_neoplastic"}
STAIN_METHODS = ("macenko", "reinhard", "none")
SEGMENTERS = ("classical", "external")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise InputError(msg)


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    _check(value in choices, f"unknown {what} {value!r}; use one of {', '.join(choices)}")


class _Dict:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class TileSettings(_Dict):
    """How slides are cut into tiles.

    Attributes
    ----------
    tile_size : int
        Tile side in pixels at the output resolution (default 1024).
    overlap : int
        Overlap of neighbouring tiles in output pixels (default 128). A nucleus is owned by
        the tile whose midline region holds its centroid, so the overlap must exceed the
        largest nucleus diameter for owned nuclei to lie wholly inside their tile.
    mpp : float or None
        Output resolution in micrometres per pixel (0.25 ~ 40x, 0.5 ~ 20x). ``None``:
        level 0 (the full resolution), or ``magnification`` when that is given.
    magnification : float or None
        Output objective magnification (e.g. 20); needs the slide's objective power.
    min_tissue : float
        Smallest tissue fraction of a tile's footprint (on the tissue mask) to keep it.
    thumbnail_size : int
        Longest side of the thumbnail on which tissue is detected, in pixels.
    max_upsample : float
        Largest upsampling of level 0 that ``mpp`` / ``magnification`` may ask for (1.5):
        upsampling adds no detail, and a wrong resolution shows up as a huge factor.
    check_stain : bool
        Refuse a slide whose tissue does not look like H&E (optical-density stain vectors
        outside the haematoxylin / eosin range, see :mod:`thyromics.pathology.stain_check`).
        Turn off only for other stains; the provenance records it.
    """

    tile_size: int = 1024
    overlap: int = 128
    mpp: float | None = None
    magnification: float | None = None
    min_tissue: float = 0.25
    thumbnail_size: int = 2048
    max_upsample: float = 1.5
    check_stain: bool = True

    def __post_init__(self) -> None:
        _check(self.tile_size >= 32, f"tile size must be >= 32 pixels, got {self.tile_size}")
        _check(0 <= self.overlap < self.tile_size // 2,
               f"overlap must be in [0, tile_size/2), got {self.overlap} for tiles of {self.tile_size}")
        _check(self.mpp is None or self.mpp > 0, f"--mpp must be positive, got {self.mpp}")
        _check(self.magnification is None or self.magnification > 0,
               f"--magnification must be positive, got {self.magnification}")
        _check(self.mpp is None or self.magnification is None,
               "give --mpp or --magnification, not both")
        _check(0.0 <= self.min_tissue <= 1.0, f"--min-tissue must be in [0, 1], got {self.min_tissue}")
        _check(self.thumbnail_size >= 64, "thumbnail size must be >= 64 pixels")
        _check(1.0 <= self.max_upsample <= 4.0, f"max upsampling must be in [1, 4], got {self.max_upsample}")


@dataclass(frozen=True)
class StainSettings(_Dict):
    """Stain normalisation.

    Attributes
    ----------
    method : str
        ``macenko`` (Macenko et al. 2009), ``reinhard`` (Reinhard et al. 2001, in CIELAB)
        or ``none`` (tiles are copied; the default of the CRIT/iTED study's code,
        github.com/Spr1te123/THCA-ITH).
    n_reference_tiles : int
        Tiles drawn (seeded) among the tissue-richest half to build the reference when no
        ``--reference`` is given: the counterpart of the "generate reference" step of the
        THCA-ITH code (``4.3_Generate_reference_all.py``).
    seed : int
        Seed of that draw.
    io : float
        Macenko: transmitted (background) light intensity (240).
    alpha : float
        Macenko: percentile of the extreme angles (1).
    beta : float
        Macenko: optical-density threshold below which pixels are background (0.15).
    """

    method: str = "macenko"
    n_reference_tiles: int = 8
    seed: int = 0
    io: float = 240.0
    alpha: float = 1.0
    beta: float = 0.15

    def __post_init__(self) -> None:
        _check_choice(self.method, STAIN_METHODS, "stain normalisation")
        _check(self.n_reference_tiles >= 1, "--reference-tiles must be >= 1")
        _check(0 < self.alpha < 50 and self.beta > 0 and self.io > 0,
               "Macenko needs 0 < alpha < 50, beta > 0 and io > 0")


@dataclass(frozen=True)
class NucleiSettings(_Dict):
    """Nucleus instance masks: from an external segmenter or the classical baseline.

    Attributes
    ----------
    segmenter : str
        ``external``: read the files named in the manifest's ``nuclei`` column (HoVer-Net
        ``.mat``/``.json``, TIAToolbox ``.dat``/``.json``, labelled PNG/TIFF/NPY);
        ``classical``: the built-in baseline (haematoxylin channel, Otsu threshold,
        distance-transform watershed) -- a baseline, not HoVer-Net.
    radius_um : float
        Classical: expected nucleus radius in micrometres (sets the smoothing and the
        watershed seed distance; 3 um).
    min_area_um2 : float
        Instances smaller than this (square micrometres) are dropped and counted, both
        segmenters (4 um^2, a disc of 2.3 um diameter: below the smallest nuclei, small
        lymphocytes of about 5 um and pyknotic nuclei of about 3 um; fixed a priori).
    max_area_um2 : float
        Instances larger than this are dropped and counted (1000 um^2, a disc of 36 um:
        above the giant nuclei of anaplastic carcinoma; larger objects are merged nuclei
        or tissue folds). ``OUT/nuclei.csv`` reports both counts per tile.
    """

    segmenter: str = "classical"
    radius_um: float = 3.0
    min_area_um2: float = 4.0
    max_area_um2: float = 1000.0

    def __post_init__(self) -> None:
        _check_choice(self.segmenter, SEGMENTERS, "segmenter")
        _check(self.radius_um > 0, "nucleus radius must be positive")
        _check(self.min_area_um2 > 0, f"--min-area must be > 0 um^2, got {self.min_area_um2}")
        _check(self.max_area_um2 > self.min_area_um2,
               f"--max-area ({self.max_area_um2} um^2) must exceed --min-area ({self.min_area_um2} um^2)")


@dataclass(frozen=True)
class FeatureSettings(_Dict):
    """Per-nucleus features and their aggregation.

    Attributes
    ----------
    types : tuple of int
        Nucleus types measured (the THCA-ITH code: 1-3, neoplastic, inflammatory,
        connective).
        Type 0 (untyped: classical segmenter, plain label images) is always measured.
    ith_types : tuple of int or None
        Types over which the slide-level heterogeneity is averaged; ``None``: ``types``
        when any measured nucleus is typed, else the untyped nuclei as one group.
    quantiles : tuple of float
        Quantiles reported by the aggregation.
    glcm_levels : int
        Grey levels of the GLCM (the THCA-ITH code: 8, i.e. grey // 32).
    curvature_step : int
        Contour points between the vectors of the curvature (the THCA-ITH code: 5).
    """

    types: tuple[int, ...] = (1, 2, 3)
    ith_types: tuple[int, ...] | None = None
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    glcm_levels: int = 8
    curvature_step: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(int(t) for t in self.types))
        if self.ith_types is not None:
            object.__setattr__(self, "ith_types", tuple(int(t) for t in self.ith_types))
        object.__setattr__(self, "quantiles", tuple(float(q) for q in self.quantiles))
        bad = [t for t in (*self.types, *(self.ith_types or ())) if t not in PANNUKE_TYPES]
        _check(not bad, f"unknown nucleus types {bad}; PanNuke ids are {PANNUKE_TYPES}")
        _check(all(0 < q < 1 for q in self.quantiles), "quantiles must lie in (0, 1)")
        _check(256 % self.glcm_levels == 0 and 2 <= self.glcm_levels <= 256,
               "GLCM levels must divide 256 (2, 4, 8, ... 256)")
        _check(self.curvature_step >= 1, "curvature step must be >= 1")
