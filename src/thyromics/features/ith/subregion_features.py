"""Per-sub-region radiomics (no shape) and the published ITHscore pipeline."""

from __future__ import annotations

import logging

import numpy as np

from thyromics.preprocess.crop import array_box
from thyromics.io.image import Image

from .scores import li2022_from_label_map
from .settings import IthSettings

__all__ = ["subregion_radiomics", "ithscore_li2022", "li2022_label_map"]


def subregion_radiomics(image: Image, labels: np.ndarray, ids: tuple[int, ...],
                        settings: IthSettings | None = None) -> tuple[np.ndarray, list[str]]:
    """PyRadiomics features of each sub-region (original image, no shape).

    Whole-image normalisation (``normalize``/``normalizeScale``) is applied once to the
    full image, then each sub-region is extracted on its bounding box (+1 voxel), which
    gives PyRadiomics' values without re-normalising a crop.

    Returns
    -------
    features : (len(ids), p) array
    names : list of ``<class>_<feature>``
    """
    import SimpleITK as sitk
    from radiomics import featureextractor

    s = settings or IthSettings()
    params = dict(s.radiomics)
    img = image.to_sitk()
    if params.pop("normalize", False):
        img = sitk.Normalize(img) * float(params.get("normalizeScale", 1))
    params.pop("normalizeScale", None)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    ex = featureextractor.RadiomicsFeatureExtractor(**params)
    ex.disableAllFeatures()
    for c in s.classes:
        ex.enableFeatureClassByName(c)
    arr = sitk.GetArrayFromImage(img)
    rows, names = [], None
    for i in ids:
        m = labels == i
        sl = array_box(m, 1)
        sub = Image(arr[sl], image.spacing)
        res = ex.execute(sub.to_sitk(), sub.with_array(m[sl].astype(np.uint8)).to_sitk())
        vals = {k[len("original_"):]: float(v) for k, v in res.items()
                if k.startswith("original_")}
        if names is None:
            names = list(vals)
        rows.append([vals[k] for k in names])
    return np.asarray(rows, dtype=float).reshape(len(ids), -1), names or []


def li2022_label_map(image: Image, lesion: np.ndarray, settings: IthSettings | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label map of the largest axial slice (Li et al., Eur Radiol 2022).

    Largest-area slice (axis 0 for 3D), cropped to the tumour box + 2 pixels; per tumour
    pixel, features in the (2r+1)^2 window (r = ``li_window_radius``; unmasked window,
    bin width ``li_bin_width``) from :mod:`thyromics.features.maps` (first-order, GLCM,
    GLRLM, GLSZM, GLDM, NGTDM; the authors also used shape features of each window and
    discretised each window on its own); MinMax per class, concatenate, MinMax; k-means
    ``K = li_k`` (``n_init=10``, seeded).

    Returns
    -------
    label_map : 2D int array (0 outside the tumour, 1..K inside), cropped
    slice_mask : 2D bool array, cropped
    """
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import MinMaxScaler

    from thyromics.features.maps import MAP_FEATURES, MapSettings, compute_feature_maps

    s = settings or IthSettings()
    arr = image.array
    les = lesion.astype(bool)
    if arr.ndim == 3:
        z = int(np.argmax(les.sum(axis=(1, 2))))
        arr, les = arr[z], les[z]
        spacing = image.spacing[:2]
    else:
        spacing = image.spacing
    sl = array_box(les, s.li_window_radius)
    arr, les = arr[sl], les[sl]
    classes = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    fm = compute_feature_maps(Image(arr, spacing), Image(les.astype(np.uint8), spacing),
                              MapSettings(kernel_radius=s.li_window_radius, bin_width=s.li_bin_width,
                                          masked_kernel=False, features=classes))
    blocks = []
    for c in classes:
        x = np.stack([fm.maps[f"{c}_{f}"][les] for f in MAP_FEATURES[c]], axis=1)
        x = np.where(np.isfinite(x), x, np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0))
        blocks.append(MinMaxScaler().fit_transform(np.nan_to_num(x)))
    x = MinMaxScaler().fit_transform(np.hstack(blocks))
    k = min(s.li_k, int(les.sum()))
    lab = KMeans(n_clusters=k, n_init=10, random_state=s.seed).fit_predict(x)
    out = np.zeros(les.shape, dtype=np.int64)
    out[les] = lab + 1
    return out, les


def ithscore_li2022(image: Image, lesion: np.ndarray, settings: IthSettings | None = None) -> float:
    """Published ITHscore (``ith_ITHscore_Li2022``): :func:`li2022_label_map` then
    :func:`thyromics.features.ith.scores.li2022_from_label_map`."""
    label_map, _ = li2022_label_map(image, lesion, settings)
    return li2022_from_label_map(label_map)
