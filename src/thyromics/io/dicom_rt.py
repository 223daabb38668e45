"""DICOM RTSTRUCT: structures (ROIs) drawn as planar contours, turned into voxel masks.

Which voxels are inside
-----------------------
A voxel belongs to a structure when its **centre** lies inside the structure's contours
on its slice by the **even-odd rule**: a ray from the centre crosses the contours of
that slice an odd number of times. So a contour inside another is a hole, a contour
inside a hole is an island again, and where two contours of one structure overlap the
overlap is outside (XOR). A centre exactly on an edge follows the crossing-number
convention of W. R. Franklin's PNPOLY (an edge counts when one end has a row index at
or below the centre's and the other above it, and it crosses the centre's row strictly
to the right of the centre): edges on the low-index side of a region (smaller column or
row index) are inside, edges on the high-index side outside, so two contours sharing an
edge never both claim a voxel. No partial-volume fraction is
computed: a voxel is in or out.

Which slice a contour belongs to
--------------------------------
Each contour must be ``CLOSED_PLANAR`` and lie in one slice plane of the image grid
(its points' distance along the slice normal may vary by at most 0.1 slice). When the
contour names its slice (``ContourImageSequence``) and that ``SOPInstanceUID`` is in
the image series, the contour goes on that slice (its position must agree). After
anonymisation the referenced instances are often absent; the contour is then placed on
the slice at its position, within ``slice_tolerance`` (0.1 slice) of a slice centre:
a contour between slices was drawn on another series and is refused. Either way the
structure's ``ReferencedFrameOfReferenceUID`` must be the image's
``FrameOfReferenceUID``: contours in another frame of reference need a registration.
A contour reaching outside the image is refused (its lesion would be cut).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.io._filetypes import fail as _fail
from thyromics.io._names import choose_name
from thyromics.io.image import Image

__all__ = ["RoiInfo", "rtstruct_rois", "read_rtstruct", "rasterize_polygons",
           "is_rtstruct", "RTSTRUCT_SOP_CLASS"]

RTSTRUCT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
#: Largest allowed distance (in slices) of a contour from the slice it is put on.
DEFAULT_SLICE_TOLERANCE = 0.1


@dataclass(frozen=True)
class RoiInfo:
    """One structure of an RTSTRUCT file."""

    number: int
    name: str
    frame_of_reference_uid: str
    n_contours: int
    geometric_types: tuple[str, ...]


def is_rtstruct(ds) -> bool:
    """True for an RTSTRUCT dataset (by SOP class or modality)."""
    return str(ds.get("SOPClassUID", "")) == RTSTRUCT_SOP_CLASS or \
        str(ds.get("Modality", "")).upper() == "RTSTRUCT"


def _read(path: Path):
    import pydicom

    try:
        ds = pydicom.dcmread(path)
    except Exception as e:  # noqa: BLE001 - any parse failure is the file's
        raise _fail(path, f"cannot read the file as DICOM RTSTRUCT ({e}); is it corrupt or "
                          "truncated?") from e
    if not is_rtstruct(ds):
        raise _fail(path, f"expected a DICOM RTSTRUCT, found modality "
                          f"{ds.get('Modality', '(none)')!r}.")
    return ds


def rtstruct_rois(path: str | Path, ds=None) -> list[RoiInfo]:
    """The structures of an RTSTRUCT file, in file order (``StructureSetROISequence``)."""
    path = Path(path)
    ds = _read(path) if ds is None else ds
    contours = {int(rc.get("ReferencedROINumber", -1)): rc
                for rc in ds.get("ROIContourSequence", []) or []}
    out = []
    for roi in ds.get("StructureSetROISequence", []) or []:
        number = int(roi.get("ROINumber", -1))
        seq = contours.get(number)
        cs = list(seq.get("ContourSequence", []) or []) if seq is not None else []
        types = tuple(sorted({str(c.get("ContourGeometricType", "")) for c in cs}))
        out.append(RoiInfo(number, str(roi.get("ROIName", "")).strip() or f"ROI {number}",
                           str(roi.get("ReferencedFrameOfReferenceUID", "")), len(cs), types))
    return out


def rasterize_polygons(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Fill polygons on a pixel grid by the even-odd rule, testing pixel centres.

    Parameters
    ----------
    polygons : list of numpy.ndarray
        Each ``(m, 2)`` vertices ``(x, y)`` in continuous pixel indices (pixel
        ``[j, i]`` has its centre at ``(i, j)``); closed implicitly (last to first).
    shape : (int, int)
        ``(rows, columns)`` of the output.

    Returns
    -------
    numpy.ndarray
        ``bool`` ``(rows, columns)``: True where the centre is inside by the even-odd
        rule, with PNPOLY's convention on edges (see the module notes). Vectorised
        scanline: the crossings of every edge with every pixel row are sorted along the
        row and paired, so the cost grows with edges x rows crossed, not pixels.
    """
    ny, nx = shape
    out = np.zeros((ny, nx), bool)
    segs = []
    for poly in polygons:
        p = np.asarray(poly, float)
        if p.ndim != 2 or p.shape[0] < 3:
            continue
        q = np.roll(p, -1, axis=0)
        segs.append(np.column_stack([p, q]))
    if not segs:
        return out
    e = np.concatenate(segs)
    x0, y0, x1, y1 = e.T
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    # rows j crossed by an edge: one end <= j, the other > j  (PNPOLY: (y0 > j) != (y1 > j))
    j_first = np.ceil(lo).clip(0, None)
    j_last = (np.ceil(hi) - 1).clip(None, ny - 1)
    n_rows = np.maximum(j_last - j_first + 1, 0).astype(np.int64)
    keep = n_rows > 0
    if not keep.any():
        return out
    x0, y0, x1, y1, j_first, n_rows = (a[keep] for a in (x0, y0, x1, y1, j_first, n_rows))
    edge = np.repeat(np.arange(len(n_rows)), n_rows)
    offsets = np.arange(int(n_rows.sum())) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    rows = j_first[edge] + offsets
    t = (rows - y0[edge]) / (y1[edge] - y0[edge])
    xs = x0[edge] + t * (x1[edge] - x0[edge])
    # every row keeps all the edges crossing it, so each row has an even number of xs
    order = np.lexsort((xs, rows))
    rows, xs = rows[order].astype(np.int64), xs[order]
    counts = np.bincount(rows, minlength=ny)
    starts = np.cumsum(counts) - counts
    rank = np.arange(rows.size) - starts[rows]
    a, b = rank % 2 == 0, rank % 2 == 1
    # inside: xs[2m] <= i < xs[2m+1]  <=>  ceil(xs[2m]) <= i < ceil(xs[2m+1])
    i0 = np.ceil(xs[a]).clip(0, nx).astype(np.int64)
    i1 = np.ceil(xs[b]).clip(0, nx).astype(np.int64)
    acc = np.zeros((ny, nx + 1), np.int32)
    np.add.at(acc, (rows[a], i0), 1)
    np.add.at(acc, (rows[b], i1), -1)
    out = np.cumsum(acc[:, :nx], axis=1) > 0
    return out


