"""Intensity normalisation and seeded MONAI augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np

from thyromics.deep.settings import AugmentSettings

__all__ = ["normalize", "build_augmentation"]


def normalize(array: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Map intensities to [0, 1].

    With a window ``(lo, hi)``: ``clip((v - lo) / (hi - lo), 0, 1)``. Without one:
    min-max of the array, ``(v - min) / (max - min)`` (all zeros for a constant array).
    Computed in float32 by :func:`thyromics.preprocess.intensity.unit_scale`.

    Returns
    -------
    numpy.ndarray
        float32 array of the same shape.
    """
    from thyromics.preprocess.intensity import unit_scale

    return unit_scale(array, window, dtype=np.float32)


def build_augmentation(settings: AugmentSettings, spatial_shape: tuple[int, ...], seed: int) -> Any:
    """A seeded MONAI ``Compose`` for channel-first samples ``(C, *spatial)`` in [0, 1].

    Transforms, each applied with probability ``settings.prob``: ``RandRotate``
    (in-plane for 3D), ``RandAffine`` (zoom +- ``scale``, shift +- ``translate`` x size),
    ``RandAdjustContrast`` (gamma range), ``RandGaussianNoise`` and ``RandFlip`` on every
    axis, then a clip back to [0, 1]. Returns ``None`` when augmentation is disabled.
    The random state is set with :meth:`Compose.set_random_state` (``seed``), so the
    same seed gives the same draws.
    """
    if not settings.enabled:
        return None
    from monai.transforms import (Compose, RandAdjustContrast, RandAffine, RandFlip,
                                  RandGaussianNoise, RandRotate, ScaleIntensityRange)

    spatial_dims = len(spatial_shape)
    p = settings.prob
    shift = tuple(settings.translate * n for n in spatial_shape)
    rad = float(np.deg2rad(settings.rotate_deg))
    rot = {"range_x": rad} if spatial_dims == 2 else {"range_x": rad, "range_y": 0.0, "range_z": 0.0}
    steps: list[Any] = [
        RandRotate(prob=p, keep_size=True, padding_mode="border", **rot),
        RandAffine(prob=p, scale_range=(settings.scale,) * spatial_dims,
                   translate_range=shift, padding_mode="border"),
        RandAdjustContrast(prob=p, gamma=settings.contrast_gamma),
        RandGaussianNoise(prob=p, std=settings.noise_std),
    ]
    if settings.flip:
        steps += [RandFlip(prob=p, spatial_axis=ax) for ax in range(spatial_dims)]
    steps.append(ScaleIntensityRange(0.0, 1.0, 0.0, 1.0, clip=True))
    comp = Compose(steps)
    comp.set_random_state(seed=seed)
    return comp
