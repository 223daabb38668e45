"""Named extraction presets.

========== ======================================================================= ========
preset     what it is                                                              columns
========== ======================================================================= ========
ct         3D CT: bin width 25 HU, original + LoG sigma 1-5 mm + wavelet (coif1,   1,316
           8 decompositions), all 7 PyRadiomics classes; no resampling
ct_iso1mm  ``ct`` after resampling to 1x1x1 mm (B-spline image, NN mask)           1,316
us         2D ultrasound: z-score normalisation x100, 32 bins, original + LoG      939
           sigma 1-5 (mm = pixels when spacing is unknown) + wavelet (4 in 2D)
seed003_ct the CRIT/iTED study (CT heterogeneity, DTC distant metastasis) as coded 107
           in THCA-ITH: 32 bins, normalise x100, no resampling, original only,
           correctMask, geometryTolerance 1e-5, tumour = label 11
seed000_ct Moon et al., Sci Rep 2023 (CT, ATC/PDTC vs DTC): original image, 25     113
           HU, 7 PyRadiomics classes incl. 3 deprecated shape features, + fractal
           + 2 moments
seed002_us Ni et al., Gland Surg 2024 (ultrasound, lymph-node metastasis of PTC):  1,311
           2D, normalise x100, 32 bins, original + LoG 1-5 + wavelet +
           square/sqrt/log/exp images
========== ======================================================================= ========

Column counts are for a 3D image (``ct``, ``seed*_ct``) or a 2D image (``us``,
``seed002_us``); see :func:`thyromics.features.engine.expected_columns`.

What 2D gives (``us``, ``seed002_us`` on a 2D image): shape2D (9 features) instead of
3D shape (14); texture matrices on in-plane neighbours (4 GLCM/GLRLM directions, 8-
connected zones, 3x3 neighbourhoods); LoG filtering in 2D (PyRadiomics keeps the
``-3D`` suffix in the name); wavelet with 4 decompositions (LH, HL, HH, LL) instead of 8.
So a 2D image gives 9 + 93 x (number of images) columns.

Moon et al., Sci Rep 2023 (CT, 131 features in 12 families, computed by the A-VIEW viewer;
the viewer's own definitions are not published) -> ``seed000_ct`` (113 columns). Mapping
by family (the study's count -> ours): shape 26 -> 17 (PyRadiomics' 14 + Compactness1,
Compactness2, SphericalDisproportion); first-order 14 + histogram/percentile/gradient 17 =
31 -> firstorder 18 (no gradient histogram: PyRadiomics cannot restrict the Gradient image
to first-order features); GLCM 22 -> 24; GLDM 14 -> 14; GLRLM 14 -> 16; GLSZM 16 -> 16;
NGTDM 5 -> 5; fractal 1 -> 1 (box-counting dimension of the mask,
:mod:`thyromics.features.fractal`); moments 2 -> 2 (second-order moment invariants,
:mod:`thyromics.features.moments`). Counts therefore differ (113 vs 131): the families
match, not every feature. Bin width 25 HU is PyRadiomics' default (the study gives none).

Ni et al., Gland Surg 2024 (ultrasound, 1,357 features = 14 shape + 374 first-order + 969
texture, "incl. filtered images"; the exact filters are not published) -> ``seed002_us``
(1,311 columns on a 2D image: 9 shape2D + 14 images x 93). Chosen: the images PyRadiomics
offers in 2D without extra parameters (original, LoG sigma 1-5, the 4 wavelet
decompositions, square, square root, logarithm, exponential), z-score normalisation x100
(ultrasound gain differs between machines) and a fixed bin count of 32 (intensities have no
physical unit). The study's 14 shape features suggest 3D shape on single-slice volumes,
which is degenerate (zero thickness); shape2D is used instead.
"""

from __future__ import annotations

from types import MappingProxyType

from thyromics.errors import InputError, did_you_mean
from thyromics.features.settings import ExtractionSettings

__all__ = ["PRESETS", "get_preset", "preset_names"]

_SIGMAS = (1.0, 2.0, 3.0, 4.0, 5.0)

_CT = ExtractionSettings(preset="ct", dimensionality="3d", bin_width=25.0, original=True,
                         log_sigmas=_SIGMAS, wavelet=True, interpolator="sitkBSpline")
_US = ExtractionSettings(preset="us", dimensionality="2d", normalize=True, normalize_scale=100.0,
                         bin_width=None, bin_count=32, original=True, log_sigmas=_SIGMAS,
                         wavelet=True)

PRESETS: MappingProxyType[str, ExtractionSettings] = MappingProxyType({
    "ct": _CT,
    "ct_iso1mm": _CT.replace(preset="ct_iso1mm", resampled_pixel_spacing=(1.0, 1.0, 1.0)),
    "us": _US,
    "seed003_ct": ExtractionSettings(
        preset="seed003_ct", dimensionality="3d", bin_width=None, bin_count=32, normalize=True,
        normalize_scale=100.0, resampled_pixel_spacing=None, interpolator="sitkBSpline",
        original=True, correct_mask=True, geometry_tolerance=1e-5, label=11),
    "seed000_ct": ExtractionSettings(
        preset="seed000_ct", dimensionality="3d", bin_width=25.0, original=True,
        feature_subsets={"shape": ("MeshVolume", "VoxelVolume", "SurfaceArea",
                                   "SurfaceVolumeRatio", "Sphericity", "Compactness1",
                                   "Compactness2", "SphericalDisproportion",
                                   "Maximum3DDiameter", "Maximum2DDiameterSlice",
                                   "Maximum2DDiameterColumn", "Maximum2DDiameterRow",
                                   "MajorAxisLength", "MinorAxisLength", "LeastAxisLength",
                                   "Elongation", "Flatness")},
        fractal=True, moments=True),
    "seed002_us": _US.replace(preset="seed002_us",
                              image_types=("Square", "SquareRoot", "Logarithm", "Exponential")),
})


def preset_names() -> list[str]:
    """Names of the registered presets."""
    return list(PRESETS)


def get_preset(name: str) -> ExtractionSettings:
    """The settings of a named preset.

    Raises
    ------
    InputError
        For an unknown name, with the closest valid names.
    """
    try:
        return PRESETS[name]
    except KeyError:
        hint = did_you_mean(name, list(PRESETS), n=3, cutoff=0.4)
        raise InputError(f"unknown preset {name!r}.{hint} Valid presets: "
                         f"{', '.join(PRESETS)}; or give a PyRadiomics parameter file "
                         "(--params FILE).") from None
