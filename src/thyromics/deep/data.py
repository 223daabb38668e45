"""Lesion samples for the networks: 2D crops and 3D patches, one per manifest row.

* 2D (ultrasound): the minimum bounding rectangle of the mask plus a margin, resized
  to ``size_2d`` (224 x 224 by default; bilinear for the image, nearest for the mask).
* 3D (CT): resampled to ``spacing_3d`` (1 mm) and cut to ``patch_3d`` (32 x 48 x 48,
  ``z, y, x``) centred on the centre of the lesion's bounding box; parts outside the
  volume are padded with the lowest intensity (0 after normalisation).

Intensities are mapped to [0, 1] (:func:`thyromics.deep.transforms.normalize`) over the
whole image (2D) or resampled volume (3D) before cutting, so a lesion keeps its
brightness relative to its surroundings.
A case that cannot be read or has an empty mask is recorded in ``errors`` and the others
go on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from thyromics.deep._io import CASE_FAILURES, CaseRef, load_case_images, skip_reason
from thyromics.deep.settings import DataSettings
from thyromics.deep.transforms import normalize
from thyromics.errors import CaseError
from thyromics.io.image import Image

__all__ = ["LesionSamples", "bounding_box", "crop_2d", "patch_3d", "resample_image",
           "select_lesions", "build_samples", "make_sample"]


@dataclass
class LesionSamples:
    """Per-lesion arrays ready for a network.

    Attributes
    ----------
    images : numpy.ndarray
        float32 ``(N, 1, *spatial)`` in [0, 1].
    masks : numpy.ndarray
        uint8 ``(N, 1, *spatial)``, 0/1, on the same grid.
    labels : numpy.ndarray
        float ``(N,)``; NaN where the manifest has no label.
    case_ids, patient_ids : list of str
    splits : list of str or None
        The manifest's ``split`` column, if any.
    errors : list of (str, str)
        ``(case_id, reason)`` of the rows that were skipped.
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    case_ids: list[str]
    patient_ids: list[str]
    splits: list[str | None]
    errors: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.case_ids)

    def subset(self, idx: Sequence[int] | np.ndarray) -> "LesionSamples":
        """The samples at positions ``idx`` (errors are kept)."""
        idx = np.asarray(idx, dtype=int)
        return LesionSamples(self.images[idx], self.masks[idx], self.labels[idx],
                             [self.case_ids[i] for i in idx], [self.patient_ids[i] for i in idx],
                             [self.splits[i] for i in idx], list(self.errors))


def bounding_box(mask: np.ndarray, margin: Sequence[int] | int = 0) -> tuple[slice, ...]:
    """The lesion's box grown by ``margin`` voxels (:func:`thyromics.preprocess.crop.array_box`)."""
    from thyromics.preprocess.crop import array_box

    return array_box(mask, margin)


def _margin_voxels(image: Image, margin_mm: float) -> list[int]:
    # spacing is ITK order (x, y[, z]); numpy axes are reversed.
    return [int(round(margin_mm / s)) for s in reversed(image.spacing)]


def _resize(array: np.ndarray, size: Sequence[int], mode: str) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None, None]
    kw = {"align_corners": False} if mode in ("bilinear", "trilinear") else {}
    return F.interpolate(t, size=tuple(int(s) for s in size), mode=mode, **kw)[0, 0].numpy()


