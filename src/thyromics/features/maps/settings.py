"""Frozen settings of the voxel-wise feature-map engine.

The names mirror PyRadiomics' voxel-based settings (``kernelRadius``, ``maskedKernel``,
``initValue``, ``binWidth``/``binCount``, ``distances``, ``force2D``...) so that one
set of numbers gives the same maps in both tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MapSettings", "MAP_FEATURES", "resolve_features"]

#: Every feature the map engine computes, by class, in PyRadiomics' naming.
MAP_FEATURES: dict[str, tuple[str, ...]] = {
    "firstorder": (
        "Energy", "TotalEnergy", "Entropy", "Minimum", "10Percentile", "90Percentile",
        "Maximum", "Mean", "Median", "InterquartileRange", "Range", "MeanAbsoluteDeviation",
        "RobustMeanAbsoluteDeviation", "RootMeanSquared", "Skewness", "Kurtosis", "Variance",
        "Uniformity",
    ),
    "glcm": (
        "Autocorrelation", "JointAverage", "ClusterProminence", "ClusterShade",
        "ClusterTendency", "Contrast", "Correlation", "DifferenceAverage",
        "DifferenceEntropy", "DifferenceVariance", "JointEnergy", "JointEntropy", "Imc1",
        "Imc2", "Idm", "MCC", "Idmn", "Id", "Idn", "InverseVariance", "MaximumProbability",
        "SumAverage", "SumEntropy", "SumSquares",
    ),
    "glrlm": (
        "ShortRunEmphasis", "LongRunEmphasis", "GrayLevelNonUniformity",
        "GrayLevelNonUniformityNormalized", "RunLengthNonUniformity",
        "RunLengthNonUniformityNormalized", "RunPercentage", "GrayLevelVariance", "RunVariance",
        "RunEntropy", "LowGrayLevelRunEmphasis", "HighGrayLevelRunEmphasis",
        "ShortRunLowGrayLevelEmphasis", "ShortRunHighGrayLevelEmphasis",
        "LongRunLowGrayLevelEmphasis", "LongRunHighGrayLevelEmphasis",
    ),
    "glszm": (
        "SmallAreaEmphasis", "LargeAreaEmphasis", "GrayLevelNonUniformity",
        "GrayLevelNonUniformityNormalized", "SizeZoneNonUniformity",
        "SizeZoneNonUniformityNormalized", "ZonePercentage", "GrayLevelVariance", "ZoneVariance",
        "ZoneEntropy", "LowGrayLevelZoneEmphasis", "HighGrayLevelZoneEmphasis",
        "SmallAreaLowGrayLevelEmphasis", "SmallAreaHighGrayLevelEmphasis",
        "LargeAreaLowGrayLevelEmphasis", "LargeAreaHighGrayLevelEmphasis",
    ),
    "gldm": (
        "SmallDependenceEmphasis", "LargeDependenceEmphasis", "GrayLevelNonUniformity",
        "DependenceNonUniformity", "DependenceNonUniformityNormalized", "GrayLevelVariance",
        "DependenceVariance", "DependenceEntropy", "LowGrayLevelEmphasis",
        "HighGrayLevelEmphasis", "SmallDependenceLowGrayLevelEmphasis",
        "SmallDependenceHighGrayLevelEmphasis", "LargeDependenceLowGrayLevelEmphasis",
        "LargeDependenceHighGrayLevelEmphasis",
    ),
    "ngtdm": ("Coarseness", "Contrast", "Busyness", "Complexity", "Strength"),
}


def _did_you_mean(key: str, valid: list[str]) -> str:
    from thyromics.errors import did_you_mean

    return did_you_mean(key, valid, cutoff=0.5)


def resolve_features(features: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Expand ``("firstorder", "glcm_Contrast")`` into ``{class: (feature, ...)}``.

    Raises
    ------
    KeyError
        On an unknown class or feature, with the closest valid names.
    """
    out: dict[str, list[str]] = {}
    all_names = list(MAP_FEATURES) + [f"{c}_{f}" for c, fs in MAP_FEATURES.items() for f in fs]
    for key in features:
        if key in MAP_FEATURES:
            out.setdefault(key, [])
            for f in MAP_FEATURES[key]:
                if f not in out[key]:
                    out[key].append(f)
            continue
        cls, _, feat = key.partition("_")
        if cls in MAP_FEATURES and feat in MAP_FEATURES[cls]:
            out.setdefault(cls, [])
            if feat not in out[cls]:
                out[cls].append(feat)
            continue
        raise KeyError(f"unknown map feature {key!r}: expected a class ({', '.join(MAP_FEATURES)}) "
                       f"or '<class>_<feature>'.{_did_you_mean(key, all_names)}")
    return {c: tuple(v) for c, v in out.items()}


