"""IBSI 2 convolutional filters: mean, Laplacian of Gaussian, Laws kernels, Gabor.

Pure numpy / scipy functions on arrays in numpy order ``(z, y, x)``; each takes a
boundary condition among :data:`BOUNDARIES` and ``slice_axis`` (``None``: 3D; an axis:
2D filtering of each slice perpendicular to it). Definitions: IBSI 2 reference manual
(arXiv:2006.05470), see :mod:`thyromics.features.ibsi_filters`.
"""

from __future__ import annotations

import itertools
from typing import Literal

import numpy as np
from scipy import ndimage

__all__ = ["BOUNDARIES", "LAWS_KERNELS", "gabor_filter", "laws_filter", "log_filter",
           "log_kernel", "mean_filter"]

Boundary = Literal["mirror", "nearest", "periodic", "zero"]
#: IBSI boundary conditions -> scipy.ndimage / numpy.pad modes. IBSI "mirror" is the
#: symmetric extension ``d c b a | a b c d`` (scipy ``reflect``).
BOUNDARIES: dict[str, tuple[str, str]] = {"mirror": ("reflect", "symmetric"),
                                          "nearest": ("nearest", "edge"),
                                          "periodic": ("wrap", "wrap"),
                                          "zero": ("constant", "constant")}

#: Laws' 1D kernels, normalised to unit L2 norm (IBSI 2 reference manual, Laws kernels).
LAWS_KERNELS: dict[str, np.ndarray] = {
    "L3": np.array([1.0, 2.0, 1.0]) / np.sqrt(6), "E3": np.array([-1.0, 0.0, 1.0]) / np.sqrt(2),
    "S3": np.array([-1.0, 2.0, -1.0]) / np.sqrt(6),
    "L5": np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / np.sqrt(70),
    "E5": np.array([-1.0, -2.0, 0.0, 2.0, 1.0]) / np.sqrt(10),
    "S5": np.array([-1.0, 0.0, 2.0, 0.0, -1.0]) / np.sqrt(6),
    "W5": np.array([-1.0, 2.0, 0.0, -2.0, 1.0]) / np.sqrt(10),
    "R5": np.array([1.0, -4.0, 6.0, -4.0, 1.0]) / np.sqrt(70)}


def _mode(boundary: str) -> str:
    try:
        return BOUNDARIES[boundary][0]
    except KeyError:
        raise ValueError(f"unknown boundary condition {boundary!r}; valid: "
                         f"{', '.join(BOUNDARIES)}") from None


def _axes(ndim: int, slice_axis: int | None) -> tuple[int, ...]:
    """The axes a filter runs along: all, or all but ``slice_axis`` (2D, slice by slice)."""
    return tuple(a for a in range(ndim) if a != slice_axis)


def mean_filter(image: np.ndarray, support: int = 5, *, boundary: Boundary = "mirror",
                slice_axis: int | None = None) -> np.ndarray:
    """Mean over ``support`` voxels per axis (IBSI 2 "mean filter", support ``M``).

    Parameters
    ----------
    image : ndarray
        The image (any dimensionality).
    support : int
        Odd number of voxels per axis (IBSI 2 phase 2: 5).
    boundary : {"mirror", "nearest", "periodic", "zero"}
    slice_axis : int or None
        ``None``: filter along every axis (3D); an axis: 2D filtering of each slice
        perpendicular to it.
    """
    if support < 1 or support % 2 == 0:
        raise ValueError(f"the mean filter's support must be an odd number of voxels, got "
                         f"{support}")
    size = [1 if a == slice_axis else support for a in range(image.ndim)]
    return ndimage.uniform_filter(np.asarray(image, dtype=np.float64), size=size,
                                  mode=_mode(boundary))


