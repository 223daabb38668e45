"""Nucleus instance masks from external segmenters, as per-tile label maps.

Every source is turned into the HoVer-Net tile convention: an ``inst_map`` (0 =
background, 1..N = nuclei) at the tile's output resolution and ``inst_type`` (type id
of each instance, PanNuke: 1 neoplastic, 2 inflammatory, 3 connective, 4 dead,
5 non-neoplastic; 0 = no type). Sources, named in the manifest's ``nuclei`` column:

* a **folder** of per-tile files named ``<tile_id>.mat|.png|.tif|.tiff|.npy|.npz`` (an
  external segmenter run on the tiles written by ``thyromics pathology tiles``);
* a **HoVer-Net** ``.mat`` (``inst_map``, ``inst_type``, optional ``inst_uid``) or a
  labelled **PNG/TIFF/NPY** covering the whole image at level 0 (plain-image slides);
* a **HoVer-Net** ``.json`` (``{"nuc": {id: {"contour": [[x, y], ...], "type": t}}}``) or a
  **TIAToolbox** ``.dat``/``.json`` (``{id: {"contour": ..., "type": t}}``), contours in
  level-0 pixels, rasterised into each tile.

Which tile a nucleus belongs to (midline ownership) is decided later, from its centroid,
in :mod:`thyromics.pathology.morphometry`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from thyromics.errors import CaseError

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.pathology.slides import TileSpec

__all__ = ["TILE_SUFFIXES", "read_label_file", "read_contours", "contours_to_tile",
           "labels_to_tile", "nuclei_for_tile", "relabel", "filter_by_area", "open_source"]

TILE_SUFFIXES = (".mat", ".png", ".tif", ".tiff", ".npy", ".npz")


def _types_from(inst_map: np.ndarray, inst_type: Any, inst_uid: Any) -> dict[int, int]:
    ids = [int(i) for i in np.unique(inst_map) if i != 0]
    if inst_type is None:
        return {i: 0 for i in ids}
    t = np.asarray(inst_type).ravel().astype(int)
    uid = np.asarray(inst_uid).ravel().astype(int) if inst_uid is not None else np.arange(1, t.size + 1)
    if uid.size != t.size:
        raise ValueError(f"inst_uid has {uid.size} entries but inst_type {t.size}")
    lookup = dict(zip(uid.tolist(), t.tolist()))
    return {i: int(lookup.get(i, 0)) for i in ids}


def read_label_file(path: Path) -> tuple[np.ndarray, dict[int, int]]:
    """Read an instance label map and its types from ``.mat``, ``.npz``, ``.npy`` or an image.

    ``.mat``/``.npz``: HoVer-Net keys ``inst_map`` (required), ``inst_type`` (type per
    instance, in the order of ``inst_uid`` or of ids 1..N). Images and ``.npy``: the label
    map alone (types 0). Colour label images are refused (ambiguous).
    """
    suffix = path.suffix.lower()
    if suffix == ".mat":
        from scipy.io import loadmat

        d = loadmat(str(path))
    elif suffix == ".npz":
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
    elif suffix == ".npy":
        d = {"inst_map": np.load(path)}
    else:
        import tifffile
        from PIL import Image

        if suffix in (".tif", ".tiff"):
            arr = tifffile.imread(str(path))
        else:
            with Image.open(path) as im:
                arr = np.asarray(im)
        d = {"inst_map": arr}
    if "inst_map" not in d:
        raise ValueError(f"no 'inst_map' in {path.name}; keys: {sorted(k for k in d if not k.startswith('__'))}")
    inst = np.asarray(d["inst_map"])
    inst = np.squeeze(inst)
    if inst.ndim != 2:
        raise ValueError(f"the label map must be 2-D (one label per pixel), got shape {inst.shape}; "
                         "colour or multi-channel label images are not instance maps")
    if np.issubdtype(inst.dtype, np.floating):
        if not np.all(np.mod(inst, 1) == 0):
            raise ValueError("the label map holds non-integer values")
    inst = inst.astype(np.int64)
    if inst.min() < 0:
        raise ValueError("the label map holds negative labels")
    return inst, _types_from(inst, d.get("inst_type"), d.get("inst_uid"))


def read_contours(path: Path) -> list[tuple[np.ndarray, int]]:
    """Nuclei of a HoVer-Net ``.json`` or TIAToolbox ``.dat``/``.json`` as ``(contour_xy, type)``.

    Contours are ``(n, 2)`` arrays of level-0 ``(x, y)`` points. A TIAToolbox ``.dat`` is a
    joblib pickle: load only files you made yourself.
    """
    if path.suffix.lower() == ".dat":
        import joblib

        data = joblib.load(path)
    else:
        import json

        data = json.loads(path.read_text())
    nuc = data["nuc"] if isinstance(data, dict) and "nuc" in data else data
    if not isinstance(nuc, dict):
        raise ValueError("expected a mapping of nucleus id -> {contour, type}")
    out = []
    for key, v in nuc.items():
        if "contour" not in v:
            raise ValueError(f"nucleus {key!r} has no 'contour'")
        t = v.get("type")
        out.append((np.asarray(v["contour"], dtype=np.float64).reshape(-1, 2), int(t) if t is not None else 0))
    return out


def contours_to_tile(nuclei: list[tuple[np.ndarray, int]], tile: "TileSpec") -> tuple[np.ndarray, dict[int, int]]:
    """Rasterise level-0 contours into the tile's label map (nuclei touching the tile)."""
    from skimage.draw import polygon

    inst = np.zeros((tile.height, tile.width), np.int64)
    types: dict[int, int] = {}
    x1, y1 = tile.x0 + tile.w0, tile.y0 + tile.h0
    n = 0
    for xy, t in nuclei:
        if xy[:, 0].max() < tile.x0 or xy[:, 0].min() >= x1 or xy[:, 1].max() < tile.y0 or xy[:, 1].min() >= y1:
            continue
        cols = (xy[:, 0] - tile.x0) / tile.scale
        rows = (xy[:, 1] - tile.y0) / tile.scale
        rr, cc = polygon(rows, cols, shape=inst.shape)
        if rr.size == 0:
            continue
        n += 1
        inst[rr, cc] = n
        types[n] = t
    present = set(np.unique(inst).tolist()) - {0}
    return inst, {k: v for k, v in types.items() if k in present}


