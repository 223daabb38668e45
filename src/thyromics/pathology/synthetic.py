"""Synthetic H&E images with known nuclei, made by Beer-Lambert from published stain vectors.

For tests, demos and checks of the pipeline on inputs whose truth is known: elliptical
nuclei (haematoxylin, a little eosin) at known places on eosin-stained stroma, optionally
with glass around the tissue. Pixel values are ``Io exp(-(c_H h + c_E e)) - 1`` plus
Gaussian noise, with ``h`` and ``e`` Macenko's H&E vectors as published with staintools
(0.5626, 0.7201, 0.4062) and (0.2159, 0.8012, 0.5581) -- not the references of
:mod:`thyromics.pathology.stain_check`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["H_STAIN", "E_STAIN", "synthetic_he"]

H_STAIN = np.array([0.5626, 0.7201, 0.4062]) / np.linalg.norm([0.5626, 0.7201, 0.4062])
E_STAIN = np.array([0.2159, 0.8012, 0.5581]) / np.linalg.norm([0.2159, 0.8012, 0.5581])


def synthetic_he(height: int, width: int, *, mpp: float = 0.5, n_nuclei: int = 30,
                 radius_um: tuple[float, float] = (3.0, 5.0), margin: int = 0, seed: int = 0,
                 io: float = 240.0, noise: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """An RGB ``uint8`` H&E image and its nucleus label map (0 background, 1..N).

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    mpp : float
        Micrometres per pixel, which turns ``radius_um`` into pixels.
    n_nuclei : int
        Nuclei to place (fewer if they do not fit without touching: at least 2 pixels apart).
    radius_um : (float, float)
        Range of the semi-axes of the elliptical nuclei, in micrometres.
    margin : int
        Width of glass (no stain) around the tissue, in pixels.
    seed : int
        Seed of every random draw.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    tissue = np.zeros((height, width), bool)
    tissue[margin:height - margin, margin:width - margin] = True
    # stroma: eosin 0.25-0.6, smoothly varying
    fy, fx = rng.uniform(0.01, 0.04, 2)
    c_e = np.where(tissue, 0.42 + 0.15 * np.sin(fy * yy + rng.uniform(0, 6)) * np.cos(fx * xx), 0.0)
    c_h = np.where(tissue, 0.05, 0.0)
    labels = np.zeros((height, width), np.int32)
    lo, hi = (r / mpp for r in radius_um)
    n = 0
    for _ in range(n_nuclei * 50):
        if n == n_nuclei:
            break
        a, b = rng.uniform(lo, hi), rng.uniform(lo, hi)
        cy = rng.uniform(margin + hi + 2, height - margin - hi - 2)
        cx = rng.uniform(margin + hi + 2, width - margin - hi - 2)
        t = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dx * np.cos(t) + dy * np.sin(t), -dx * np.sin(t) + dy * np.cos(t)
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1
        grown = (u / (a + 2)) ** 2 + (v / (b + 2)) ** 2 <= 1
        if not inside.any() or (labels[grown] > 0).any():
            continue
        n += 1
        labels[inside] = n
        c_h[inside] = rng.uniform(0.9, 1.4)
        c_e[inside] = 0.15
    od = c_h[..., None] * H_STAIN + c_e[..., None] * E_STAIN
    rgb = io * np.exp(-od) - 1.0 + rng.normal(0, noise, od.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8), labels
