"""The native engine runs SimpleITK on one thread: same filtered images, setting restored."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from thyromics.features.engine import extract_features
from thyromics.features.settings import ExtractionSettings
from thyromics.io.image import Image


def _volume(seed: int = 0) -> tuple[sitk.Image, sitk.Image]:
    rng = np.random.default_rng(seed)
    arr = rng.normal(40, 30, (24, 40, 40))
    z, y, x = np.indices(arr.shape)
    roi = ((z - 12) / 8) ** 2 + ((y - 20) / 12) ** 2 + ((x - 20) / 11) ** 2 <= 1
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.7, 0.7, 1.5))
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def test_filters_do_not_depend_on_the_thread_count():
    from radiomics import imageoperations as ops

    image, mask = _volume()
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    out = {}
    try:
        for threads in (1, 4):
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
            log = [sitk.GetArrayFromImage(im) for im, _, _ in
                   ops.getLoGImage(image, mask, sigma=[1.0, 3.0])]
            wav = [sitk.GetArrayFromImage(im) for im, _, _ in ops.getWaveletImage(image, mask)]
            out[threads] = [a.tobytes() for a in log + wav]
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
    assert out[1] == out[4]


def test_the_thread_setting_is_restored():
    image, mask = _volume(1)
    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(3)
        extract_features(Image.from_sitk(image), Image.from_sitk(mask),
                         ExtractionSettings(engine="native", log_sigmas=(1.0,), wavelet=False))
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 3
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)
