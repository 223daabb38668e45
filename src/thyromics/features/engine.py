"""Radiomics features of one case: PyRadiomics (or the native engine), fixed columns on top.

:func:`extract_features` runs one PyRadiomics ``RadiomicsFeatureExtractor.execute`` call
for all image types and feature classes of the settings (or, with
``settings.engine == "native"``, :func:`thyromics.features.native.extract_native`, which
gives PyRadiomics' values from compiled kernels), adds the fractal and moment
features when asked, and returns the values in the fixed column order of
:func:`expected_columns`. Every case therefore has the same columns: an image type that
PyRadiomics skips on a case (e.g. a LoG sigma too wide for a thin lesion's image, which
PyRadiomics only logs) gives NaN columns with the reason in ``FeatureResult.missing``.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np

from thyromics.errors import CaseError
from thyromics.features._prepare import Prepared, prepare
from thyromics.features.fractal import box_counting_dimension
from thyromics.features.moments import MOMENT_FEATURES, moment_invariants
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image

__all__ = ["FeatureResult", "expected_columns", "extract_features", "image_type_names"]

FRACTAL_COLUMN = "original_fractal_BoxCountingDimension"
MOMENT_COLUMNS = tuple(f"original_moment_{n}" for n in MOMENT_FEATURES)
_KEEP_DIAGNOSTICS = re.compile(r"^diagnostics_(Versions|Image|Mask)")


@dataclass(frozen=True)
class FeatureResult:
    """Features of one case.

    Attributes
    ----------
    values : dict of str to float
        ``<filter>_<family>_<feature>`` -> value, in the order of :func:`expected_columns`
        (NaN where the value could not be computed; see ``missing``).
    diagnostics : dict
        PyRadiomics' ``diagnostics_*`` entries on versions, image and mask (hashes, voxel
        counts, spacing, bounding box), plus ``thyromics_*`` entries (label used, ndim).
    missing : dict of str to str
        Column, or image-type prefix such as ``log-sigma-5-0-mm-3D``, -> why it is NaN.
    """

    values: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------- column lists
def _effective_classes(settings: ExtractionSettings, ndim: int) -> list[str]:
    out: list[str] = []
    for c in settings.feature_classes:
        if c == "shape" and ndim == 2:
            c = "shape2D"
        if c == "shape2D" and ndim == 3 and settings.dimensionality != "2d":
            continue  # PyRadiomics computes shape2D on volumes only with force2D
        if c not in out:
            out.append(c)
    return out


@functools.cache
def _class_features(cls_name: str, subset: tuple[str, ...] | None) -> tuple[str, ...]:
    from radiomics import getFeatureClasses

    names = getFeatureClasses()[cls_name].getFeatureNames()  # name -> deprecated
    if subset:
        return tuple(subset)
    return tuple(n for n, deprecated in names.items() if not deprecated)


def image_type_names(settings: ExtractionSettings, ndim: int) -> list[str]:
    """Names PyRadiomics gives the images of the settings (``original``, ``wavelet-LLH``...).

    Parameters
    ----------
    settings : ExtractionSettings
    ndim : {2, 3}
        Dimensionality of the case's image (after dropping a single-slice z axis).
    """
    names: list[str] = []
    if settings.original:
        names.append("original")
    names += [f"log-sigma-{str(float(s)).replace('.', '-')}-mm-3D" for s in settings.log_sigmas]
    if settings.wavelet:
        n_axes = ndim - 1 if (ndim == 3 and settings.dimensionality == "2d") else ndim
        decs = ["".join(p) for p in product("LH", repeat=n_axes)][1:]
        for lvl in range(1, settings.wavelet_levels + 1):
            pre = "wavelet" if lvl == 1 else f"wavelet{lvl}"
            names += [f"{pre}-{d}" for d in decs]
        last = "wavelet" if settings.wavelet_levels == 1 else f"wavelet{settings.wavelet_levels}"
        names.append(f"{last}-{'L' * n_axes}")
    simple = {"Square": "square", "SquareRoot": "squareroot", "Logarithm": "logarithm",
              "Exponential": "exponential", "Gradient": "gradient", "LBP2D": "lbp-2D"}
    names += [simple[t] for t in settings.image_types]
    return names


def _ibsi_columns(settings: ExtractionSettings, cls: str) -> list[str]:
    """``<class>_<feature>`` of the IBSI features PyRadiomics lacks a class adds
    (``ibsi_features``)."""
    if not settings.ibsi_features:
        return []
    from thyromics.features.native._ibsi_features import ibsi_columns

    return ibsi_columns(cls, settings.texture_aggregations)


def _aggregation_suffixes(settings: ExtractionSettings) -> Any:
    """Column suffixes per class of the IBSI texture variants (``texture_aggregations``)."""
    if not settings.texture_aggregations:
        return lambda c: ()
    from thyromics.features.native._aggregate import aggregation_suffixes

    return lambda c: aggregation_suffixes(c, settings.texture_aggregations)


def expected_columns(settings: ExtractionSettings, ndim: int) -> list[str]:
    """The full, fixed list of feature columns for these settings and image dimensionality.

    Shape columns come first (``original_shape_*`` or ``original_shape2D_*``), then for
    each image type every enabled feature class, then the fractal and moment columns.
    """
    if ndim not in (2, 3):
        raise ValueError(f"ndim must be 2 or 3, got {ndim}")
    classes = _effective_classes(settings, ndim)
    subsets = settings.feature_subsets
    cols: list[str] = []
    for c in classes:
        if c.startswith("shape"):
            sub = subsets.get(c)
            cols += [f"original_{c}_{f}" for f in _class_features(c, sub and tuple(sub))]
            cols += [f"original_{n}" for n in _ibsi_columns(settings, c)]
    suffixes = _aggregation_suffixes(settings)
    for img in image_type_names(settings, ndim):
        for c in classes:
            if not c.startswith("shape"):
                sub = subsets.get(c)
                feats = _class_features(c, sub and tuple(sub))
                cols += [f"{img}_{c}_{f}" for f in feats]
                cols += [f"{img}_{c}_{f}_{x}" for x in suffixes(c) for f in feats]
                cols += [f"{img}_{n}" for n in _ibsi_columns(settings, c)]
    if settings.ibsi_filters:  # IBSI 2 filter responses (convention="ibsi")
        from thyromics.features.ibsi_filters import filter_columns

        cols += filter_columns(settings.ibsi_filters)
    if settings.fractal:
        cols.append(FRACTAL_COLUMN)
    if settings.moments:
        cols += list(MOMENT_COLUMNS)
    return cols


# ---------------------------------------------------------------------- PyRadiomics
class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # pragma: no cover - a malformed log call must not stop us
            self.messages.append(str(record.msg))


@contextmanager
def _captured_radiomics_log() -> Iterator[_Capture]:
    """Silence PyRadiomics below WARNING, keep its warnings/errors for ``missing``."""
    import radiomics

    logger = radiomics.logger
    capture = _Capture()
    old_level = logger.level
    old_handler_levels = [(h, h.level) for h in logger.handlers]
    if old_level != logging.WARNING:  # (setLevel clears every logger's cache: only if needed)
        logger.setLevel(logging.WARNING)
    for h, _ in old_handler_levels:
        h.setLevel(logging.CRITICAL + 1)
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        if logger.level != old_level:
            logger.setLevel(old_level)
        for h, lvl in old_handler_levels:
            h.setLevel(lvl)


@functools.lru_cache(maxsize=16)
def _extractor(params_json: str) -> Any:
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    with _captured_radiomics_log(), warnings.catch_warnings():
        # pykwalify (PyRadiomics' schema check) uses the deprecated importlib load_module()
        warnings.simplefilter("ignore", DeprecationWarning)
        return RadiomicsFeatureExtractor(json.loads(params_json))


def _params_for(settings: ExtractionSettings, ndim: int) -> dict[str, Any]:
    params = settings.to_pyradiomics_params()
    # "shape" of a 2D image becomes shape2D (its own feature names: no subset carried over)
    params["featureClass"] = {c: params["featureClass"].get(c)
                              for c in _effective_classes(settings, ndim)}
    s = params["setting"]
    s["label"] = 1  # the engine hands PyRadiomics a 0/1 mask of the chosen lesion
    # normalisation and resampling are done before PyRadiomics sees the image (_prepare)
    s["normalize"] = False
    s.pop("resampledPixelSpacing", None)
    s.pop("removeOutliers", None)
    if ndim == 2:
        s["force2D"] = False  # a 2D image is already 2D (force2D would drop a wavelet axis)
    return params


def _lesion(mask: Image, settings: ExtractionSettings, case_id: str | None) -> tuple[np.ndarray, int]:
    m = np.asarray(mask.array)
    label = settings.label
    if label is None:  # a binary mask (0/1, 0/255) is taken as it is; several labels: refuse
        found = np.unique(m[m != 0])
        if found.size > 1:
            shown = ", ".join(str(v) for v in found[:10].tolist())
            raise CaseError(f"the mask is not binary: found labels {shown} besides 0. Choose the "
                            "lesion's value with --label (setting label).", case_id=case_id,
                            file=mask.source or None, stage="extract")
        label = int(found[0]) if found.size else 1
    lesion = m == label
    used = label
    if not lesion.any():
        values = np.unique(m)
        if label != 1 and set(values.tolist()) <= {0, 1} and (m == 1).any():
            lesion, used = m == 1, 1  # a binary mask: the reader already chose the label
        else:
            shown = ", ".join(str(v) for v in values[:10])
            raise CaseError(f"the mask has no lesion voxel: expected voxels with label {label}, "
                            f"found only the values [{shown}]. Check the mask file or set the "
                            "label value of the lesion.", case_id=case_id,
                            file=mask.source or None, stage="extract")
    n = int(lesion.sum())
    if n < settings.min_roi_size:
        raise CaseError(f"the lesion has {n} voxel(s); the minimum is {settings.min_roi_size} "
                        "(setting min_roi_size).", case_id=case_id, file=mask.source or None,
                        stage="extract")
    idx = np.argwhere(lesion)
    extent = idx.max(axis=0) - idx.min(axis=0) + 1
    ndims = int((extent > 1).sum())
    if ndims < settings.min_roi_dimensions:
        shape = " x ".join(str(int(e)) for e in extent[::-1])
        raise CaseError(f"the lesion is too thin to measure: its bounding box is {shape} voxels "
                        f"({'x, y, z' if m.ndim == 3 else 'x, y'}) "
                        f"and {n} voxel(s), so it is wider than one voxel along only {ndims} of "
                        f"the image's {m.ndim} axes, and texture and shape need at least "
                        f"{settings.min_roi_dimensions} (setting min_roi_dimensions). Check that "
                        "the mask is the whole lesion (not a point or a line); a lesion drawn on "
                        "one slice of a volume can be extracted in 2D (dimensionality: 2d).",
                        case_id=case_id, file=mask.source or None, stage="extract")
    return lesion, used


def _squeeze(img: Image) -> Image:
    """Drop a single-slice z axis so that such images are handled as 2D."""
    if img.ndim == 3 and img.array.shape[0] == 1:
        d = np.asarray(img.direction).reshape(3, 3)[:2, :2].ravel()
        return Image(img.array[0], img.spacing[:2], img.origin[:2], tuple(d), img.source)
    return img


def extract_features(image: Image, mask: Image, settings: ExtractionSettings, *,
                     case_id: str | None = None, warn: bool = True) -> FeatureResult:
    """Radiomics features of one lesion.

    Parameters
    ----------
    image : Image
        The image (CT in HU, ultrasound grey levels ...), 2D or 3D.
    mask : Image
        The lesion mask on the same grid (0/1, or multi-label with ``settings.label``).
    settings : ExtractionSettings
        A preset (:func:`thyromics.features.presets.get_preset`) or settings read from a
        PyRadiomics parameter file.
    case_id : str, optional
        Named in errors.
    warn : bool
        Warn about axes padded for the interpolation kernel (the cohort runner warns
        once per case itself, in the parent process).

    Returns
    -------
    FeatureResult
        Values in the order of ``expected_columns(settings, ndim)``.

    Raises
    ------
    CaseError
        ``stage="extract"``: empty mask, lesion below the minimum size, non-finite
        voxels, or a PyRadiomics failure (message kept).

    Examples
    --------
    A 3 x 3 x 3 lesion of 1 mm voxels at 40 HU in a 10 HU background:

    >>> import numpy as np
    >>> from thyromics.features.settings import ExtractionSettings
    >>> image = np.full((7, 7, 7), 10.0)
    >>> image[2:5, 2:5, 2:5] = 40.0
    >>> mask = (image == 40.0).astype(np.uint8)
    >>> settings = ExtractionSettings(log_sigmas=(), wavelet=False, min_roi_dimensions=1)
    >>> result = extract_features(Image(image, (1.0, 1.0, 1.0)), Image(mask, (1.0, 1.0, 1.0)),
    ...                           settings)
    >>> result.values["original_shape_VoxelVolume"], result.values["original_firstorder_Mean"]
    (27.0, 40.0)
    """
    image, mask = _squeeze(image), _squeeze(mask)
    ndim = image.ndim
    if mask.ndim != ndim:
        raise CaseError(f"image is {ndim}D {image.array.shape} but mask is {mask.ndim}D "
                        f"{mask.array.shape}", case_id=case_id, file=mask.source or None,
                        stage="extract")
    if mask.array.shape != image.array.shape:
        raise CaseError(f"image {image.array.shape} and mask {mask.array.shape} differ in size; "
                        "resample the mask onto the image (thyromics.preprocess.resample_mask)",
                        case_id=case_id, file=mask.source or None, stage="extract")
    lesion, label_used = _lesion(mask, settings, case_id)
    arr = np.asarray(image.array)
    if arr.dtype.kind not in "iuf":
        raise CaseError(f"image voxels must be numbers, found dtype {arr.dtype}",
                        case_id=case_id, file=image.source or None, stage="extract")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        inside = int((~np.isfinite(arr[lesion])).sum()) if arr.shape == lesion.shape else bad
        raise CaseError(f"the image has {bad} NaN/infinite voxel(s) ({inside} inside the lesion);"
                        " filters and features need finite values. Fill them (e.g. with the "
                        "background value) or crop them away.", case_id=case_id,
                        file=image.source or None, stage="extract")

    columns = expected_columns(settings, ndim)
    params = _params_for(settings, ndim)
    # the mask was checked to lie on the image grid (within the geometry tolerance): from
    # here on it carries the image's geometry exactly, so PyRadiomics' own check agrees
    prep = prepare(image, image.with_array(lesion.astype(np.uint8)), settings, case_id=case_id,
                   warn=warn)
    values: dict[str, float] = {}
    diagnostics: dict[str, Any] = {}
    missing: dict[str, str] = {}
    if settings.engine == "native":
        # the definitions to compute (ExtractionSettings.convention) travel beside PyRadiomics' dict
        native = {**params, "convention": settings.convention,
                  "resegmentOutlierSD": settings.resegment_outlier_sd,
                  "textureAggregations": list(settings.texture_aggregations),
                  "ibsiFeatures": settings.ibsi_features,
                  "ivhBinWidth": settings.ivh_bin_width, "ivhBinCount": settings.ivh_bin_count}
        if settings.ibsi_filters:
            native["ibsiFilters"] = list(settings.ibsi_filters)
        messages = _native(prep, native, case_id, image, values, diagnostics, missing)
    else:
        extractor = _extractor(json.dumps(params, sort_keys=True))
        sitk_image, sitk_mask = prep.image.to_sitk(), prep.mask.to_sitk()
        with _captured_radiomics_log() as log:
            try:
                raw = extractor.execute(sitk_image, sitk_mask, label=1)
            except (ValueError, RuntimeError, IndexError, TypeError) as e:
                raise CaseError(f"PyRadiomics failed: {e}", case_id=case_id,
                                file=image.source or None, stage="extract") from e
        messages = log.messages
        for k, v in raw.items():
            if k.startswith("diagnostics_"):
                if _KEEP_DIAGNOSTICS.match(k):
                    diagnostics[k] = _plain(v)
            else:
                values[k] = float(v)
    diagnostics.update(thyromics_label_used=label_used, thyromics_ndim=ndim,
                       thyromics_lesion_voxels=int(lesion.sum()),
                       thyromics_engine=settings.engine)
    if prep.grid is not None:
        diagnostics.update(thyromics_resampling_grid=prep.grid,
                           thyromics_resampled_size=list(prep.image.size),
                           thyromics_resampling_notes=list(prep.notes),
                           thyromics_resampling_clipped_voxels=prep.n_clipped)
    if settings.fractal or settings.moments:
        _extras(prep, settings, values, missing)
    who = "the native engine (PyRadiomics' formula)" if settings.engine == "native" else "PyRadiomics"
    return _assemble(columns, values, diagnostics, missing, messages, who)


def _native(prep: Prepared, params: dict[str, Any], case_id: str | None, image: Image,
            values: dict[str, float], diagnostics: dict[str, Any],
            missing: dict[str, str]) -> list[str]:
    """The native engine's values on the prepared case; PyRadiomics' warnings returned."""
    from thyromics.features.native import extract_native

    with _captured_radiomics_log() as log:  # the filters are PyRadiomics' own: so are warnings
        try:
            res = extract_native(prep.image, np.asarray(prep.mask.array) == 1, params, prep.mask)
        except ValueError as e:
            raise CaseError(f"feature extraction failed (native engine): {e}", case_id=case_id,
                            file=image.source or None, stage="extract") from e
    values.update(res.values)
    missing.update(res.missing)
    diagnostics.update({k: _plain(v) for k, v in res.diagnostics.items()
                        if _KEEP_DIAGNOSTICS.match(k)})
    diagnostics.update(thyromics_bounding_box=list(res.bounding_box),
                       thyromics_roi_voxels=res.n_voxels)
    return log.messages


def _plain(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    return v


def _extras(prep: Prepared, settings: ExtractionSettings, values: dict[str, float],
            missing: dict[str, str]) -> None:
    """Fractal and moment features on the same prepared grid PyRadiomics used."""
    from radiomics import imageoperations as ops

    kwargs = _params_for(settings, prep.image.ndim)["setting"]
    arr, roi = prep.image.array.astype(float), prep.mask.array == 1
    spacing = tuple(reversed(prep.image.spacing))
    if settings.fractal:
        try:
            values[FRACTAL_COLUMN] = box_counting_dimension(roi)
        except ValueError as e:
            missing[FRACTAL_COLUMN] = str(e)
    if settings.moments:
        binned, _ = ops.binImage(arr, roi, **kwargs)
        try:
            inv = moment_invariants(binned, roi, spacing)
            for col, name in zip(MOMENT_COLUMNS, MOMENT_FEATURES):
                values[col] = inv[name]
        except ValueError as e:
            for col in MOMENT_COLUMNS:
                missing[col] = str(e)


def _assemble(columns: list[str], values: dict[str, float], diagnostics: dict[str, Any],
              missing: dict[str, str], messages: list[str],
              who: str = "PyRadiomics") -> FeatureResult:
    out: dict[str, float] = {}
    absent: list[str] = []
    for c in columns:
        v = values.get(c)
        if v is None:
            absent.append(c)
            out[c] = float("nan")
        else:
            out[c] = v
            if v != v and c not in missing:  # NaN (the fast test: 1,316 columns a case)
                missing[c] = f"{who} returned NaN" + _related(messages, c.split("_")[1])
    for c, v in values.items():  # anything PyRadiomics gave beyond the expected list
        if c not in out:
            out[c] = v
    by_prefix: dict[str, list[str]] = {}
    for c in absent:
        if c not in missing:
            by_prefix.setdefault(c.split("_", 1)[0], []).append(c)
    if not by_prefix:
        return FeatureResult(values=out, diagnostics=diagnostics, missing=missing)
    total: dict[str, int] = {}
    for c in columns:
        prefix = c.split("_", 1)[0]
        total[prefix] = total.get(prefix, 0) + 1
    for prefix, cols in by_prefix.items():
        reason = _reason(prefix, messages)
        if len(cols) == total[prefix]:
            missing[prefix] = reason
        else:
            for c in cols:
                missing[c] = reason
    return FeatureResult(values=out, diagnostics=diagnostics, missing=missing)


def _related(messages: list[str], key: str) -> str:
    hits = [m for m in messages if key.lower() in m.lower()]
    return f": {hits[0]}" if hits else ""


def _reason(prefix: str, messages: list[str]) -> str:
    if prefix.startswith("log-sigma"):
        hits = [m for m in messages if "LoG" in m or "applyLoG" in m]
        sigma = prefix[len("log-sigma-"):-len("-mm-3D")].replace("-", ".")
        own = [m for m in hits if f"sigma({float(sigma):g})" in m or "too small" in m]
        if own:
            return f"PyRadiomics skipped this LoG image: {own[0]}"
    shown = f" (PyRadiomics warnings: {'; '.join(messages[:3])})" if messages else ""
    return "PyRadiomics produced no value for this image type/feature" + shown