def read_rtstruct(path: str | Path, geometry, roi: str | None = None, *,
                  slice_tolerance: float = DEFAULT_SLICE_TOLERANCE) -> Image:
    """Rasterise one structure of an RTSTRUCT onto an image series' voxel grid.

    Parameters
    ----------
    path : path
        The RTSTRUCT file.
    geometry : SeriesGeometry
        The image series (:func:`thyromics.io.dicom_series.series_geometry`).
    roi : str, optional
        Structure name (case-insensitive); may be omitted when the file holds one.
    slice_tolerance : float
        Largest distance, in slices, between a contour and the slice centre it is put
        on.

    Returns
    -------
    Image
        ``uint8`` 0/1 mask on the series grid (see the module notes for the rule).

    Raises
    ------
    CaseError
        ``stage="validate"`` for an unknown or ambiguous ROI name; ``stage="read"`` for
        a frame of reference that differs from the image's, a non-closed contour, a
        contour off the image grid or between slices, or a slice reference that
        disagrees with the contour's position.
    """
    path = Path(path)
    ds = _read(path)
    rois = rtstruct_rois(path, ds)
    info = rois[choose_name([r.name for r in rois], roi, path, "ROI")]
    image_for = geometry.frame_of_reference_uid
    if not image_for:
        raise _fail(path, f"the image series {geometry.folder} has no FrameOfReferenceUID, "
                          f"so thyromics cannot check that ROI {info.name!r} was drawn on it. "
                          "Use the DICOM series the structure set was drawn on.")
    roi_for = info.frame_of_reference_uid or _only_frame(ds)
    if roi_for and roi_for != image_for:
        raise _fail(path, f"ROI {info.name!r} is drawn in frame of reference {roi_for}, the "
                          f"image series {geometry.folder} is in {image_for}: the contours "
                          "are not in this image's coordinates (another scan, or a "
                          "registration is missing). Use the series the structure set "
                          "references.")
    seq = next((rc for rc in ds.get("ROIContourSequence", []) or []
                if int(rc.get("ReferencedROINumber", -1)) == info.number), None)
    contours = list(seq.get("ContourSequence", []) or []) if seq is not None else []
    if not contours:
        raise _fail(path, f"ROI {info.name!r} has no contours: expected closed planar "
                          "contours of the lesion.", stage="validate")
    nx, ny, nz = geometry.size
    by_slice: dict[int, list[np.ndarray]] = {}
    for n, c in enumerate(contours, start=1):
        k, poly = _place(path, info.name, n, c, geometry, slice_tolerance)
        by_slice.setdefault(k, []).append(poly)
    mask = np.zeros((nz, ny, nx), np.uint8)
    for k, polys in by_slice.items():
        mask[k] = rasterize_polygons(polys, (ny, nx))
    return Image(mask, geometry.spacing, geometry.origin, geometry.direction, str(path))