def labels_to_tile(inst: np.ndarray, types: dict[int, int], tile: "TileSpec") -> tuple[np.ndarray, dict[int, int]]:
    """Cut a whole-image (level-0) label map to the tile footprint, resized nearest-neighbour."""
    crop = inst[tile.y0:tile.y0 + tile.h0, tile.x0:tile.x0 + tile.w0]
    if crop.shape != (tile.h0, tile.w0):
        raise ValueError(f"the label map ({inst.shape[1]} x {inst.shape[0]}) is smaller than the slide's "
                         f"level 0; it must cover the whole image at level 0")
    if crop.shape != (tile.height, tile.width):
        rows = (np.arange(tile.height) * tile.scale).astype(int).clip(0, crop.shape[0] - 1)
        cols = (np.arange(tile.width) * tile.scale).astype(int).clip(0, crop.shape[1] - 1)
        crop = crop[np.ix_(rows, cols)]
    present = set(np.unique(crop).tolist()) - {0}
    return crop.copy(), {k: v for k, v in types.items() if k in present}


class _Source:
    """An external nuclei source opened once per slide."""

    def __init__(self, path: Path, slide_id: str) -> None:
        self.path, self.slide_id = path, slide_id
        self.kind = "folder" if path.is_dir() else path.suffix.lower()
        self._labels = self._contours = None
        try:
            if self.kind in (".json", ".dat"):
                self._contours = read_contours(path)
            elif self.kind != "folder":
                self._labels = read_label_file(path)
        except Exception as e:  # noqa: BLE001 - re-raised naming the slide and file
            raise CaseError(f"cannot read the nuclei file ({type(e).__name__}: {e}). Expected a HoVer-Net "
                            ".mat/.json, a TIAToolbox .dat/.json, a labelled PNG/TIFF/NPY, or a folder "
                            "of <tile_id>.mat|png|tif|npy files.", case_id=slide_id, file=str(path),
                            stage="nuclei") from e

    def tile(self, tile: "TileSpec") -> tuple[np.ndarray, dict[int, int]]:
        if self._contours is not None:
            return contours_to_tile(self._contours, tile)
        if self._labels is not None:
            return labels_to_tile(*self._labels, tile)
        found = [self.path / (tile.tile_id + s) for s in TILE_SUFFIXES if (self.path / (tile.tile_id + s)).exists()]
        if not found:
            raise CaseError(f"no nuclei file for tile {tile.tile_id} in the folder (expected "
                            f"{tile.tile_id}.mat, .png, .tif or .npy).", case_id=self.slide_id,
                            file=str(self.path), stage="nuclei")
        inst, types = read_label_file(found[0])
        if inst.shape != (tile.height, tile.width):
            raise CaseError(f"tile {tile.tile_id}: label map is {inst.shape[1]} x {inst.shape[0]} but the "
                            f"tile is {tile.width} x {tile.height}; segment the tiles written by "
                            "`thyromics pathology tiles` unchanged.", case_id=self.slide_id,
                            file=str(found[0]), stage="nuclei")
        return inst, types