@dataclass(frozen=True)
class MapSettings:
    """Settings of a voxel-wise (sliding-kernel) feature map.

    Parameters
    ----------
    kernel_radius : int
        Kernel half-width ``r`` in voxels; the kernel is the ``(2r+1)^d`` box around each
        voxel, clipped at the image edge (PyRadiomics ``kernelRadius``).
    bin_width : float or None
        Fixed bin width in intensity units; bins are equally spaced from 0 and computed on
        the whole ROI before the kernels (PyRadiomics ``binWidth``). Default 25.
    bin_count : int or None
        Fixed bin number on the ROI instead of a width (PyRadiomics ``binCount``).
    masked_kernel : bool
        Only ROI voxels take part in a kernel (``True``) or every voxel of the cropped
        box does; in the latter case the discretisation also uses the whole box.
    init_value : float
        Map value outside the computed voxels (PyRadiomics ``initValue``, default 0).
    distances : tuple of int
        Neighbour distances (Chebyshev) for GLCM/GLDM/NGTDM (GLRLM and GLSZM use
        distance 1, as PyRadiomics).
    gldm_alpha : int
        Coarseness of dependence for GLDM (PyRadiomics ``gldm_a``).
    force2d, force2d_dimension : bool, int
        Kernels and angles in-plane only; the dimension is a numpy axis (0 = z).
    voxel_array_shift : float
        Added to intensities for Energy/TotalEnergy/RMS (``voxelArrayShift``).
    normalize, normalize_scale, remove_outliers
        Whole-image z-score (``sitk.Normalize``) times scale, as PyRadiomics.
    margin_mm : float
        Grow the ROI by this distance (mm, Euclidean, spacing-aware) before mapping.
    label : int or None
        Mask label of the lesion; ``None`` means every non-zero voxel.
    features : tuple of str
        Classes and/or ``<class>_<feature>`` names (see :data:`MAP_FEATURES`).
    """

    kernel_radius: int = 1
    bin_width: float | None = 25.0
    bin_count: int | None = None
    masked_kernel: bool = True
    init_value: float = 0.0
    distances: tuple[int, ...] = (1,)
    gldm_alpha: int = 0
    force2d: bool = False
    force2d_dimension: int = 0
    voxel_array_shift: float = 0.0
    normalize: bool = False
    normalize_scale: float = 1.0
    remove_outliers: float | None = None
    margin_mm: float = 0.0
    label: int | None = None
    features: tuple[str, ...] = field(default=("firstorder", "glcm"))

    def __post_init__(self) -> None:
        if self.kernel_radius < 1:
            raise ValueError(f"kernel_radius must be >= 1, got {self.kernel_radius}")
        if (self.bin_width is None) == (self.bin_count is None):
            if self.bin_count is not None:
                # PyRadiomics: binCount wins when both are given; keep it explicit here
                object.__setattr__(self, "bin_width", None)
            else:
                raise ValueError("give bin_width or bin_count")
        if self.bin_width is not None and self.bin_width <= 0:
            raise ValueError(f"bin_width must be > 0, got {self.bin_width}")
        if self.bin_count is not None and self.bin_count < 1:
            raise ValueError(f"bin_count must be >= 1, got {self.bin_count}")
        if not self.distances or min(self.distances) < 1:
            raise ValueError(f"distances must be positive integers, got {self.distances}")
        if self.margin_mm < 0:
            raise ValueError(f"margin_mm must be >= 0, got {self.margin_mm}")
        object.__setattr__(self, "distances", tuple(int(d) for d in self.distances))
        object.__setattr__(self, "features", tuple(self.features))
        resolve_features(self.features)  # validate early

    def to_pyradiomics(self) -> dict:
        """The equivalent PyRadiomics settings dictionary (for oracles and provenance)."""
        out: dict = {
            "kernelRadius": self.kernel_radius, "maskedKernel": self.masked_kernel,
            "initValue": self.init_value, "distances": list(self.distances),
            "force2D": self.force2d, "force2Ddimension": self.force2d_dimension,
            "voxelArrayShift": self.voxel_array_shift, "gldm_a": self.gldm_alpha,
            "normalize": self.normalize, "normalizeScale": self.normalize_scale,
            "removeOutliers": self.remove_outliers, "label": 1,
        }
        if self.bin_count is not None:
            out["binCount"] = self.bin_count
        else:
            out["binWidth"] = self.bin_width
        return out
