"""Preprocessing: resampling, intensity normalisation, cropping, lesions and rings.

Pure functions from :class:`~thyromics.io.Image` to :class:`~thyromics.io.Image`.
"""

from thyromics.preprocess.crop import array_box, crop_to_mask, mask_bounding_box
from thyromics.preprocess.intensity import normalize_intensity
from thyromics.preprocess.lesions import CONNECTIVITY, peritumoral_ring, split_lesions
from thyromics.preprocess.resample import INTERPOLATORS, resample, resample_mask, resampled_grid

__all__ = [
    "resample",
    "resample_mask",
    "resampled_grid",
    "INTERPOLATORS",
    "crop_to_mask",
    "array_box",
    "mask_bounding_box",
    "split_lesions",
    "CONNECTIVITY",
    "peritumoral_ring",
    "normalize_intensity",
]