def nuclei_for_tile(source: _Source, tile: "TileSpec", min_area: float,
                    max_area: float | None = None) -> tuple[np.ndarray, dict[int, int], int, int]:
    """The tile's label map from an external source, relabelled 1..N, implausible sizes dropped.

    ``min_area`` / ``max_area`` in tile pixels. Returns the map, the types and the numbers
    of instances dropped as too small and as too large.
    """
    inst, types = source.tile(tile)
    return filter_by_area(inst, types, min_area, max_area)


def filter_by_area(inst: np.ndarray, types: dict[int, int], min_area: float, max_area: float | None = None
                   ) -> tuple[np.ndarray, dict[int, int], int, int]:
    """Drop instances with fewer than ``min_area`` or more than ``max_area`` pixels, renumber 1..N.

    Returns ``(inst, types, n_too_small, n_too_large)``.
    """
    ids, counts = np.unique(inst, return_counts=True)
    fg = ids != 0
    ids, counts = ids[fg], counts[fg]
    small = counts < min_area
    large = counts > max_area if max_area is not None else np.zeros_like(small)
    keep = [int(i) for i in ids[~small & ~large]]
    lut = np.zeros(int(inst.max()) + 1 if inst.size else 1, np.int32)
    lut[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    return (lut[inst], {j + 1: int(types.get(i, 0)) for j, i in enumerate(keep)},
            int(small.sum()), int((large & ~small).sum()))


def relabel(inst: np.ndarray, types: dict[int, int], min_area: float,
            max_area: float | None = None) -> tuple[np.ndarray, dict[int, int]]:
    """Drop instances smaller than ``min_area`` (larger than ``max_area``) pixels; renumber 1..N."""
    out, t, _, _ = filter_by_area(inst, types, min_area, max_area)
    return out, t


def open_source(path: Path, slide_id: str) -> _Source:
    """Open a slide's external nuclei source (raises :class:`CaseError` naming the slide)."""
    if not path.exists():
        raise CaseError("nuclei file or folder not found; check the manifest's nuclei column "
                        "(paths are relative to the CSV's folder).", case_id=slide_id,
                        file=str(path), stage="nuclei")
    return _Source(path, slide_id)