def _log_1d(sigma: float, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Sampled 1D Gaussian and its second derivative, ``sigma`` in voxels."""
    radius = int(np.floor(cutoff * sigma + 0.5))
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-k ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    return g, g * (k ** 2 - sigma ** 2) / sigma ** 4


def log_kernel(sigma: float, ndim: int = 3, cutoff: float = 4.0) -> np.ndarray:
    """The dense sampled LoG kernel of :func:`log_filter` for isotropic voxels
    (``sigma`` in voxels; ``ndim`` filtered axes)."""
    r = int(np.floor(cutoff * sigma + 0.5))
    grids = np.meshgrid(*[np.arange(-r, r + 1, dtype=np.float64)] * ndim, indexing="ij")
    r2 = sum(g ** 2 for g in grids)
    return (-1 / sigma ** 2 * (1 / (np.sqrt(2 * np.pi) * sigma)) ** ndim
            * (ndim - r2 / sigma ** 2) * np.exp(-r2 / (2 * sigma ** 2)))


def log_filter(image: np.ndarray, sigma: float, spacing: tuple[float, ...], *,
               cutoff: float = 4.0, boundary: Boundary = "mirror",
               slice_axis: int | None = None) -> np.ndarray:
    """Laplacian of Gaussian of width ``sigma`` mm (IBSI 2 "Laplacian of Gaussian").

    The analytic kernel (module docstring) sampled on the voxel grid, in voxel units:
    width ``sigma / spacing`` voxels per axis, support ``1 + 2 floor(cutoff sigma /
    spacing + 0.5)`` voxels (``cutoff``: IBSI's ``d``, 4), not renormalised; applied
    separably, ``sum_i g''(k_i) prod_{j != i} g(k_j)`` (:func:`log_kernel` is its dense
    form). Voxel units are what the IBSI 2 phase 2 references use: on the CT phantom's
    0.977 mm pixels, a kernel in mm gives a response larger by ``0.977^-4`` (1.10).
    Parameters otherwise as :func:`mean_filter`.
    """
    if sigma <= 0:
        raise ValueError(f"the LoG's sigma must be > 0 mm, got {sigma}")
    x = np.asarray(image, dtype=np.float64)
    mode = _mode(boundary)
    axes = _axes(x.ndim, slice_axis)
    kernels = {a: _log_1d(sigma / float(spacing[a]), cutoff) for a in axes}
    out = np.zeros_like(x)
    for i in axes:
        term = x
        for a in axes:
            g, g2 = kernels[a]
            term = ndimage.correlate1d(term, g2 if a == i else g, axis=a, mode=mode)
        out += term
    return out


def _rotations(ndim: int) -> list[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """Proper right-angle rotations as (axis permutation, axis flips): 4 in 2D, 24 in 3D."""
    out = []
    for perm in itertools.permutations(range(ndim)):
        parity = np.linalg.det(np.eye(ndim)[list(perm)])
        for flips in itertools.product((False, True), repeat=ndim):
            sign = parity * (-1) ** sum(flips)
            if sign > 0:
                out.append((perm, flips))
    return out


def _separable(x: np.ndarray, kernels: dict[int, np.ndarray], mode: str) -> np.ndarray:
    for a, k in kernels.items():
        x = ndimage.correlate1d(x, k, axis=a, mode=mode)
    return x


def laws_filter(image: np.ndarray, kernel: str = "L5E5E5", *, energy_distance: int = 7,
                rotation_invariant: bool = True, pooling: Literal["max", "average"] = "max",
                boundary: Boundary = "mirror", slice_axis: int | None = None) -> np.ndarray:
    """Laws' texture energy map (IBSI 2 "Laws kernels").

    Parameters
    ----------
    kernel : str
        One 1D kernel of :data:`LAWS_KERNELS` per filtered axis, the first along ``x``
        (the last numpy axis), e.g. ``"L5E5E5"`` (3D) or ``"L5E5"`` (2D).
    energy_distance : int
        Chebyshev distance ``delta`` of the energy map: the mean absolute response over
        ``2 delta + 1`` voxels per axis (``0``: no energy map, the response itself).
    rotation_invariant, pooling
        Pool the responses of the right-angle rotations of the kernel (max or average)
        before the energy map.
    boundary, slice_axis
        As :func:`mean_filter`.
    """
    x = np.asarray(image, dtype=np.float64)
    mode = _mode(boundary)
    axes = _axes(x.ndim, slice_axis)
    names = [kernel[i:i + 2] for i in range(0, len(kernel), 2)]
    if len(names) != len(axes) or any(n not in LAWS_KERNELS for n in names):
        raise ValueError(f"Laws kernel {kernel!r} must name {len(axes)} of "
                         f"{', '.join(LAWS_KERNELS)}, one per filtered axis")
    base = [LAWS_KERNELS[n] for n in names]  # base[i]: along the i-th axis from x
    rots = _rotations(len(axes)) if rotation_invariant else [(tuple(range(len(axes))),
                                                               (False,) * len(axes))]
    pooled = None
    for perm, flips in rots:
        kernels = {}
        for j, a in enumerate(reversed(axes)):  # j-th axis counted from x
            k = base[perm[j]]
            kernels[a] = k[::-1] if flips[j] else k
        r = _separable(x, kernels, mode)
        if pooled is None:
            pooled = r
        elif pooling == "max":
            np.maximum(pooled, r, out=pooled)
        else:
            pooled += r
    assert pooled is not None
    if pooling != "max" and len(rots) > 1:
        pooled /= len(rots)
    if energy_distance == 0:
        return pooled
    size = [1 if a == slice_axis else 2 * energy_distance + 1 for a in range(x.ndim)]
    return ndimage.uniform_filter(np.abs(pooled), size=size, mode=mode)


def _gabor_kernel(sigma: float, lam: float, gamma: float, theta: float, spacing: float,
                  cutoff: float) -> np.ndarray:
    """The complex 2D Gabor kernel on a square grid of ``spacing`` mm (rows: y, cols: x)."""
    radius = int(np.floor(cutoff * max(sigma, sigma / gamma) / spacing + 0.5))
    k = np.arange(-radius, radius + 1) * spacing
    y, x = np.meshgrid(k, k, indexing="ij")
    u = x * np.cos(theta) + y * np.sin(theta)
    v = -x * np.sin(theta) + y * np.cos(theta)
    return (np.exp(-(u ** 2 + gamma ** 2 * v ** 2) / (2 * sigma ** 2))
            * np.exp(2j * np.pi * u / lam))


def _gabor_plane(x: np.ndarray, plane: tuple[int, int], sigma: float, lam: float,
                 gamma: float, thetas: np.ndarray, spacing: float, cutoff: float,
                 boundary: str) -> np.ndarray:
    from scipy.signal import fftconvolve

    pad_mode = BOUNDARIES[boundary][1]
    out = np.zeros_like(x)
    for theta in thetas:
        h = _gabor_kernel(sigma, lam, gamma, theta, spacing, cutoff)
        r = h.shape[0] // 2
        pad = [(r, r) if a in plane else (0, 0) for a in range(x.ndim)]
        xp = np.pad(x, pad, mode=pad_mode)
        shape = [1] * x.ndim
        shape[plane[0]], shape[plane[1]] = h.shape
        # correlation with h = convolution with h flipped
        resp = fftconvolve(xp, h[::-1, ::-1].reshape(shape), mode="valid", axes=plane)
        out += np.abs(resp)
    return out / len(thetas)


def gabor_filter(image: np.ndarray, sigma: float, wavelength: float, spacing: tuple[float, ...],
                 *, gamma: float = 1.0, theta_step: float = np.pi / 8,
                 cutoff: float = 4.0, boundary: Boundary = "mirror",
                 slice_axis: int | None = None) -> np.ndarray:
    """Rotation-invariant Gabor response (IBSI 2 "Gabor kernels").

    The modulus of the complex response to the 2D kernel of scale ``sigma`` mm,
    ``wavelength`` mm and aspect ratio ``gamma`` (module docstring), averaged over the
    orientations ``0, theta_step, ...`` below ``pi`` (an orientation and its opposite give
    the same modulus). ``slice_axis`` given: in the slices perpendicular to it;
    ``None`` (3D): the mean of the responses in the three orthogonal planes. The in-plane
    spacing must be isotropic. Support: ``1 + 2 floor(cutoff max(sigma, sigma/gamma) /
    spacing + 0.5)`` voxels.
    """
    x = np.asarray(image, dtype=np.float64)
    thetas = np.arange(0.0, np.pi - 1e-9, theta_step)
    planes = ([_axes(x.ndim, slice_axis)] if slice_axis is not None or x.ndim == 2 else
              [(1, 2), (0, 2), (0, 1)])
    out = np.zeros_like(x)
    for plane in planes:
        sp = {float(spacing[a]) for a in plane}
        if len(sp) != 1:
            raise ValueError(f"the Gabor filter needs isotropic pixels in its plane, found "
                             f"spacing {[spacing[a] for a in plane]} mm; resample first")
        out += _gabor_plane(x, tuple(plane), sigma, wavelength, gamma, thetas, sp.pop(),
                            cutoff, boundary)
    return out / len(planes)
