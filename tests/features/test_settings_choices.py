"""ExtractionSettings refuses unknown names with the closest and all valid ones."""

from __future__ import annotations

import pytest

from thyromics.features.settings import ExtractionSettings


@pytest.mark.parametrize("changes, message", [
    ({"interpolator": "sitkLinar"},
     "unknown interpolator 'sitkLinar'. Did you mean 'sitkLinear', 'sitkBSpline'? Valid: "
     "sitkNearestNeighbor, sitkLinear, sitkBSpline, sitkGaussian, sitkLabelGaussian, "
     "sitkHammingWindowedSinc, sitkCosineWindowedSinc, sitkWelchWindowedSinc, "
     "sitkLanczosWindowedSinc, sitkBlackmanWindowedSinc"),
    ({"image_types": ("Original", "Wavelet")},
     "unknown image type 'Original'. Valid: Square, SquareRoot, Logarithm, Exponential, "
     "Gradient, LBP2D (LoG and Wavelet have their own fields: log_sigmas, wavelet)"),
    ({"feature_classes": ("glcm", "glrm")},
     "unknown feature class 'glrm'. Did you mean 'glrlm', 'gldm', 'glcm'? Valid: shape, "
     "shape2D, firstorder, glcm, glrlm, glszm, gldm, ngtdm"),
    ({"ibsi_filters": ("mean-3",), "convention": "ibsi"},
     "unknown IBSI 2 filter configuration 'mean-3'. Did you mean 'mean-5'? Valid: none, mean-5, "
     "log-1.5mm, laws-l5e5e5-7, gabor-5mm-2mm, db3-llh-1, db3-hhh-2, simoncelli-1, "
     "simoncelli-2"),
])
def test_unknown_names_are_refused_with_the_closest_and_all_valid_ones(changes, message):
    with pytest.raises(ValueError) as e:
        ExtractionSettings(**changes)
    assert message in str(e.value)
