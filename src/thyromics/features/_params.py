"""Translate a standard PyRadiomics parameter dictionary into ExtractionSettings fields.

Every key PyRadiomics documents for segment-based extraction is understood; anything
else is refused with the key, where it was found and the closest valid names, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from thyromics.errors import InputError, did_you_mean

__all__ = ["params_to_fields"]

_TOP = ("imageType", "featureClass", "setting", "voxelSetting")
# PyRadiomics setting key -> ExtractionSettings field (None: accepted and ignored)
_SETTING = {
    "minimumROIDimensions": "min_roi_dimensions", "minimumROISize": "min_roi_size",
    "geometryTolerance": "geometry_tolerance", "correctMask": "correct_mask",
    "additionalInfo": None, "label": "label", "binWidth": "bin_width", "binCount": "bin_count",
    "normalize": "normalize", "normalizeScale": "normalize_scale",
    "removeOutliers": "remove_outliers", "resampledPixelSpacing": "resampled_pixel_spacing",
    "interpolator": "interpolator", "padDistance": "pad_distance", "distances": "distances",
    "force2D": "dimensionality", "force2Ddimension": "force2d_dimension",
    "resegmentRange": "resegment_range", "resegmentMode": "resegment_mode",
    "resegmentShape": "resegment_shape", "preCrop": "pre_crop", "sigma": "log_sigmas",
    "start_level": "wavelet_start_level", "level": "wavelet_levels", "wavelet": "wavelet_name",
    "gradientUseSpacing": "gradient_use_spacing", "lbp2DRadius": "lbp2d_radius",
    "lbp2DSamples": "lbp2d_samples", "lbp2DMethod": "lbp2d_method",
    "voxelArrayShift": "voxel_array_shift", "symmetricalGLCM": "symmetrical_glcm",
    "weightingNorm": "weighting_norm", "gldm_a": "gldm_a",
}
_IMAGE_TYPE_ARGS = {"LoG": ("sigma",), "Wavelet": ("start_level", "level", "wavelet"),
                    "LBP2D": ("lbp2DRadius", "lbp2DSamples", "lbp2DMethod"),
                    "Gradient": ("gradientUseSpacing",)}
# SimpleITK interpolator enum values, as PyRadiomics accepts them in parameter files
_INTERP_CODES = {1: "sitkNearestNeighbor", 2: "sitkLinear", 3: "sitkBSpline",
                 4: "sitkGaussian", 5: "sitkLabelGaussian", 6: "sitkHammingWindowedSinc",
                 7: "sitkCosineWindowedSinc", 8: "sitkWelchWindowedSinc",
                 9: "sitkLanczosWindowedSinc", 10: "sitkBlackmanWindowedSinc"}


def _unknown(kind: str, key: str, valid: Any, source: str) -> InputError:
    hint = did_you_mean(str(key), [str(v) for v in valid], n=3, cutoff=0.5)
    return InputError(f"{source}: unknown {kind} {key!r}.{hint} Valid: {', '.join(map(str, valid))}")


def _setting_fields(setting: Mapping[str, Any], where: str, source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in setting.items():
        if key not in _SETTING:
            raise _unknown(f"key in {where}", key, list(_SETTING), source)
        field = _SETTING[key]
        if field is None or value is None:
            continue
        if key == "force2D":
            value = "2d" if value else "3d"
        elif key == "minimumROISize":
            value = int(value) + 1  # PyRadiomics: the ROI must have MORE voxels than this
        elif key == "interpolator" and isinstance(value, int):
            if value not in _INTERP_CODES:
                raise _unknown("interpolator code", value, list(_INTERP_CODES), source)
            value = _INTERP_CODES[value]
        elif key in ("resampledPixelSpacing", "resegmentRange", "distances", "sigma"):
            value = tuple(value)
        out[field] = value
    return out


def params_to_fields(params: Mapping[str, Any], source: str) -> dict[str, Any]:
    """ExtractionSettings fields equivalent to a PyRadiomics parameter dictionary.

    Parameters
    ----------
    params : mapping
        ``{"imageType": ..., "featureClass": ..., "setting": ...}``; a missing section
        takes PyRadiomics' defaults (Original image, all feature classes).
    source : str
        Name of the file (or object) for error messages.

    Raises
    ------
    InputError
        On unknown keys, image types, feature classes or per-image-type settings.
    """
    from radiomics import getFeatureClasses

    for key in params:
        if key not in _TOP:
            raise _unknown("top-level key", key, _TOP, source)
    fields: dict[str, Any] = _setting_fields(params.get("setting") or {}, "setting", source)
    if "bin_count" in fields:
        fields.setdefault("bin_width", None)  # PyRadiomics: binCount overrides binWidth
        if (params.get("setting") or {}).get("binWidth") is not None:
            fields["bin_width"] = None

    image_type = params.get("imageType")
    if image_type is None:
        image_type = {"Original": {}}
    fields.update(original=False, log_sigmas=(), wavelet=False, image_types=())
    extra: list[str] = []
    for name, custom in image_type.items():
        custom = custom or {}
        allowed = _IMAGE_TYPE_ARGS.get(name, ())
        if name not in ("Original", "LoG", "Wavelet", "Square", "SquareRoot", "Logarithm",
                        "Exponential", "Gradient", "LBP2D"):
            raise _unknown("image type", name, ["Original", "LoG", "Wavelet", "Square",
                                                "SquareRoot", "Logarithm", "Exponential",
                                                "Gradient", "LBP2D"], source)
        for k in custom:
            if k not in allowed:
                raise InputError(f"{source}: imageType {name} has the setting {k!r}; only "
                                 f"{list(allowed) or 'no settings'} are supported there. Put "
                                 "general settings (binWidth, ...) under 'setting:'")
        fields.update(_setting_fields(custom, f"imageType {name}", source))
        if name == "Original":
            fields["original"] = True
        elif name == "LoG":
            if not fields.get("log_sigmas"):
                raise InputError(f"{source}: imageType LoG needs 'sigma: [...]' (in mm)")
        elif name == "Wavelet":
            fields["wavelet"] = True
        else:
            extra.append(name)
    if "LoG" not in image_type:
        fields["log_sigmas"] = ()
    fields["image_types"] = tuple(extra)

    feature_class = params.get("featureClass")
    classes = getFeatureClasses()
    if feature_class is None:
        feature_class = {c: None for c in ("shape", "firstorder", "glcm", "glrlm", "glszm",
                                           "gldm", "ngtdm")}
    subsets: dict[str, tuple[str, ...]] = {}
    for name, features in feature_class.items():
        if name not in classes:
            raise _unknown("feature class", name, list(classes), source)
        if features:
            subsets[name] = tuple(features)
    fields["feature_classes"] = tuple(feature_class)
    fields["feature_subsets"] = subsets
    return fields
