"""3D Slicer segmentations (``.seg.nrrd``): named segments, in one or several layers.

A Slicer segmentation file is an NRRD label map whose header names every segment:
``SegmentN_Name``, ``SegmentN_LabelValue`` (its voxel value) and ``SegmentN_Layer``.
Segments that do not overlap share one layer (a 3D label map); overlapping segments go
into further layers, stored as a 4D array whose first (``list``) axis is the layer.
A segment's mask is ``layer == label value`` in its layer.

Slicer may save a segmentation cropped to the segments' extent; when the image grid is
given and the segmentation's grid is the same grid shifted by whole voxels (same
spacing and directions), the mask is placed onto the image grid (voxels outside the
segmentation's extent are 0). Coordinates in a ``right-anterior-superior`` space are
turned into the LPS coordinates of DICOM and ITK.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.errors import CaseError
from thyromics.io._filetypes import fail as _fail
from thyromics.io._names import choose_name
from thyromics.io.image import Image

__all__ = ["SlicerSegment", "slicer_segments", "read_slicer_seg", "is_slicer_seg",
           "place_on_grid"]

#: Largest allowed difference of spacing (mm) and direction cosines, and of the
#: whole-voxel shift, when a cropped segmentation is placed onto the image grid.
GRID_TOLERANCE = 1e-3


@dataclass(frozen=True)
class SlicerSegment:
    """One segment of a Slicer segmentation file."""

    index: int
    id: str
    name: str
    label_value: int
    layer: int


def _header(path: Path) -> dict:
    import nrrd

    try:
        return nrrd.read_header(str(path))
    except Exception as e:  # noqa: BLE001 - pynrrd raises several kinds
        raise _fail(path, f"cannot read the NRRD header ({e}); is the file corrupt?") from e


def is_slicer_seg(path: str | Path) -> bool:
    """True for an NRRD file whose header names Slicer segments (``Segment0_ID``...)."""
    path = Path(path)
    if not path.name.lower().endswith((".nrrd", ".nhdr")) or not path.is_file():
        return False
    try:
        return any(k.startswith("Segment0_") for k in _header(path))
    except CaseError:
        return False


def slicer_segments(path: str | Path, header: dict | None = None) -> list[SlicerSegment]:
    """The segments named in a Slicer segmentation's header, in file order."""
    path = Path(path)
    header = _header(path) if header is None else header
    out = []
    n = 0
    while f"Segment{n}_ID" in header or f"Segment{n}_Name" in header:
        get = lambda key, default="": str(header.get(f"Segment{n}_{key}", default)).strip()  # noqa: E731
        try:
            value, layer = int(get("LabelValue", 1)), int(get("Layer", 0))
        except ValueError as e:
            raise _fail(path, f"Segment{n}: label value {get('LabelValue')!r} or layer "
                              f"{get('Layer')!r} is not an integer.") from e
        out.append(SlicerSegment(n, get("ID"), get("Name") or get("ID") or f"Segment {n}",
                                 value, layer))
        n += 1
    return out


def _geometry(path: Path, header: dict, ndim_domain: int):
    space = str(header.get("space", "left-posterior-superior")).lower()
    if space not in ("left-posterior-superior", "right-anterior-superior", "lps", "ras"):
        raise _fail(path, f"NRRD space {space!r}: expected left-posterior-superior or "
                          "right-anterior-superior.")
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * header["dimension"])]
    dirs = np.asarray(header.get("space directions"), float)
    rows = [dirs[i] for i, k in enumerate(kinds) if k in ("domain", "space")]
    if len(rows) != ndim_domain:
        raise _fail(path, f"expected {ndim_domain} spatial axes, found kinds {kinds}.")
    m = np.column_stack(rows)  # columns: axis vectors
    origin = np.asarray(header.get("space origin", np.zeros(3)), float)
    if space in ("right-anterior-superior", "ras"):
        flip = np.diag([-1.0, -1.0, 1.0])
        m, origin = flip @ m, flip @ origin
    spacing = np.linalg.norm(m, axis=0)
    direction = m / spacing
    return tuple(spacing.tolist()), tuple(origin.tolist()), tuple(direction.ravel().tolist())


