"""Image and mask perturbations (Zwanenburg et al., Sci Rep 2019;9:614), pure and seeded.

Every function takes an :class:`~thyromics.io.Image` (and a 0/1 mask) and returns new
ones; random draws come from the ``numpy.random.Generator`` passed in. Rotation and
translation resample through :func:`thyromics.preprocess.resample.resample_to_grid` (the
one resampling path, which never lets a B-spline read past the data): the image with
``outside="nearest"``, the mask linearly, thresholded at 0.5 (IBSI's partial-volume
rule).

:class:`Perturbation` is one repetition of a chain for the extraction worker
(:func:`thyromics.features.extract.extract_case_record`): picklable, hashable into the
cache key, and it records what it drew.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from thyromics.errors import CaseError
from thyromics.io.image import Image
from thyromics.robustness.settings import PerturbationSettings

__all__ = ["estimate_noise", "add_noise", "rotate_translate", "adapt_volume",
           "randomise_contour", "lesion_centroid", "Perturbation", "case_generator"]


def _numpy_spacing(image: Image) -> tuple[float, ...]:
    return tuple(reversed(image.spacing))


def estimate_noise(image: Image) -> float:
    """The image's noise standard deviation from its finest diagonal wavelet sub-band.

    Donoho & Johnstone's robust estimator (Biometrika 1994;81:425), as used for image
    noise by Chang, Yu & Vetterli (IEEE TIP 2000;9:1532): ``sigma = median(|HH|) /
    0.6745`` over the first-level diagonal (HH) Haar coefficients of every axial slice,
    pooled. For white Gaussian noise of standard deviation ``s`` the Haar HH
    coefficients have standard deviation ``s`` and the median of their absolute values
    is ``0.6745 s``; edges and texture occupy few coefficients, so the median ignores
    them.

    Returns
    -------
    float
        In the image's intensity units; 0 for a constant image or one smaller than 2 x 2.
    """
    arr = np.asarray(image.array, dtype=np.float64)
    slices = arr[None] if arr.ndim == 2 else arr
    h, w = (slices.shape[1] // 2) * 2, (slices.shape[2] // 2) * 2
    if h == 0 or w == 0:
        return 0.0
    s = slices[:, :h, :w]
    hh = (s[:, 0::2, 0::2] - s[:, 0::2, 1::2] - s[:, 1::2, 0::2] + s[:, 1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / 0.6744897501960817)


def add_noise(image: Image, sigma: float, rng: np.random.Generator) -> Image:
    """``image + N(0, sigma^2)`` on every voxel, in float64."""
    arr = np.asarray(image.array, dtype=np.float64)
    return image.with_array(arr + rng.normal(0.0, float(sigma), size=arr.shape))


def lesion_centroid(mask: Image) -> tuple[float, ...]:
    """Physical centre (mm, ITK order) of the mask's voxels."""
    idx = np.argwhere(np.asarray(mask.array) != 0)
    if not len(idx):
        raise ValueError("the mask is empty")
    centre_index = idx.mean(axis=0)[::-1]  # ITK order
    direction = np.asarray(mask.direction).reshape(mask.ndim, mask.ndim)
    return tuple((np.asarray(mask.origin) + direction @ (centre_index * np.asarray(mask.spacing))
                  ).tolist())


def rotate_translate(image: Image, mask: Image, *, angle: float = 0.0,
                     fraction: tuple[float, ...] | None = None,
                     interpolator: str = "bspline") -> tuple[Image, Image]:
    """Image and mask resampled onto the grid rotated about the lesion and shifted.

    Parameters
    ----------
    angle : float
        Degrees, in the axial (x-y) plane, about the lesion centroid.
    fraction : tuple of float, optional
        Voxel fractions per axis (ITK order); axes with a single voxel are never shifted.
    interpolator : str
        For the image; the mask is interpolated linearly and thresholded at 0.5.

    Returns
    -------
    (Image, Image)
        The float64 image (grid points outside the input take the nearest voxel's value)
        and the 0/1 ``uint8`` mask, on the perturbed grid (same size and spacing).
    """
    from thyromics.preprocess.resample import (Grid, resample_to_grid, rotated_grid,
                                               translated_grid)

    grid = Grid.of(image)
    if angle:
        grid = rotated_grid(grid, angle, lesion_centroid(mask))
    if fraction is not None:
        f = tuple(0.0 if n == 1 else float(x) for n, x in zip(image.size, fraction))
        grid = translated_grid(grid, f)
    img, _ = resample_to_grid(image, grid, interpolator=interpolator, outside="nearest",
                              warn=False)
    binary = mask.with_array((np.asarray(mask.array) != 0).astype(np.float64))
    msk, _ = resample_to_grid(binary, grid, interpolator="linear", outside="fill", warn=False)
    return img, msk.with_array((msk.array >= 0.5).astype(np.uint8))