def crop_2d(image: Image, mask: Image, settings: DataSettings) -> tuple[np.ndarray, np.ndarray]:
    """2D lesion crop: bounding rectangle + margin, normalised, resized to ``size_2d``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        float32 image in [0, 1] and uint8 mask, both of shape ``settings.size_2d``.
    """
    if image.ndim != 2:
        raise ValueError(f"crop_2d needs a 2D image, got shape {image.array.shape}")
    box = bounding_box(mask.array, _margin_voxels(image, settings.margin_mm))
    # normalised over the whole image, then cropped: a lesion keeps its brightness relative
    # to the rest of the image (echogenicity), which a per-crop min-max would erase
    img = normalize(image.array, settings.window)[box]
    msk = mask.array[box].astype(np.float32)
    if settings.keep_aspect:
        h, w = img.shape
        n = max(h, w)
        pad = ((int((n - h) // 2), int(n - h - (n - h) // 2)), (int((n - w) // 2), int(n - w - (n - w) // 2)))
        img = np.pad(img, pad, mode="edge")
        msk = np.pad(msk, pad, mode="constant")
    img = np.clip(_resize(img, settings.size_2d, "bilinear"), 0.0, 1.0)
    msk = _resize(msk, settings.size_2d, "nearest") > 0.5
    return img.astype(np.float32), msk.astype(np.uint8)


def resample_image(image: Image, spacing: Sequence[float], *, is_mask: bool) -> Image:
    """Resample to ``spacing`` (mm, ITK order) on a grid with the same origin/direction.

    New size per axis = ``round(size * old_spacing / new_spacing)``. Linear
    interpolation for images (float32), nearest neighbour for masks (uint8); grid points
    outside the input take the image's minimum (masks: 0), not 0 HU, which would be a
    bright seam in CT. Through :func:`thyromics.preprocess.resample_to_grid`.
    """
    from thyromics.preprocess.resample import Grid, resample_to_grid

    size = tuple(max(1, int(round(n * s / t))) for n, s, t in zip(image.size, image.spacing, spacing))
    grid = Grid(size, tuple(float(s) for s in spacing), image.origin, image.direction)
    src = image.with_array((image.array != 0).astype(np.uint8)) if is_mask else image
    out, _ = resample_to_grid(src, grid, interpolator="nearest" if is_mask else "linear",
                              outside="fill", fill=0.0 if is_mask else float(image.array.min()))
    return out.with_array(out.array.astype(np.uint8 if is_mask else np.float32))


def _cut_centred(array: np.ndarray, centre: Sequence[float], size: Sequence[int], fill: float) -> np.ndarray:
    """The ``size`` block of ``array`` whose centre is ``centre`` (voxel index), padded with ``fill``."""
    out = np.full(tuple(size), fill, dtype=array.dtype)
    src, dst = [], []
    for c, n, dim in zip(centre, size, array.shape):
        start = int(np.floor(c + 0.5)) - n // 2  # voxel `round(c)` lands at index n // 2
        lo, hi = max(start, 0), min(start + n, dim)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = array[tuple(src)]
    return out


def patch_3d(image: Image, mask: Image, settings: DataSettings) -> tuple[np.ndarray, np.ndarray]:
    """3D lesion patch: resample to ``spacing_3d``, cut ``patch_3d`` around the lesion.

    The centre is the centre of the lesion's bounding box on the resampled grid; voxel
    ``round(centre)`` sits at index ``size // 2`` of every axis (16, 24, 24 for the
    default 32 x 48 x 48 patch).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        float32 image in [0, 1] and uint8 mask of shape ``patch_3d`` ``(z, y, x)``.
    """
    if image.ndim != 3:
        raise ValueError(f"patch_3d needs a 3D image, got shape {image.array.shape}")
    img = resample_image(image, settings.spacing_3d, is_mask=False)
    msk = resample_image(mask, settings.spacing_3d, is_mask=True)
    if not msk.array.any():  # a lesion thinner than a voxel can vanish at nearest neighbour
        raise ValueError("mask is empty after resampling to "
                         f"{settings.spacing_3d} mm; the lesion is smaller than one voxel")
    box = bounding_box(msk.array)
    centre = [(b.start + b.stop - 1) / 2.0 for b in box]
    arr = normalize(img.array, settings.window)
    fill = 0.0 if settings.window is not None else float(arr.min())
    return (_cut_centred(arr, centre, settings.patch_3d, fill).astype(np.float32),
            _cut_centred(msk.array.astype(np.uint8), centre, settings.patch_3d, 0))


def select_lesions(cases: Sequence[CaseRef], max_per_patient: int | None, seed: int) -> list[CaseRef]:
    """At most ``max_per_patient`` rows per patient, drawn without replacement.

    The draw uses ``numpy.random.default_rng(seed)`` over patients in sorted order, so
    it does not depend on the order of the manifest. The kept rows keep manifest order.
    """
    if max_per_patient is None:
        return list(cases)
    rng = np.random.default_rng(seed)
    by_patient: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        by_patient[c.patient_id].append(i)
    keep: set[int] = set()
    for pid in sorted(by_patient):
        rows = sorted(by_patient[pid], key=lambda i: cases[i].case_id)
        if len(rows) > max_per_patient:
            rows = list(rng.choice(rows, size=max_per_patient, replace=False))
        keep.update(int(r) for r in rows)
    return [c for i, c in enumerate(cases) if i in keep]


def make_sample(image: Image, mask: Image, settings: DataSettings) -> tuple[np.ndarray, np.ndarray]:
    """One lesion sample (crop or patch) for ``settings.spatial_dims``."""
    if image.ndim != settings.spatial_dims:
        raise ValueError(f"expected a {settings.spatial_dims}D image, found shape {image.array.shape}; "
                         f"set spatial_dims={image.ndim}")
    return (crop_2d if settings.spatial_dims == 2 else patch_3d)(image, mask, settings)


def build_samples(cases: Sequence[CaseRef], settings: DataSettings, *, require_label: bool = False,
                  progress: bool = False) -> LesionSamples:
    """Read every case and cut its lesion sample; failures go to ``errors``.

    Parameters
    ----------
    cases : sequence of CaseRef
        Manifest rows (see :func:`thyromics.deep._io.read_cases`).
    settings : DataSettings
    require_label : bool
        Skip (and record) rows without a label, for training.
    progress : bool
        Show a progress bar.
    """
    from tqdm.auto import tqdm

    cases = select_lesions(cases, settings.max_lesions_per_patient, settings.seed)
    shape = settings.input_shape
    imgs, msks, keep, errors = [], [], [], []
    for case in tqdm(cases, desc="lesion samples", disable=not progress, leave=False):
        if require_label and case.label is None:
            errors.append((case.case_id, "no label"))
            continue
        try:
            image, mask = load_case_images(case)
            if mask is None:
                raise CaseError("the manifest gives no mask; lesion samples need one", case_id=case.case_id)
            img, msk = make_sample(image, mask, settings)
        except CASE_FAILURES as e:
            errors.append((case.case_id, skip_reason(e)))
            continue
        imgs.append(img)
        msks.append(msk)
        keep.append(case)
    return LesionSamples(
        np.stack(imgs)[:, None].astype(np.float32) if imgs else np.zeros((0, 1, *shape), np.float32),
        np.stack(msks)[:, None].astype(np.uint8) if msks else np.zeros((0, 1, *shape), np.uint8),
        np.array([np.nan if c.label is None else c.label for c in keep], dtype=float),
        [c.case_id for c in keep], [c.patient_id for c in keep], [c.split for c in keep], errors)