def read_slicer_seg(path: str | Path, segment: str | None = None, *, label: int | None = None,
                    reference=None) -> Image:
    """One segment of a Slicer ``.seg.nrrd`` as a 0/1 mask.

    Parameters
    ----------
    path : path
        The segmentation file.
    segment : str, optional
        Segment name (case-insensitive). May be omitted when the file holds one segment,
        or when ``label`` picks one.
    label : int, optional
        Without ``segment``: the segment with this label value (refused when segments
        of several layers share it).
    reference : Image or Header, optional
        The image grid: a segmentation cropped to its extent is placed onto it (see
        the module notes).

    Raises
    ------
    CaseError
        ``stage="validate"`` for an unknown or ambiguous segment; ``stage="read"`` for an
        unreadable file.
    """
    import nrrd

    path = Path(path)
    header = _header(path)
    segments = slicer_segments(path, header)
    if segment is None and label is not None:
        hits = [s for s in segments if s.label_value == int(label)]
        if len(hits) != 1:
            listed = ", ".join(f"{s.name!r} (label {s.label_value}, layer {s.layer})"
                               for s in segments)
            raise CaseError(f"{'no' if not hits else len(hits)} segment(s) with label value "
                            f"{label}; the file holds {listed}. Choose one by name with a "
                            "'roi' column or --roi.", file=str(path), stage="validate")
        chosen = hits[0]
    else:
        chosen = segments[choose_name([s.name for s in segments], segment, path, "segment")]
    try:
        data, header = nrrd.read(str(path), index_order="C")
    except Exception as e:  # noqa: BLE001
        raise _fail(path, f"cannot read the NRRD data ({e}); is the file truncated?") from e
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * data.ndim)]
    if data.ndim == 4:
        layer_axis = kinds.index("list") if "list" in kinds else 0
        layer_axis_c = data.ndim - 1 - layer_axis  # C order reverses the file's axes
        if not 0 <= chosen.layer < data.shape[layer_axis_c]:
            raise _fail(path, f"segment {chosen.name!r} is in layer {chosen.layer}, the file "
                              f"has {data.shape[layer_axis_c]} layers.")
        data = np.take(data, chosen.layer, axis=layer_axis_c)
    elif data.ndim == 3 and chosen.layer != 0:
        raise _fail(path, f"segment {chosen.name!r} is in layer {chosen.layer}, the file has one.")
    elif data.ndim != 3:
        raise _fail(path, f"expected a 3D or 4D (layered) label map, found {data.ndim}D.")
    spacing, origin, direction = _geometry(path, header, 3)
    mask = Image((data == chosen.label_value).astype(np.uint8), spacing, origin, direction,
                 str(path))
    return place_on_grid(mask, reference) if reference is not None else mask


def place_on_grid(mask: Image, reference) -> Image:
    """``mask`` on ``reference``'s grid when it is that grid shifted by whole voxels.

    Returns the mask unchanged when the grids are equal or do not line up (same spacing
    and directions, whole-voxel shift); the caller's geometry check then reports them.
    Refuses (``CaseError``) a mask whose lesion voxels fall outside the reference grid.
    """
    from thyromics.io.readers import geometry_differences

    if not geometry_differences(reference, mask, GRID_TOLERANCE) or mask.ndim != 3:
        return mask
    if np.abs(np.subtract(reference.spacing, mask.spacing)).max() > GRID_TOLERANCE or \
            np.abs(np.subtract(reference.direction, mask.direction)).max() > GRID_TOLERANCE:
        return mask
    d = np.asarray(reference.direction).reshape(3, 3)
    shift = (np.subtract(mask.origin, reference.origin) @ d) / np.asarray(reference.spacing)
    whole = np.round(shift)
    if np.abs(shift - whole).max() > GRID_TOLERANCE * 10:
        return mask
    off = whole.astype(int)[::-1]  # numpy order (z, y, x)
    shape = tuple(reversed(reference.size))
    out = np.zeros(shape, np.uint8)
    src = mask.array
    lo = np.maximum(off, 0)
    hi = np.minimum(off + np.asarray(src.shape), shape)
    if np.any(hi <= lo):
        inside = 0
    else:
        sl_out = tuple(slice(a, b) for a, b in zip(lo, hi))
        sl_src = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, off))
        out[sl_out] = src[sl_src]
        inside = int(out.sum())
    total = int(src.sum())
    if inside != total:
        raise CaseError(f"{total - inside} of the segment's {total} voxels lie outside the "
                        f"image grid (size {reference.size}): the segmentation reaches beyond "
                        "the image, or belongs to another image.", file=mask.source,
                        stage="validate")
    return Image(out, reference.spacing, reference.origin, reference.direction, mask.source)


