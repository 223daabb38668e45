"""Typed, frozen radiomics extraction settings.

:class:`ExtractionSettings` is validated once, when it is built (from a preset, from a
standard PyRadiomics parameter file, or by hand), and is then passed unchanged to the
engine. It converts to the PyRadiomics parameter dictionary
(:meth:`ExtractionSettings.to_pyradiomics_params`) and to a JSON-able dictionary for
hashing and provenance (:meth:`ExtractionSettings.to_dict`).

Field names follow the PyRadiomics settings (``binWidth`` -> ``bin_width`` ...); see
https://pyradiomics.readthedocs.io/en/latest/customization.html for their meaning.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from thyromics.errors import InputError

__all__ = ["ENGINES", "FEATURE_CLASSES", "IMAGE_TYPES", "INTERPOLATORS", "ExtractionSettings"]

#: PyRadiomics feature classes that the engine can run.
FEATURE_CLASSES: tuple[str, ...] = ("shape", "shape2D", "firstorder", "glcm", "glrlm",
                                    "glszm", "gldm", "ngtdm")
#: Extra PyRadiomics image types (besides Original, LoG and Wavelet, which have own fields).
IMAGE_TYPES: tuple[str, ...] = ("Square", "SquareRoot", "Logarithm", "Exponential",
                                "Gradient", "LBP2D")
#: SimpleITK interpolators accepted by PyRadiomics' resampling.
INTERPOLATORS: tuple[str, ...] = ("sitkNearestNeighbor", "sitkLinear", "sitkBSpline",
                                  "sitkGaussian", "sitkLabelGaussian", "sitkHammingWindowedSinc",
                                  "sitkCosineWindowedSinc", "sitkWelchWindowedSinc",
                                  "sitkLanczosWindowedSinc", "sitkBlackmanWindowedSinc")

#: Feature engines (``ExtractionSettings.engine``); the first is the default.
ENGINES: tuple[str, ...] = ("native", "pyradiomics")

_ALL_CLASSES = ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
_WEIGHTING = ("manhattan", "euclidean", "infinity", "no_weighting")


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    from thyromics.errors import did_you_mean

    return did_you_mean(word, options, cutoff=0.5)


def _check_known(value: str, valid: Iterable[str], what: str, note: str = "") -> None:
    """Refuse a ``value`` not in ``valid``: the closest valid names, then all of them."""
    valid = list(valid)
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}.{_did_you_mean(value, valid)} "
                         f"Valid: {', '.join(valid)}{note}")


class ExtractionSettings(BaseModel):
    """Everything that decides the radiomics features of a case.

    Attributes
    ----------
    preset : str
        Name of the preset these settings came from (``"custom"`` otherwise).
    dimensionality : {"3d", "2d"}
        ``"2d"`` computes texture matrices slice by slice (PyRadiomics ``force2D``) along
        ``force2d_dimension`` (0 = axial slices, the ``z`` axis). A 2D image is always
        handled in 2D, whatever this says.
    force2d_dimension : {0, 1, 2}
        The axis (ITK order, ``0`` = z in PyRadiomics' convention) held constant in 2D mode.
    bin_width, bin_count : float or None, int or None
        Grey-level discretisation: a fixed bin width (in the image's intensity units, e.g.
        HU) XOR a fixed number of bins. Exactly one must be set.
    normalize, normalize_scale, remove_outliers : bool, float, float or None
        z-score normalisation of the whole image (``(I - mean) / sd * scale``), with
        optional clipping at ``remove_outliers`` standard deviations (before scaling).
    resampled_pixel_spacing : tuple of float or None
        Target voxel size in mm, ITK order ``(x, y[, z])``; ``0`` keeps that axis. ``None``
        means no resampling.
    interpolator : str
        SimpleITK interpolator for the image when resampling (the mask always uses
        nearest neighbour in PyRadiomics).
    resampling_grid : {"pyradiomics", "ibsi"}
        ``pyradiomics``: PyRadiomics' grid (origin-aligned, cropped to the lesion plus
        ``pad_distance``, mask by nearest neighbour, image cast back to its pixel type);
        ``ibsi``: the IBSI grid (centre-aligned, mask by linear interpolation and a 0.5
        threshold, integer images rounded). Both through
        :mod:`thyromics.preprocess.resample`, which never lets a kernel read past the data.
    clip_interpolated : bool
        Clip resampled intensities to the input image's range. A cubic B-spline (or sinc)
        kernel overshoots at sharp edges: on LIDC crops resampled to 1 mm it gives
        -1202 HU beside air of -1024 HU, a value no voxel of the scan holds. PyRadiomics
        does not clip: set ``False`` for its exact values.
    pad_distance : int
        Voxels of padding kept around the lesion when resampling / cropping.
    pre_crop : bool
        Crop the image to the lesion (+ ``pad_distance``) before filtering (faster; edge
        effects of the filters may change).
    resegment_range : tuple of float or None
        Intensity resegmentation ``(lower, upper)`` or ``(lower,)``; with
        ``resegment_mode="sigma"`` the bounds are multiples of the SD around the mean.
    resegment_mode : {"absolute", "relative", "sigma"}
    resegment_shape : bool
        Also use the resegmented mask for the shape features.
    original : bool
        Features of the unfiltered image.
    log_sigmas : tuple of float
        Laplacian-of-Gaussian filter widths in mm (empty: no LoG).
    wavelet : bool
        Stationary wavelet decompositions (``wavelet_name``, ``wavelet_levels`` levels
        from ``wavelet_start_level``): 8 images per level in 3D, 4 in 2D.
    image_types : tuple of str
        Other PyRadiomics image types, among :data:`IMAGE_TYPES`.
    feature_classes : tuple of str
        PyRadiomics feature classes, among :data:`FEATURE_CLASSES`. ``"shape"`` stands for
        the shape family of the image's dimensionality: 3D shape for volumes, shape2D for
        2D images.
    feature_subsets : mapping of str to tuple of str
        Optional explicit feature names per class (empty mapping: all non-deprecated
        features of every class; naming a deprecated feature enables it).
    fractal, moments : bool
        Add the box-counting fractal dimension (:mod:`thyromics.features.fractal`) and the
        two intensity moment invariants (:mod:`thyromics.features.moments`).
    label : int or None
        Label value of the lesion in the mask. ``None`` (default): the mask must be
        binary (0/1 or 0/255, taken as it is); a mask with several labels is refused,
        listing them.
    geometry_tolerance : float or None
        Tolerance of the image/mask geometry check (PyRadiomics ``geometryTolerance``).
    correct_mask : bool
        Resample the mask onto the image grid when their geometries differ.
    min_roi_size : int
        Minimum number of lesion voxels; a smaller lesion is a case error.
    min_roi_dimensions : int
        Minimum number of axes along which the lesion spans more than one voxel.
    distances, symmetrical_glcm, weighting_norm, gldm_a, voxel_array_shift
        Texture settings passed unchanged to PyRadiomics.
    wavelet_name, wavelet_start_level, wavelet_levels
        Wavelet family and levels.
    lbp2d_radius, lbp2d_samples, lbp2d_method, gradient_use_spacing
        Settings of the LBP2D and Gradient image types.
    pyradiomics_params : dict or None
        The raw content of the PyRadiomics parameter file these settings were read from,
        kept for provenance only (the typed fields above are what is used).
    engine : {"native", "pyradiomics"}
        What computes the features: ``native`` (the default; :mod:`thyromics.features.native`:
        compiled kernels, PyRadiomics' values within 1e-9 relative, several times faster) or
        ``pyradiomics`` (PyRadiomics' feature classes, the reference). Both take the same
        prepared image; the engine is part of the settings (and so of the cache key and the
        provenance) because their values agree to 1e-9, not to the bit.
    convention : {"pyradiomics", "ibsi"}
        Which definitions the native engine computes. ``pyradiomics`` (default): PyRadiomics'
        own, to 1e-9. ``ibsi``: the IBSI 1 definitions where they differ from PyRadiomics'
        (Zwanenburg et al., Radiology 2020; reference manual arXiv:1612.07003), with the
        same column names: excess kurtosis (kurtosis - 3); fixed bin size starting at the lower bound of
        an ``absolute`` ``resegment_range`` (``floor((x - lower) / w) + 1``), fixed bin number
        ``floor(n (x - min) / (max - min)) + 1`` (max in bin ``n``); principal axes from the
        sample covariance (N - 1) of the voxel centres, shape on the whole morphological
        mask (not cropped to the resegmented one's box); resampling on the IBSI grid
        (``resampling_grid="ibsi"`` whatever that field says; intensities rounded after
        interpolation when every input value is an integer, as CT in HU). Needs
        ``engine="native"``. See ``docs/ibsi_conformance.md`` for what conforms.
    resegment_outlier_sd : float or None
        IBSI intensity outlier filtering after the range resegmentation: voxels outside
        mean +- ``k`` SD (population SD of the range-resegmented ROI) leave the intensity
        mask (IBSI configuration E: ``resegment_range=(-1000, 400)``,
        ``resegment_outlier_sd=3``). Needs ``convention="ibsi"`` (PyRadiomics applies one
        resegmentation mode) and an ``absolute`` ``resegment_mode``; without a
        ``resegment_range`` it filters the outliers alone.
    texture_aggregations : tuple of str
        IBSI texture aggregation variants to add as extra columns (``convention="ibsi"``
        only), among ``2D_avg``, ``2D_comb``, ``2_5D_avg``, ``2_5D_comb``, ``3D_avg``,
        ``3D_comb`` (:mod:`thyromics.features.native._aggregate`): GLCM / GLRLM columns
        ``<image>_<class>_<feature>_<variant>``, GLSZM / GLDM / NGTDM columns with the
        ``2D`` / ``2_5D`` / ``3D`` part as suffix. The usual columns keep the aggregation of
        ``dimensionality`` (``3d``: ``3D_avg``; ``2d``: ``2_5D_avg``).
    ibsi_features : bool
        Add the IBSI 1 features PyRadiomics lacks (``convention="ibsi"`` only;
        :mod:`thyromics.features.native._ibsi_features`): 11 shape columns of a 3D lesion
        (asphericity, centre of mass shift, integrated intensity, AABB / ellipsoid /
        convex-hull densities, Moran's I, Geary's C), 33 first-order columns per image
        (median absolute deviation, coefficient of variation, quartile coefficient of
        dispersion, local and global intensity peak, the 21 intensity-histogram
        statistics ``Histogram*``, the 7 intensity-volume histogram features
        ``IntensityVolume*``), GLDM ``DependenceCountEnergy`` and, with ``glszm``, the 16
        grey level distance zone matrix features (``<image>_gldzm_*``,
        :mod:`thyromics.features.native._gldzm`, with the ``texture_aggregations``
        variants).
    ibsi_filters : tuple of str
        IBSI 2 filter configurations (Whybra et al., Radiology 2024; reference manual
        arXiv:2006.05470) whose response maps add the 18 IBSI first-order statistics as
        columns ``ibsi2-<name>_firstorder_<statistic>`` (``convention="ibsi"`` only;
        names and definitions in :data:`thyromics.features.ibsi_filters.CONFIGURATIONS`,
        e.g. ``"log-1.5mm"``). The filters run on the whole prepared image (the IBSI
        grid when resampled) with IBSI's mirror boundary, in 3D, or slice by slice along
        ``force2d_dimension`` with ``dimensionality="2d"``; the statistics are over the
        resegmented ROI.
    ivh_bin_width, ivh_bin_count : float or None, int or None
        Discretisation of the intensity-volume histogram (with ``ibsi_features``; at most
        one): none (the default: the intensities themselves in steps of 1, IBSI's choice
        for CT in HU), a fixed bin size (IBSI: calibrated continuous intensities, e.g.
        2.5 HU or 0.1 SUV) or a fixed bin number (IBSI: arbitrary units, 1000 bins).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: str = "custom"
    dimensionality: Literal["3d", "2d"] = "3d"
    force2d_dimension: Literal[0, 1, 2] = 0
    bin_width: float | None = Field(default=25.0, gt=0)
    bin_count: int | None = Field(default=None, gt=0)
    normalize: bool = False
    normalize_scale: float = Field(default=1.0, gt=0)
    remove_outliers: float | None = Field(default=None, gt=0)
    resampled_pixel_spacing: tuple[float, ...] | None = None
    interpolator: str = "sitkBSpline"
    resampling_grid: Literal["pyradiomics", "ibsi"] = "pyradiomics"
    clip_interpolated: bool = True
    pad_distance: int = Field(default=5, ge=0)
    pre_crop: bool = False
    resegment_range: tuple[float, ...] | None = None
    resegment_mode: Literal["absolute", "relative", "sigma"] = "absolute"
    resegment_shape: bool = False
    original: bool = True
    log_sigmas: tuple[float, ...] = ()
    wavelet: bool = False
    wavelet_name: str = "coif1"
    wavelet_start_level: int = Field(default=0, ge=0)
    wavelet_levels: int = Field(default=1, ge=1)
    image_types: tuple[str, ...] = ()
    feature_classes: tuple[str, ...] = _ALL_CLASSES
    feature_subsets: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    fractal: bool = False
    moments: bool = False
    label: int | None = Field(default=None, gt=0)
    geometry_tolerance: float | None = Field(default=None, gt=0)
    correct_mask: bool = False
    min_roi_size: int = Field(default=1, ge=1)
    min_roi_dimensions: int = Field(default=2, ge=1, le=3)
    distances: tuple[int, ...] = (1,)
    symmetrical_glcm: bool = True
    weighting_norm: Literal["manhattan", "euclidean", "infinity", "no_weighting"] | None = None
    gldm_a: int = Field(default=0, ge=0)
    voxel_array_shift: int = 0
    lbp2d_radius: float = Field(default=1.0, gt=0)
    lbp2d_samples: int = Field(default=9, ge=1)
    lbp2d_method: Literal["default", "ror", "uniform", "var"] = "uniform"
    gradient_use_spacing: bool = True
    pyradiomics_params: dict[str, Any] | None = None
    engine: Literal["native", "pyradiomics"] = "native"
    convention: Literal["pyradiomics", "ibsi"] = "pyradiomics"
    resegment_outlier_sd: float | None = Field(default=None, gt=0)
    texture_aggregations: tuple[Literal["2D_avg", "2D_comb", "2_5D_avg", "2_5D_comb", "3D_avg",
                                        "3D_comb"], ...] = ()
    ibsi_features: bool = False
    ivh_bin_width: float | None = Field(default=None, gt=0)
    ibsi_filters: tuple[str, ...] = ()
    ivh_bin_count: int | None = Field(default=None, gt=0)

    # ------------------------------------------------------------------ validation
    @field_validator("interpolator")
    @classmethod
    def _check_interpolator(cls, v: str) -> str:
        _check_known(v, INTERPOLATORS, "interpolator")
        return v

    @field_validator("image_types")
    @classmethod
    def _check_image_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for t in v:
            _check_known(t, IMAGE_TYPES, "image type",
                         " (LoG and Wavelet have their own fields: log_sigmas, wavelet)")
        return tuple(dict.fromkeys(v))

    @field_validator("feature_classes")
    @classmethod
    def _check_classes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            _check_known(c, FEATURE_CLASSES, "feature class")
        return tuple(dict.fromkeys(v))

    @field_validator("log_sigmas")
    @classmethod
    def _check_sigmas(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(s <= 0 for s in v):
            raise ValueError(f"LoG sigmas must be > 0 mm, got {v}")
        return tuple(float(s) for s in v)

    @field_validator("distances")
    @classmethod
    def _check_distances(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d <= 0 for d in v):
            raise ValueError(f"distances must be positive integers, got {v}")
        return v

    @field_validator("wavelet_name")
    @classmethod
    def _check_wavelet(cls, v: str) -> str:
        import pywt

        names = pywt.wavelist(kind="discrete")
        if v not in names:
            raise ValueError(f"unknown wavelet {v!r}.{_did_you_mean(v, names)}")
        return v

    @model_validator(mode="after")
    def _check_combination(self) -> ExtractionSettings:
        if (self.bin_width is None) == (self.bin_count is None):
            raise ValueError("set exactly one of bin_width and bin_count (found "
                             f"bin_width={self.bin_width}, bin_count={self.bin_count})")
        if self.resegment_range is not None and len(self.resegment_range) not in (1, 2):
            raise ValueError(f"resegment_range takes 1 or 2 values, got {self.resegment_range}")
        if self.resampled_pixel_spacing is not None and (
                len(self.resampled_pixel_spacing) not in (2, 3)
                or any(s < 0 for s in self.resampled_pixel_spacing)):
            raise ValueError("resampled_pixel_spacing takes 2 or 3 values >= 0 mm, got "
                             f"{self.resampled_pixel_spacing}")
        if not (self.original or self.log_sigmas or self.wavelet or self.image_types):
            raise ValueError("no image type enabled: set original, log_sigmas, wavelet or "
                             "image_types")
        for cls_name, names in self.feature_subsets.items():
            if cls_name not in self.feature_classes:
                raise ValueError(f"feature_subsets names class {cls_name!r}, which is not in "
                                 f"feature_classes {self.feature_classes}")
            _check_feature_names(cls_name, names)
        if self.convention == "ibsi" and self.engine != "native":
            raise ValueError("convention='ibsi' needs engine='native': PyRadiomics' feature "
                             "classes compute PyRadiomics' definitions only (found "
                             f"engine={self.engine!r}). Set engine='native' (or keep "
                             "convention='pyradiomics' for PyRadiomics' own values)")
        if self.resegment_outlier_sd is not None and (
                self.convention != "ibsi" or self.resegment_mode != "absolute"):
            raise ValueError("resegment_outlier_sd (IBSI outlier filtering after a range "
                             "resegmentation) needs convention='ibsi' and resegment_mode="
                             f"'absolute' (found convention={self.convention!r}, "
                             f"resegment_mode={self.resegment_mode!r}); with PyRadiomics' "
                             "convention use resegment_mode='sigma' alone")
        if self.texture_aggregations and self.convention != "ibsi":
            raise ValueError(f"texture_aggregations {self.texture_aggregations} (IBSI variants "
                             "PyRadiomics lacks) need convention='ibsi' and engine='native' "
                             f"(found convention={self.convention!r})")
        if self.ibsi_filters:
            from thyromics.features.ibsi_filters import CONFIGURATIONS

            for name in self.ibsi_filters:
                _check_known(name, CONFIGURATIONS, "IBSI 2 filter configuration")
            if self.convention != "ibsi":
                raise ValueError(f"ibsi_filters {self.ibsi_filters} (IBSI 2 filters) need "
                                 "convention='ibsi' and engine='native' (found "
                                 f"convention={self.convention!r})")
        if self.ibsi_features and self.convention != "ibsi":
            raise ValueError("ibsi_features (IBSI features PyRadiomics lacks) need "
                             "convention='ibsi' and engine='native' (found "
                             f"convention={self.convention!r})")
        if self.ivh_bin_width is not None and self.ivh_bin_count is not None:
            raise ValueError("set at most one of ivh_bin_width and ivh_bin_count (found "
                             f"{self.ivh_bin_width}, {self.ivh_bin_count})")
        if (self.ivh_bin_width is not None or self.ivh_bin_count is not None) and not (
                self.ibsi_features):
            raise ValueError("ivh_bin_width / ivh_bin_count discretise the intensity-volume "
                             "histogram of ibsi_features: set ibsi_features=True (with "
                             "convention='ibsi')")
        return self

    # ------------------------------------------------------------------ conversions
    def replace(self, **changes: Any) -> ExtractionSettings:
        """A copy with some fields changed, validated again.

        Raises
        ------
        InputError
            When a change names an unknown field or gives an invalid value.
        """
        data = self.model_dump()
        unknown = [k for k in changes if k not in data]
        if unknown:
            raise InputError(f"unknown extraction setting(s) {unknown}."
                             f"{_did_you_mean(unknown[0], list(data))}")
        data.update(changes)
        return _build(data, "ExtractionSettings.replace")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of every field (for hashing and provenance)."""
        return json.loads(self.model_dump_json())

    def to_pyradiomics_params(self) -> dict[str, Any]:
        """The equivalent standard PyRadiomics parameter dictionary.

        Returns
        -------
        dict
            ``{"imageType": ..., "featureClass": ..., "setting": ...}`` as accepted by
            ``radiomics.featureextractor.RadiomicsFeatureExtractor``. Fractal and moment
            features are not PyRadiomics features and do not appear here.
        """
        image_type: dict[str, dict[str, Any]] = {}
        if self.original:
            image_type["Original"] = {}
        if self.log_sigmas:
            image_type["LoG"] = {"sigma": list(self.log_sigmas)}
        if self.wavelet:
            image_type["Wavelet"] = {"wavelet": self.wavelet_name,
                                     "start_level": self.wavelet_start_level,
                                     "level": self.wavelet_levels}
        for t in self.image_types:
            image_type[t] = {}
        feature_class = {c: (list(self.feature_subsets[c]) if c in self.feature_subsets else None)
                         for c in self.feature_classes}
        s: dict[str, Any] = {"label": self.label or 1, "additionalInfo": True,
                             "minimumROIDimensions": self.min_roi_dimensions,
                             "padDistance": self.pad_distance, "distances": list(self.distances),
                             "symmetricalGLCM": self.symmetrical_glcm, "gldm_a": self.gldm_a,
                             "voxelArrayShift": self.voxel_array_shift,
                             "correctMask": self.correct_mask, "preCrop": self.pre_crop,
                             "normalize": self.normalize, "normalizeScale": self.normalize_scale,
                             "interpolator": self.interpolator,
                             "force2D": self.dimensionality == "2d",
                             "force2Ddimension": self.force2d_dimension}
        if self.bin_width is not None:
            s["binWidth"] = self.bin_width
        else:
            s["binCount"] = self.bin_count
        if self.min_roi_size > 1:
            s["minimumROISize"] = self.min_roi_size - 1  # PyRadiomics: size must exceed it
        optional = {"geometryTolerance": self.geometry_tolerance,
                    "removeOutliers": self.remove_outliers,
                    "weightingNorm": self.weighting_norm}
        s.update({k: v for k, v in optional.items() if v is not None})
        if self.resampled_pixel_spacing is not None:
            s["resampledPixelSpacing"] = list(self.resampled_pixel_spacing)
        if self.resegment_range is not None:
            s.update(resegmentRange=list(self.resegment_range), resegmentMode=self.resegment_mode,
                     resegmentShape=self.resegment_shape)
        if "LBP2D" in self.image_types:
            s.update(lbp2DRadius=self.lbp2d_radius, lbp2DSamples=self.lbp2d_samples,
                     lbp2DMethod=self.lbp2d_method)
        if "Gradient" in self.image_types:
            s["gradientUseSpacing"] = self.gradient_use_spacing
        return {"imageType": image_type, "featureClass": feature_class, "setting": s}

    @classmethod
    def from_pyradiomics_params(cls, params: Mapping[str, Any], *, source: str = "parameters",
                                preset: str = "custom") -> ExtractionSettings:
        """Settings from a PyRadiomics parameter dictionary (see :meth:`from_params_file`)."""
        from thyromics.features._params import params_to_fields

        fields = params_to_fields(params, source)
        fields["preset"] = preset
        fields["pyradiomics_params"] = json.loads(json.dumps(dict(params), default=str))
        return _build(fields, source)

    @classmethod
    def from_params_file(cls, path: str | Path) -> ExtractionSettings:
        """Read a standard PyRadiomics parameter file (YAML or JSON).

        Top-level keys ``imageType``, ``featureClass``, ``setting`` (and ``voxelSetting``,
        ignored for segment-based extraction) are read; unknown keys or values raise
        :class:`~thyromics.errors.InputError` naming the file, the key and close valid names.
        """
        import yaml

        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"cannot read the PyRadiomics parameter file {p}: {e}") from e
        try:
            params = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as e:
            raise InputError(f"{p} is not valid YAML/JSON: {e}") from e
        if not isinstance(params, dict):
            raise InputError(f"{p}: expected a mapping with keys imageType/featureClass/setting,"
                             f" found {type(params).__name__}")
        return cls.from_pyradiomics_params(params, source=str(p), preset=f"params:{p.name}")


def _check_feature_names(cls_name: str, names: tuple[str, ...]) -> None:
    from radiomics import getFeatureClasses

    valid = list(getFeatureClasses()[cls_name].getFeatureNames())
    for n in names:
        if n not in valid:
            raise ValueError(f"unknown {cls_name} feature {n!r}.{_did_you_mean(n, valid)}")


def _build(data: dict[str, Any], source: str) -> ExtractionSettings:
    try:
        return ExtractionSettings(**data)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'settings'}: {err['msg']}"
                             for err in e.errors())
        raise InputError(f"invalid extraction settings in {source}: {problems}") from e
