"""Voxel-wise (sliding-kernel) radiomics feature maps, PyRadiomics-compatible and fast.

The engine reproduces PyRadiomics' voxel-based extraction
(``RadiomicsFeatureExtractor(...).execute(image, mask, voxelBased=True)``) for the
first-order, GLCM, GLRLM, GLSZM, GLDM and NGTDM classes, with compiled (numba) kernels
that run in parallel over voxels instead of building one dense matrix per voxel in numpy.

What PyRadiomics does, and therefore what happens here:

1. Optional whole-image normalisation (``sitk.Normalize`` x scale).
2. Crop to the ROI bounding box plus ``kernel_radius`` voxels on each side.
3. Discretise once on the ROI (``masked_kernel``) or the whole cropped box
   (PyRadiomics ``binImage``: fixed width from 0, or fixed count).
4. For every ROI voxel, the kernel is the box ``[c - r, c + r]`` clipped to the crop
   (only in-plane when ``force2d``); with a masked kernel only ROI voxels take part.
5. Features are computed in that box; maps hold ``init_value`` outside the ROI.
   GLCM uses ``distances``; GLRLM and GLSZM always use distance 1 (as PyRadiomics: runs
   along the 13 / 4 unidirectional angles, zones 26- / 8-connected).

References: van Griethuysen et al., Cancer Res 2017 (PyRadiomics); Zwanenburg et al.,
Radiology 2020 (IBSI).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from thyromics.errors import CaseError
from thyromics.io.image import Image

from ._firstorder import FIRSTORDER_ORDER, firstorder_maps
from ._glcm import GLCM_ORDER, glcm_maps
from ._neighbour import GLDM_ORDER, NGTDM_ORDER, gldm_maps, ngtdm_maps
from ._runzone import GLRLM_ORDER, GLSZM_ORDER, glrlm_maps, glszm_maps
from .settings import MapSettings, resolve_features

__all__ = ["FeatureMaps", "compute_feature_maps", "discretise", "generate_angles"]


@dataclass(frozen=True)
class FeatureMaps:
    """Feature maps of one lesion.

    Attributes
    ----------
    maps : dict of str to numpy.ndarray
        ``<class>_<feature>`` -> array with the input image's shape (numpy order);
        ``init_value`` outside ``roi``.
    roi : numpy.ndarray of bool
        The voxels that were computed (lesion plus margin).
    reference : Image
        The input image (its geometry is the maps' geometry).
    settings : MapSettings
    n_levels : int
        Number of grey levels present in the ROI after discretisation.
    """

    maps: dict[str, np.ndarray]
    roi: np.ndarray
    reference: Image
    settings: MapSettings
    n_levels: int = 0
    names: tuple[str, ...] = field(default=())

    def to_images(self) -> dict[str, Image]:
        """Each map as an :class:`Image` with the input's geometry."""
        return {k: self.reference.with_array(v) for k, v in self.maps.items()}

    def table(self) -> np.ndarray:
        """``(n_roi_voxels, n_features)`` matrix of the ROI voxels, columns = ``names``."""
        return np.stack([self.maps[k][self.roi] for k in self.names], axis=1)


def generate_angles(size: tuple[int, ...], distances: tuple[int, ...], force2d_dim: int = -1,
                    bidirectional: bool = False) -> np.ndarray:
    """Neighbour offsets as PyRadiomics' ``generate_angles`` makes them.

    Offsets ``o`` (numpy axis order) with ``max|o_d|`` in ``distances``, ``|o_d| < size_d``,
    no move along ``force2d_dim``; unidirectional keeps the one of ``o, -o`` whose first
    non-zero component is positive.

    Returns
    -------
    (Na, ndim) int64
    """
    dmax = max(distances)
    out = []
    for o in itertools.product(range(dmax, -dmax - 1, -1), repeat=len(size)):
        if not any(o):
            continue
        if any(abs(c) >= s for c, s in zip(o, size)):
            continue
        if force2d_dim >= 0 and o[force2d_dim] != 0:
            continue
        if max(abs(c) for c in o) not in distances:
            continue
        if not bidirectional:
            first = next(c for c in o if c != 0)
            if first < 0:
                continue
        out.append(o)
    return np.asarray(out, dtype=np.int64).reshape(-1, len(size))


def discretise(values: np.ndarray, bin_width: float | None, bin_count: int | None) -> np.ndarray:
    """Grey levels 1..Ng of ``values`` exactly as PyRadiomics' ``binImage``.

    Fixed width ``W``: edges ``k W`` from ``floor(min/W) W`` (half-open bins), i.e.
    ``floor(x/W) - floor(min/W) + 1``. Fixed count ``N``: ``numpy.histogram`` edges with the
    top edge raised by 1 so the maximum falls in bin ``N``.
    """
    if bin_count is not None:
        edges = np.histogram(values, bin_count)[1]
        edges[-1] += 1
    else:
        minimum = values.min()
        maximum = values.max()
        low = minimum - (minimum % bin_width)
        edges = np.arange(low, maximum + 2 * bin_width, bin_width)
        if len(edges) == 1:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    return np.digitize(values, edges).astype(np.int32)


def _prepare(image: Image, mask: Image, settings: MapSettings, case_id: str):
    if image.array.shape != mask.array.shape:
        raise CaseError(f"image shape {image.array.shape} and mask shape {mask.array.shape} differ; "
                        "resample the mask onto the image grid", case_id=case_id,
                        file=mask.source or None, stage="maps")
    arr = image.array
    if settings.normalize:
        import SimpleITK as sitk

        im = sitk.Normalize(image.to_sitk())
        if settings.remove_outliers is not None:
            a = sitk.GetArrayFromImage(im)
            n = settings.remove_outliers
            a[a > n] = n
            a[a < -n] = -n
            im2 = sitk.GetImageFromArray(a)
            im2.CopyInformation(im)
            im = im2
        im = im * settings.normalize_scale
        arr = sitk.GetArrayFromImage(im)
    m = mask.array
    roi = (m == settings.label) if settings.label is not None else (m != 0)
    if not roi.any():
        raise CaseError("the mask has no lesion voxels" + (f" with label {settings.label}"
                        if settings.label is not None else "") + "; check the mask file and label",
                        case_id=case_id, file=mask.source or None, stage="maps")
    if settings.margin_mm > 0:
        from scipy import ndimage

        sampling = tuple(reversed(image.spacing))
        dist = ndimage.distance_transform_edt(~roi, sampling=sampling)
        roi = dist <= settings.margin_mm
    if arr.ndim == 2:
        arr = arr[None]
        roi = roi[None]
    return arr, roi


def compute_feature_maps(image: Image, mask: Image, settings: MapSettings | None = None, *,
                         case_id: str = "") -> FeatureMaps:
    """Voxel-wise feature maps of a lesion.

    Parameters
    ----------
    image, mask : Image
        Same grid; 2D or 3D. The lesion is ``mask == settings.label`` (non-zero if None).
    settings : MapSettings
        Kernel, discretisation and feature choice; defaults to ``MapSettings()``
        (radius 1, bin width 25, first-order + GLCM).
    case_id : str
        For error messages.

    Returns
    -------
    FeatureMaps
        Maps named ``<class>_<feature>`` (PyRadiomics names) in the input geometry.

    Raises
    ------
    CaseError
        Empty mask or image/mask grid mismatch.
    """
    settings = settings or MapSettings()
    classes = resolve_features(settings.features)
    arr, roi = _prepare(image, mask, settings, case_id)
    r = settings.kernel_radius
    nz = np.nonzero(roi)
    lo = [max(int(a.min()) - r, 0) for a in nz]
    hi = [min(int(a.max()) + r + 1, s) for a, s in zip(nz, roi.shape)]
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    img_c = arr[sl]
    roi_c = roi[sl]
    valid = roi_c if settings.masked_kernel else np.ones_like(roi_c)
    f2d = -1
    if settings.force2d:
        f2d = settings.force2d_dimension + (1 if image.array.ndim == 2 else 0)
    if image.array.ndim == 2:
        f2d = 0  # a 2D image is a single slice: never move along the added axis
    radius = np.array([0 if d == f2d else r for d in range(3)], dtype=np.int64)
    coords = np.argwhere(roi_c).astype(np.int64)

    disc = np.zeros(img_c.shape, dtype=np.int32)
    disc[valid] = discretise(img_c[valid], settings.bin_width, settings.bin_count)
    levels = np.unique(disc[valid])
    ng = int(levels.max())
    out: dict[str, np.ndarray] = {}
    if "firstorder" in classes:
        vals = img_c.astype(np.float64)
        disc64 = np.zeros(img_c.shape, dtype=np.int32)
        disc64[valid] = discretise(vals[valid], settings.bin_width, settings.bin_count)
        ng64 = int(disc64.max())
        spacing = image.spacing
        vol = float(np.prod(spacing))
        res = firstorder_maps(vals, disc64, coords, radius, ng64, vol,
                              float(settings.voxel_array_shift))
        for k, name in enumerate(FIRSTORDER_ORDER):
            out[f"firstorder_{name}"] = res[:, k]
    if "glcm" in classes:
        angles = generate_angles(img_c.shape, settings.distances, f2d, bidirectional=False)
        feats, uxs = glcm_maps(disc, coords, radius, angles, ng, len(levels),
                               "MCC" in classes["glcm"])  # its eigen-solves only if asked
        keep = ~np.all(np.isnan(uxs), axis=0)  # PyRadiomics drops angles empty everywhere
        feats[:, 1] = uxs[:, keep].mean(axis=1) if keep.any() else np.nan
        for k, name in enumerate(GLCM_ORDER):
            out[f"glcm_{name}"] = feats[:, k]
    if "glrlm" in classes:
        angles = generate_angles(img_c.shape, (1,), f2d, bidirectional=False)
        res = glrlm_maps(disc, coords, radius, angles, ng)
        for k, name in enumerate(GLRLM_ORDER):
            out[f"glrlm_{name}"] = res[:, k]
    if "glszm" in classes:
        offsets = generate_angles(img_c.shape, (1,), f2d, bidirectional=True)
        res = glszm_maps(disc, coords, radius, offsets, ng)
        for k, name in enumerate(GLSZM_ORDER):
            out[f"glszm_{name}"] = res[:, k]
    if "gldm" in classes or "ngtdm" in classes:
        offsets = generate_angles(img_c.shape, settings.distances, f2d, bidirectional=True)
        if "gldm" in classes:
            res = gldm_maps(disc, coords, radius, offsets, ng, int(settings.gldm_alpha))
            for k, name in enumerate(GLDM_ORDER):
                out[f"gldm_{name}"] = res[:, k]
        if "ngtdm" in classes:
            res = ngtdm_maps(disc, coords, radius, offsets, ng)
            for k, name in enumerate(NGTDM_ORDER):
                out[f"ngtdm_{name}"] = res[:, k]

    names = tuple(f"{c}_{f}" for c, fs in classes.items() for f in fs)
    full_roi = np.zeros(roi.shape, dtype=bool)
    full_roi[sl] = roi_c
    idx = tuple(c + o for c, o in zip(coords.T, lo))
    maps: dict[str, np.ndarray] = {}
    for name in names:
        a = np.full(roi.shape, settings.init_value, dtype=np.float64)
        a[idx] = out[name]
        maps[name] = a[0] if image.array.ndim == 2 else a
    roi_out = full_roi[0] if image.array.ndim == 2 else full_roi
    return FeatureMaps(maps=maps, roi=roi_out, reference=image, settings=settings,
                       n_levels=len(levels), names=names)
