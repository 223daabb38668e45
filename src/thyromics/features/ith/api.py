"""The ``ith`` feature block: one dict of heterogeneity columns per lesion.

Columns (family ``ith``):

- ``iTED_<class>_<feature>``: iTED of each per-sub-region radiomics feature (93 with the
  classes of the CRIT/iTED study's code, github.com/Spr1te123/THCA-ITH), plus
  ``..._ci_low`` / ``..._ci_high`` when bootstrapped;
- ``ith_ITHscore3D_seed003``: the 3D ITHscore as the THCA-ITH code computes it (3D, on
  supervoxel clusters, without the published score's division by the number of regions);
- ``ith_ITHscore_Li2022``: the published ITHscore (largest slice);
- ``ith_n_subregions``, ``ith_expansion_mm``: SLIC sub-regions kept, mask growth used;
- ``ith_habitat_n``, ``ith_habitat_shannon``, ``ith_habitat_simpson``: diversity of the
  lesion's voxel habitats.
"""

from __future__ import annotations

import numpy as np

from thyromics.errors import CaseError
from thyromics.io.image import Image

from .habitats import lesion_habitats
from .scores import ited, ithscore3d_seed003
from .settings import IthSettings
from .subregion_features import ithscore_li2022, subregion_radiomics
from .subregions import slic_subregions

__all__ = ["ith_features"]


def ith_features(image: Image, mask: Image, settings: IthSettings | None = None, *,
                 thyroid: Image | None = None, case_id: str = "",
                 label: int | None = None) -> dict[str, float]:
    """Heterogeneity features of one lesion.

    Parameters
    ----------
    image, mask : Image
        Same grid. The lesion is ``mask == label`` (non-zero if None).
    settings : IthSettings
    thyroid : Image, optional
        Constrains the mask expansion (same grid).
    case_id : str
        For error messages.

    Returns
    -------
    dict of str to float (see the module docstring for the columns).

    Raises
    ------
    CaseError
        Empty lesion or grid mismatch.

    Notes
    -----
    Runs with one BLAS/OpenMP thread: the k-means and Gaussian-mixture fits here are
    on tens of points, where thread start-up dominated (40 s instead of 4.6 s for a
    6,500-voxel LIDC nodule on 2 busy cores); cohorts are parallel over cases instead.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _ith_features(image, mask, settings or IthSettings(), thyroid, case_id, label)


def _ith_features(image: Image, mask: Image, s: IthSettings, thyroid: Image | None,
                  case_id: str, label: int | None) -> dict[str, float]:
    if image.array.shape != mask.array.shape:
        raise CaseError(f"image shape {image.array.shape} and mask shape {mask.array.shape} differ",
                        case_id=case_id, file=mask.source or None, stage="ith")
    lesion = (mask.array == label) if label is not None else (mask.array != 0)
    if not lesion.any():
        raise CaseError("the mask has no lesion voxels; check the mask file and label",
                        case_id=case_id, file=mask.source or None, stage="ith")
    out: dict[str, float] = {}
    if "ited" in s.parts or "ithscore3d" in s.parts:
        sub = slic_subregions(image, lesion, s, None if thyroid is None else thyroid.array != 0)
        out["ith_n_subregions"] = float(len(sub.valid))
        out["ith_expansion_mm"] = sub.expansion_mm
        feats, names = (subregion_radiomics(image, sub.labels, sub.valid, s) if sub.valid
                        else (np.empty((0, 0)), []))
        if "ited" in s.parts:
            out.update(ited(feats, names, max_components=s.ited_max_components,
                            n_init=s.ited_n_init, seed=s.seed, n_bootstrap=s.ited_bootstrap))
        if "ithscore3d" in s.parts:
            ok = len(sub.valid) >= 2
            out["ith_ITHscore3D_seed003"] = (
                ithscore3d_seed003(feats, list(sub.valid), sub.labels, sub.roi, k_min=s.k_min,
                                   k_max=s.k_max, seed=s.seed) if ok else float("nan"))
    if "li2022" in s.parts:
        out["ith_ITHscore_Li2022"] = ithscore_li2022(image, lesion, s)
    if "habitats" in s.parts:
        h = lesion_habitats(image, lesion, s)
        out["ith_habitat_n"] = h.diversity["n"]
        out["ith_habitat_shannon"] = h.diversity["shannon"]
        out["ith_habitat_simpson"] = h.diversity["simpson"]
    return out
