"""Frozen settings of the intratumoral-heterogeneity (``ith``) block.

Defaults are those of the CRIT/iTED study's "TITAN" pipeline (``1.2_TITAN_pipeline.py`` of
the THCA-ITH code, github.com/Spr1te123/THCA-ITH, snapshot e39b072), with its defects
fixed: the voxel spacing is passed to SLIC (the code gave none), mask expansion grows to
the stated cumulative distance (the code compounded 3 + 6 + 9 = 18 mm) on the right axes
(it applied targets computed in SimpleITK's x, y, z order to numpy's z, y, x axes), and
every random draw is seeded (its bootstrap indices were not). The ``li_*`` settings are
those of the published ITHscore (Li et al., Eur Radiol 2022; github.com/LiJiaqi96/ITHscore).
"""

from __future__ import annotations

from thyromics.errors import did_you_mean
from dataclasses import dataclass, field

__all__ = ["IthSettings", "SEED003_RADIOMICS", "ITH_PARTS"]

#: PyRadiomics settings of the THCA-ITH code for per-sub-region features (93 features, no shape).
SEED003_RADIOMICS: dict = {"binCount": 32, "normalize": True, "normalizeScale": 100,
                           "correctMask": True, "geometryTolerance": 1e-5}

#: The parts of the block, in computation order.
ITH_PARTS = ("ited", "ithscore3d", "li2022", "habitats")


@dataclass(frozen=True)
class IthSettings:
    """Settings of the ``ith`` block.

    Parameters
    ----------
    parts : tuple of str
        Which of :data:`ITH_PARTS` to compute.
    voxels_per_segment, min_segments : int
        SLIC ``n_segments = max(min_segments, n_voxels // voxels_per_segment)``.
    compactness, sigma : float
        SLIC compactness and Gaussian pre-smoothing.
    use_spacing : bool
        Pass the voxel spacing to SLIC (the THCA-ITH code did not).
    min_subregion_voxels : int
        Sub-regions smaller than this are dropped (THCA-ITH: 10).
    flat_sd : float
        Sub-regions with intensity SD at or below this are dropped (THCA-ITH: "SD ~ 0").
    min_valid_subregions : int
        Expand the mask when fewer valid sub-regions remain (THCA-ITH: 5).
    expansion_mm : tuple of float
        Cumulative expansion distances tried in turn (THCA-ITH: 3, 6, 9 mm, but compounded).
    radiomics : dict
        PyRadiomics settings for per-sub-region features (shape is never computed).
    classes : tuple of str
        PyRadiomics feature classes for sub-regions.
    ited_max_components, ited_n_init : int
        GMM components 1..min(max, n-1) chosen by BIC; restarts (THCA-ITH: 4, 3).
    ited_bootstrap : int
        Bootstrap resamples for iTED CIs (0 = none; the THCA-ITH code used 1000 when n >= 10).
    k_min, k_max : int
        3D ITHscore k-means range (THCA-ITH: 3..8, capped at n-1).
    li_window_radius, li_k, li_bin_width
        Published ITHscore: 5x5 window (radius 2), K = 6 clusters, bin width 25.
    habitat_features : tuple of str
        Local feature maps (see :mod:`thyromics.features.maps`) clustered into habitats.
    habitat_kernel_radius : int
    habitat_bin_width : float
    habitat_method : {"kmeans", "gmm"}
    n_habitats : int or None
        Fixed k; ``None`` chooses k in ``habitat_k_range`` by silhouette.
    habitat_k_range : tuple of int
    seed : int
        Seed of every random draw (k-means, GMM, bootstrap, silhouette subsample).
    """

    parts: tuple[str, ...] = ITH_PARTS
    voxels_per_segment: int = 100
    min_segments: int = 50
    compactness: float = 0.1
    sigma: float = 1.0
    use_spacing: bool = True
    min_subregion_voxels: int = 10
    flat_sd: float = 1e-6
    min_valid_subregions: int = 5
    expansion_mm: tuple[float, ...] = (3.0, 6.0, 9.0)
    radiomics: dict = field(default_factory=lambda: dict(SEED003_RADIOMICS))
    classes: tuple[str, ...] = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    ited_max_components: int = 4
    ited_n_init: int = 3
    ited_bootstrap: int = 0
    k_min: int = 3
    k_max: int = 8
    li_window_radius: int = 2
    li_k: int = 6
    li_bin_width: float = 25.0
    habitat_features: tuple[str, ...] = ("firstorder_Mean", "firstorder_Variance",
                                         "glcm_JointEntropy", "glcm_Contrast")
    habitat_kernel_radius: int = 1
    habitat_bin_width: float = 25.0
    habitat_method: str = "kmeans"
    n_habitats: int | None = None
    habitat_k_range: tuple[int, int] = (2, 5)
    seed: int = 42

    def __post_init__(self) -> None:
        for p in self.parts:
            if p not in ITH_PARTS:
                hint = did_you_mean(p, ITH_PARTS, n=2)
                raise KeyError(f"unknown ith part {p!r}; expected some of {ITH_PARTS}.{hint}")
        if self.habitat_method not in ("kmeans", "gmm"):
            raise ValueError(f"habitat_method must be 'kmeans' or 'gmm', got {self.habitat_method!r}")
        if self.n_habitats is not None and self.n_habitats < 1:
            raise ValueError(f"n_habitats must be >= 1 or None, got {self.n_habitats}")
        lo, hi = self.habitat_k_range
        if not 2 <= lo <= hi:
            raise ValueError(f"habitat_k_range must satisfy 2 <= low <= high, got {self.habitat_k_range}")
        if self.k_min < 2 or self.k_max < self.k_min:
            raise ValueError(f"need 2 <= k_min <= k_max, got {self.k_min}, {self.k_max}")
        if "shape" in self.classes:
            raise ValueError("shape features are not computed per sub-region; remove 'shape'")
        from thyromics.features.maps import resolve_features

        resolve_features(self.habitat_features)