def _depth(mask: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Signed depth in mm: inside, the distance to the nearest background voxel; outside,
    minus the distance to the nearest lesion voxel."""
    from scipy.ndimage import distance_transform_edt

    inside = distance_transform_edt(mask, sampling=spacing)
    outside = distance_transform_edt(~mask, sampling=spacing)
    return np.where(mask, inside, -outside)


def adapt_volume(mask: Image, size: float, *, mode: str = "fraction",
                 min_volume_fraction: float = 0.2) -> Image:
    """The mask grown (``size > 0``) or shrunk (``size < 0``) concentrically.

    Voxels are ranked by their signed depth (:func:`_depth`, with the voxel spacing;
    ties in raster order), and the deepest ones are kept:

    - ``mode="fraction"``: ``round((1 + size) V)`` voxels, ``V`` the lesion's voxel count
      (``size=0.1`` grows the lesion by 10 %), exactly;
    - ``mode="distance"``: every voxel within ``size`` mm outside the lesion is added, or
      every voxel within ``-size`` mm of its border removed.

    Shrinkage never leaves fewer than ``ceil(min_volume_fraction V)`` voxels (nor fewer
    than one); growth stops at the image's border.
    """
    m = np.asarray(mask.array) != 0
    n = int(m.sum())
    if n == 0:
        raise ValueError("the mask is empty")
    if size == 0:
        return mask.with_array(m.astype(np.uint8))
    depth = _depth(m, _numpy_spacing(mask))
    if mode == "fraction":
        keep = int(round((1.0 + float(size)) * n))
    elif mode == "distance":
        keep = int(np.count_nonzero(depth > float(-size) if size < 0 else depth >= -float(size)))
    else:
        raise ValueError(f"unknown volume adaptation mode {mode!r}; expected 'fraction' or 'distance'")
    keep = min(max(keep, int(np.ceil(min_volume_fraction * n)), 1), m.size)
    order = np.argsort(-depth.ravel(), kind="stable")  # deepest first, raster order in ties
    out = np.zeros(m.size, dtype=np.uint8)
    out[order[:keep]] = 1
    return mask.with_array(out.reshape(m.shape))


def randomise_contour(image: Image, mask: Image, rng: np.random.Generator, *,
                      supervoxels: int = 20, compactness: float = 0.1) -> Image:
    """Supervoxel-based contour randomisation (Zwanenburg et al. 2019).

    The region around the lesion (its bounding box grown by a quarter of its extent,
    at least 2 voxels, per axis) is cut into SLIC supervoxels (scikit-image
    ``segmentation.slic`` with the voxel spacing, on intensities scaled to ``[0, 1]``
    by their 1st and 99th percentiles), about ``supervoxels`` of them over the lesion.
    Each supervoxel ``s`` overlapping the lesion is kept with probability
    ``f = |s & lesion| / |s|``, with MIRP's rules: always when ``f >= 0.9`` and for the
    supervoxel of largest overlap, never when ``f < 0.2``. The new mask is the union of
    those kept, closed by one binary closing (SciPy's default cross; the image border
    is not eroded) to fill seams.
    """
    from scipy.ndimage import binary_closing
    from skimage.segmentation import slic

    m = np.asarray(mask.array) != 0
    idx = np.argwhere(m)
    if not len(idx):
        raise ValueError("the mask is empty")
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    margin = np.maximum(2, np.ceil((hi - lo) / 4)).astype(int)
    lo = np.maximum(lo - margin, 0)
    hi = np.minimum(hi + margin, m.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    crop = np.asarray(image.array, dtype=np.float64)[box]
    p1, p99 = np.percentile(crop, [1, 99])
    scaled = np.clip((crop - p1) / (p99 - p1), 0, 1) if p99 > p1 else np.zeros_like(crop)
    n_lesion = int(m.sum())
    n_segments = int(max(2, round(supervoxels * crop.size / n_lesion)))
    labels = slic(scaled, n_segments=n_segments, compactness=compactness,
                  spacing=np.asarray(_numpy_spacing(image)), channel_axis=None, start_label=1,
                  enforce_connectivity=True)
    inside = m[box]
    n_labels = int(labels.max()) + 1
    size = np.bincount(labels.ravel(), minlength=n_labels)
    overlap = np.bincount(labels.ravel(), weights=inside.ravel().astype(float), minlength=n_labels)
    frac = np.divide(overlap, size, out=np.zeros(n_labels), where=size > 0)
    prob = np.where(frac >= 0.9, 1.0, np.where(frac < 0.2, 0.0, frac))
    prob[int(np.argmax(frac))] = 1.0
    draws = rng.random(n_labels)  # one draw per label, in label order: reproducible
    chosen = draws < prob
    out = np.zeros(m.shape, dtype=bool)
    out[box] = chosen[labels]
    closed = binary_closing(np.pad(out, 1))[(slice(1, -1),) * out.ndim]  # no border erosion
    return mask.with_array(closed.astype(np.uint8))


def case_generator(seed: int, case_id: str, repetition: int) -> np.random.Generator:
    """The generator of one repetition of one case: a function of its three inputs only."""
    key = zlib.crc32(str(case_id).encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([int(seed), key, int(repetition)]))


def _binary_lesion(mask: Image, label: int | None, case_id: str) -> Image:
    m = np.asarray(mask.array)
    if label is None:
        found = np.unique(m[m != 0])
        if found.size > 1:
            raise CaseError(f"the mask is not binary (labels {found[:10].tolist()}): choose the "
                            "lesion's value with --label before perturbing it.", case_id=case_id,
                            file=mask.source or None, stage="perturb")
        lesion = m != 0
    else:
        lesion = m == label
        if not lesion.any() and set(np.unique(m).tolist()) <= {0, 1}:
            lesion = m == 1
    if not lesion.any():
        raise CaseError("the mask has no lesion voxel to perturb.", case_id=case_id,
                        file=mask.source or None, stage="perturb")
    return mask.with_array(lesion.astype(np.uint8))


@dataclass(frozen=True)
class Perturbation:
    """Repetition ``repetition`` of the chain ``settings``, for any case.

    The parameters are drawn when it is applied, from :func:`case_generator` of
    ``(settings.seed, case_id, repetition)``: the same case always gets the same
    perturbed image, whichever worker runs it and whether it came from the cache.
    """

    settings: PerturbationSettings
    repetition: int

    def to_dict(self) -> dict[str, Any]:
        """Everything that decides the perturbed image (part of the cache key)."""
        return {"settings": self.settings.to_dict(), "repetition": int(self.repetition)}

    def apply(self, image: Image, mask: Image, *, case_id: str,
              label: int | None = None) -> tuple[Image, Image, dict[str, Any]]:
        """The perturbed image, its 0/1 mask and the parameters drawn.

        Raises
        ------
        CaseError
            ``stage="perturb"``: the mask is empty or not binary, or the perturbed
            lesion vanished.
        """
        s = self.settings
        rng = case_generator(s.seed, case_id, self.repetition)
        mask = _binary_lesion(mask, label, case_id)
        drawn: dict[str, Any] = {"repetition": int(self.repetition), "chain": s.code,
                                 "voxels_before": int(mask.array.sum())}
        # parameters are drawn in one fixed order, whether an element is used or not
        angle = float(rng.choice(np.asarray(s.rotation_angles, dtype=float)))
        fraction = tuple(float(f) for f in rng.choice(np.asarray(s.translation_fractions,
                                                                 dtype=float), size=image.ndim))
        size = float(rng.choice(np.asarray(s.volume_sizes, dtype=float)))
        noise_rng, contour_rng = (np.random.default_rng(x) for x in rng.integers(0, 2**63 - 1, 2))
        if "noise" in s.chain:
            sigma = s.noise_level if s.noise_level is not None else estimate_noise(image)
            image = add_noise(image, sigma, noise_rng)
            drawn["noise_sd"] = float(sigma)
        if "rotation" in s.chain or "translation" in s.chain:
            image, mask = rotate_translate(
                image, mask, angle=angle if "rotation" in s.chain else 0.0,
                fraction=fraction if "translation" in s.chain else None,
                interpolator=s.interpolator)
            if "rotation" in s.chain:
                drawn["angle_deg"] = angle
            if "translation" in s.chain:
                drawn["translation"] = list(fraction)
        if not mask.array.any():
            raise CaseError("the lesion vanished when the image was rotated/translated (it is "
                            "thinner than a voxel).", case_id=case_id, stage="perturb")
        if "volume" in s.chain:
            mask = adapt_volume(mask, size, mode=s.volume_mode,
                                min_volume_fraction=s.min_volume_fraction)
            drawn[f"volume_{s.volume_mode}"] = size
        if "contour" in s.chain:
            mask = randomise_contour(image, mask, contour_rng, supervoxels=s.supervoxels,
                                     compactness=s.compactness)
        drawn["voxels_after"] = int(mask.array.sum())
        return image, mask, drawn