def _only_frame(ds) -> str:
    frames = [str(f.get("FrameOfReferenceUID", ""))
              for f in ds.get("ReferencedFrameOfReferenceSequence", []) or []]
    return frames[0] if len(set(frames)) == 1 else ""


def _place(path: Path, name: str, n: int, c, geometry, tol: float) -> tuple[int, np.ndarray]:
    """``(slice index, (m, 2) polygon in pixel indices)`` of one contour."""
    kind = str(c.get("ContourGeometricType", "")).upper()
    what = f"ROI {name!r}, contour {n}"
    if kind != "CLOSED_PLANAR":
        raise _fail(path, f"{what} is {kind or 'of no ContourGeometricType'}: expected "
                          "CLOSED_PLANAR contours (points and open lines enclose no voxels).")
    data = np.asarray([float(v) for v in c.get("ContourData", [])], float)
    if data.size < 9 or data.size % 3:
        raise _fail(path, f"{what} has {data.size} coordinates: expected x, y, z triplets of "
                          "at least 3 points.")
    idx = geometry.to_index(data.reshape(-1, 3))
    nx, ny, nz = geometry.size
    kk = idx[:, 2]
    if float(kk.max() - kk.min()) > 2 * tol:
        raise _fail(path, f"{what} is not in a slice plane of the image: its points span "
                          f"{float(kk.max() - kk.min()):.2f} slices along the slice normal "
                          "(drawn on another orientation?).")
    k_pos = float(kk.mean())
    k = int(round(k_pos))
    ref = None
    for item in c.get("ContourImageSequence", []) or []:
        ref = geometry.slice_of(str(item.get("ReferencedSOPInstanceUID", "")))
        if ref is not None:
            break
    step = geometry.spacing[2]
    z_text = f"{k_pos * step:.2f} mm from the first slice"
    if ref is not None:
        if abs(k_pos - ref) > 0.5:
            raise _fail(path, f"{what} references slice {ref} "
                              f"({Path(geometry.files[ref]).name}) but lies {z_text}, "
                              f"{abs(k_pos - ref):.2f} slices away: the structure set and the "
                              "image disagree.")
        k = ref
    elif not -tol <= k_pos <= nz - 1 + tol:
        raise _fail(path, f"{what} lies {z_text}, outside the image's {nz} slices "
                          f"(0 to {(nz - 1) * step:.2f} mm): the image is cropped or is "
                          "another series.")
    elif abs(k_pos - k) > tol:
        raise _fail(path, f"{what} lies {z_text}, {abs(k_pos - k):.2f} slices from the nearest "
                          f"slice centre (tolerance {tol:g}): it was drawn on a series with "
                          "other slice positions. Use that series as the image.")
    xy = idx[:, :2]
    if xy[:, 0].min() < -0.5 or xy[:, 1].min() < -0.5 or xy[:, 0].max() > nx - 0.5 \
            or xy[:, 1].max() > ny - 0.5:
        raise _fail(path, f"{what} (slice {k}) reaches outside the image: x from "
                          f"{xy[:, 0].min():.1f} to {xy[:, 0].max():.1f}, y from "
                          f"{xy[:, 1].min():.1f} to {xy[:, 1].max():.1f} voxels on a "
                          f"{nx} x {ny} grid. The lesion would be cut; use the uncropped "
                          "image.")
    return k, xy
