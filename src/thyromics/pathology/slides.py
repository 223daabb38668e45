"""Slides and tiles: the slide manifest, a reader, tissue detection and the tile grid.

Whole-slide images (pyramidal TIFF, SVS, NDPI, ...) are read through ``tiffslide``
(tifffile + zarr, no C library); plain images (PNG, JPG, BMP, single-page TIFF) through
Pillow as a one-level slide. The resolution (micrometres per pixel at level 0) comes from
the manifest's ``mpp`` column when given, else from a trusted source in the file (see
:mod:`thyromics.pathology._slide_io`: scanner metadata, or TIFF tags in cm/mm with a
plausible value); a slide without either is refused by the tiles stage, which asks for
an ``mpp`` column -- every size downstream is in micrometres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.pathology._slide_io import MPP_RANGE, Resolution, check_tiff, one_line, plausible, to_rgb8

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.pathology.settings import TileSettings

__all__ = ["SlideRow", "read_slide_manifest", "Slide", "open_slide", "tissue_mask",
           "TileSpec", "tile_grid", "read_tile", "PLAIN_SUFFIXES"]

PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_REQUIRED = ("slide_id", "patient_id", "path")


@dataclass(frozen=True)
class SlideRow:
    """One row of the slide manifest (paths resolved against the CSV's folder)."""

    slide_id: str
    patient_id: str
    path: Path
    mpp: float | None = None
    nuclei: Path | None = None
    region: str | None = None


def read_slide_manifest(path: str | Path) -> list[SlideRow]:
    """Read ``SLIDES.csv``: ``slide_id, patient_id, path`` (+ ``mpp``, ``nuclei``, ``region``).

    ``mpp`` overrides the file's resolution (micrometres per level-0 pixel); ``nuclei``
    names an external segmenter's output for the slide (file or folder of per-tile
    files); ``region`` is a free annotation (e.g. ``tumour core``) carried to the tables.
    """
    from thyromics.io.tables import read_table

    path = Path(path)
    frame = read_table(path, what="the slide manifest", text=True,
                       hint="Write a CSV with the columns slide_id, patient_id, path.")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(f"file {path}: the slide manifest lacks the column(s) {missing}; "
                         f"found {list(frame.columns)}. Required: slide_id, patient_id, path.")
    dup = frame["slide_id"][frame["slide_id"].duplicated()].unique().tolist()
    if dup:
        raise InputError(f"file {path}: slide_id must be unique; repeated: {dup[:10]}.")
    rows = []
    for i, r in frame.iterrows():
        if not r["slide_id"] or not r["path"]:
            raise InputError(f"file {path}, row {i + 2}: empty slide_id or path.")
        mpp = None
        if r.get("mpp", ""):
            try:
                mpp = float(r["mpp"])
            except ValueError:
                raise InputError(f"file {path}, row {i + 2}: mpp {r['mpp']!r} is not a number "
                                 "(micrometres per pixel, e.g. 0.25).") from None
            if not plausible(mpp):
                raise InputError(f"file {path}, row {i + 2}: mpp {mpp:g} um per pixel is outside the "
                                 f"plausible {MPP_RANGE[0]}-{MPP_RANGE[1]} (0.25 ~ 40x, 0.5 ~ 20x). Give "
                                 "micrometres per level-0 pixel, not millimetres or dpi.")
        nuclei = r.get("nuclei", "")
        rows.append(SlideRow(slide_id=r["slide_id"], patient_id=r["patient_id"] or r["slide_id"],
                             path=(path.parent / r["path"]).resolve(), mpp=mpp,
                             nuclei=(path.parent / nuclei).resolve() if nuclei else None,
                             region=r.get("region", "") or None))
    if not rows:
        raise InputError(f"file {path}: the slide manifest has no rows.")
    return rows


class Slide:
    """A slide opened for reading: level-0 size, pyramid levels, resolution.

    ``read(x, y, level, width, height)`` returns RGB ``uint8`` of shape ``(height, width, 3)``
    with ``(x, y)`` in level-0 pixels (the OpenSlide convention).
    """

    def __init__(self, path: Path, *, mpp: float | None, objective: float | None,
                 dimensions: list[tuple[int, int]], downsamples: list[float], reader,
                 mpp_source: str = "", mpp_note: str = "", slide_id: str | None = None) -> None:
        self.path, self.mpp, self.objective = path, mpp, objective
        self.mpp_source, self.slide_id = mpp_source or ("given" if mpp is not None else ""), slide_id
        self.mpp_note = mpp_note or ("" if mpp is not None else "no resolution")
        self.level_dimensions, self.level_downsamples = dimensions, downsamples
        self._reader = reader

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 ``(width, height)``."""
        return self.level_dimensions[0]

    def read(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        try:
            return self._reader(x, y, level, width, height)
        except CaseError:
            raise
        except Exception as e:  # noqa: BLE001 - one line naming the slide, level and region
            raise CaseError(f"cannot read the pixels of level {level} at ({x}, {y}), {width} x {height} "
                            f"({one_line(e)}). The file is probably truncated or corrupt: copy or "
                            "re-export the slide.", case_id=self.slide_id,
                            file=str(self.path), stage="read") from e

    def best_level(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample``."""
        ok = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * (1 + 1e-6)]
        return max(ok, key=lambda i: self.level_downsamples[i]) if ok else 0

    def thumbnail(self, max_side: int) -> tuple[np.ndarray, float]:
        """RGB thumbnail whose longest side is at most ``max_side``; and level-0 px per thumb px."""
        from skimage.transform import resize

        w, h = self.dimensions
        ds = max(1.0, max(w, h) / max_side)
        level = self.best_level(ds)
        lw, lh = self.level_dimensions[level]
        img = self.read(0, 0, level, lw, lh)
        out = (max(1, round(h / ds)), max(1, round(w / ds)))
        if img.shape[:2] != out:
            img = (resize(img, out, order=1, anti_aliasing=True, preserve_range=True)
                   .round().astype(np.uint8))
        return img, w / out[1]


def open_slide(path: Path, *, mpp: float | None = None, slide_id: str | None = None) -> Slide:
    """Open a whole-slide image or a plain image; ``mpp`` (the manifest's) overrides the file.

    ``Slide.mpp`` is None when no trusted resolution exists; ``Slide.mpp_note`` says what
    the file held instead.
    """
    path = Path(path)
    if not path.exists():
        raise CaseError("slide file not found. Check the path in the slide manifest (relative "
                        "to the CSV's folder).", case_id=slide_id, file=str(path), stage="read")
    try:
        if path.suffix.lower() in PLAIN_SUFFIXES:
            slide = _open_plain(path, mpp)
        else:
            if (why := check_tiff(path)) is not None:
                raise CaseError(f"{why}.", case_id=slide_id, file=str(path), stage="read")
            slide = _open_wsi(path, mpp)
    except CaseError:
        raise
    except Exception as e:  # noqa: BLE001 - re-raised naming the slide
        raise CaseError(f"cannot read as a slide or image ({one_line(e)}). Expected a "
                        "pyramidal TIFF/SVS/NDPI or a PNG/JPG/TIFF image.", case_id=slide_id,
                        file=str(path), stage="read") from e
    slide.slide_id = slide_id
    return slide


def _plain_array(im) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im).astype(np.uint16)
    if im.mode == "F":
        return np.asarray(im)
    if im.mode in ("I", "CMYK", "YCbCr", "LAB", "HSV"):
        if im.mode == "I":
            raise ValueError("32-bit integer images are not supported; save the image as 8- or 16-bit RGB")
        return np.asarray(im.convert("RGB"))
    return np.asarray(im.convert("RGBA") if im.mode in ("P", "LA", "RGBA", "PA") else im.convert("RGB"))


def _open_plain(path: Path, mpp: float | None) -> Slide:
    from PIL import Image

    with Image.open(path) as im:
        arr = to_rgb8(_plain_array(im))
    h, w = arr.shape[:2]

    def reader(x, y, level, width, height):
        out = np.full((height, width, 3), 255, np.uint8)
        crop = arr[max(y, 0):y + height, max(x, 0):x + width]
        out[max(-y, 0):max(-y, 0) + crop.shape[0], max(-x, 0):max(-x, 0) + crop.shape[1]] = crop
        return out

    res = (Resolution(mpp, "slide manifest") if mpp is not None else
           Resolution(None, "", f"a {path.suffix.lower()} image carries no scan resolution"))
    return Slide(path, mpp=res.mpp, objective=None, dimensions=[(w, h)], downsamples=[1.0], reader=reader,
                 mpp_source=res.source, mpp_note=res.note)


def _open_wsi(path: Path, mpp: float | None) -> Slide:
    import tiffslide

    from thyromics.pathology._slide_io import trusted_resolution

    ts = tiffslide.TiffSlide(str(path))
    props = dict(ts.properties)
    objective = props.get("tiffslide.objective-power")
    res = Resolution(mpp, "slide manifest") if mpp is not None else trusted_resolution(path, props)

    def reader(x, y, level, width, height):
        return to_rgb8(ts.read_region((int(x), int(y)), level, (int(width), int(height)), as_array=True))

    return Slide(path, mpp=res.mpp, objective=float(objective) if objective else None,
                 dimensions=[tuple(map(int, d)) for d in ts.level_dimensions],
                 downsamples=[float(d) for d in ts.level_downsamples], reader=reader,
                 mpp_source=res.source, mpp_note=res.note)


def tissue_mask(rgb: np.ndarray) -> np.ndarray:
    """Tissue on a thumbnail: saturated (HSV saturation above Otsu's threshold, at least
    0.05, and not white) or darker than glass (grey < 220 of 255; the CRIT/iTED study's code,
    ``4.1_wsi_processing_multi_tissue.py`` of github.com/Spr1te123/THCA-ITH, used 235).

    Slide background is bright and unsaturated; stained tissue is saturated or darker.
    Gaps are closed (3-pixel disc), holes up to 0.1% of the thumbnail filled and specks
    of that size removed.
    """
    from skimage.color import rgb2hsv
    from skimage.filters import threshold_otsu
    from scipy.ndimage import binary_closing
    from skimage.morphology import disk, remove_small_holes, remove_small_objects

    hsv = rgb2hsv(rgb)
    sat, val = hsv[..., 1], hsv[..., 2]
    thr = threshold_otsu(sat) if np.ptp(sat) > 0 else 1.0
    grey = rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    mask = ((sat > max(thr, 0.05)) & (val < 0.95)) | (grey < 220)
    mask = binary_closing(mask, disk(3), border_value=0)
    small = max(1, mask.size // 1000)
    return remove_small_objects(remove_small_holes(mask, max_size=small), max_size=small)


@dataclass(frozen=True)
class TileSpec:
    """One tile: grid position, level-0 footprint, the region it owns, its resolution.

    ``own_*`` bound the level-0 region whose nuclei this tile owns: the midlines of its
    overlaps with the neighbouring grid positions (slide edges at the border), so the
    owned regions of a slide's grid partition it and each nucleus is counted once.
    """

    tile_id: str
    col: int
    row: int
    x0: int
    y0: int
    w0: int
    h0: int
    width: int
    height: int
    scale: float
    mpp: float | None
    own_x0: float
    own_y0: float
    own_x1: float
    own_y1: float
    tissue_fraction: float = float("nan")


def _starts(length: int, size: int, step: int) -> list[int]:
    """Tile starts on a regular grid of ``step``; the last tile ends at the slide edge, partial.

    (Placing a last full tile flush with the edge made it overlap its neighbour by up to
    ``size - 1`` pixels.) Every tile but the first starts ``step`` after the previous one,
    so each overlap is ``size - step`` pixels and a partial last tile is wider than that.
    """
    starts = [0]
    while starts[-1] + size < length:
        starts.append(starts[-1] + step)
    return starts


def _owned(starts: list[int], size: int, length: int) -> list[tuple[float, float]]:
    bounds = [0.0] + [(starts[i + 1] + starts[i] + size) / 2 for i in range(len(starts) - 1)]
    return list(zip(bounds, bounds[1:] + [float(length)]))


def output_scale(slide: Slide, settings: "TileSettings", slide_id: str | None = None) -> float:
    """Level-0 pixels per output pixel for the requested ``mpp`` or magnification (1 = level 0).

    Refuses a slide without a trusted resolution (every size downstream is in micrometres)
    and an output resolution that would upsample level 0 by more than ``max_upsample``.
    """
    if slide.mpp is None:
        raise CaseError(f"no trusted resolution: found {slide.mpp_note}. Add an mpp column to the slide "
                        "manifest (micrometres per level-0 pixel: about 0.25 at 40x, 0.5 at 20x).",
                        case_id=slide_id, file=str(slide.path), stage="tiles")
    scale, asked = 1.0, "level 0"
    if settings.mpp is not None:
        scale, asked = settings.mpp / slide.mpp, f"--mpp {settings.mpp:g}"
    elif settings.magnification is not None:
        if slide.objective is None:
            raise CaseError(f"--magnification {settings.magnification} asked but the slide has no "
                            "objective power; use --mpp instead.",
                            case_id=slide_id, file=str(slide.path), stage="tiles")
        scale, asked = slide.objective / settings.magnification, f"--magnification {settings.magnification:g}"
    if scale * settings.max_upsample < 1 - 1e-9:
        raise CaseError(f"{asked} would upsample the slide {1 / scale:.3g}x (level 0 is {slide.mpp:.4g} um per "
                        f"pixel, from {slide.mpp_source}); at most {settings.max_upsample:g}x is allowed, as "
                        "upsampling adds no detail. Ask for --mpp of at least "
                        f"{slide.mpp / settings.max_upsample:.4g}, or check the slide's mpp.",
                        case_id=slide_id, file=str(slide.path), stage="tiles")
    return scale


def tile_grid(slide: Slide, settings: "TileSettings", mask: np.ndarray, mask_scale: float,
              slide_id: str | None = None) -> tuple[list[TileSpec], int]:
    """The tiles of a slide with at least ``min_tissue`` tissue; and the grid size.

    The tissue fraction is the mean of the thumbnail mask over the tile's whole level-0
    footprint (the THCA-ITH code, ``4.1_wsi_processing_multi_tissue.py``, read a level-0
    corner crop instead).
    """
    scale = output_scale(slide, settings, slide_id)
    w, h = slide.dimensions
    size0 = max(1, round(settings.tile_size * scale))
    step0 = max(1, round((settings.tile_size - settings.overlap) * scale))
    xs, ys = _starts(w, size0, step0), _starts(h, size0, step0)
    own_x, own_y = _owned(xs, size0, w), _owned(ys, size0, h)
    mpp = slide.mpp * scale if slide.mpp is not None else None
    tiles = []
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            w0, h0 = min(size0, w - x), min(size0, h - y)
            my0, mx0 = int(y / mask_scale), int(x / mask_scale)
            my1 = max(my0 + 1, math.ceil((y + h0) / mask_scale))
            mx1 = max(mx0 + 1, math.ceil((x + w0) / mask_scale))
            frac = float(mask[my0:my1, mx0:mx1].mean()) if mask[my0:my1, mx0:mx1].size else 0.0
            if frac < settings.min_tissue:
                continue
            tiles.append(TileSpec(tile_id=f"r{r:04d}_c{c:04d}", col=c, row=r, x0=x, y0=y, w0=w0, h0=h0,
                                  width=max(1, round(w0 / scale)), height=max(1, round(h0 / scale)),
                                  scale=scale, mpp=mpp, own_x0=own_x[c][0], own_x1=own_x[c][1],
                                  own_y0=own_y[r][0], own_y1=own_y[r][1], tissue_fraction=frac))
    return tiles, len(xs) * len(ys)


def read_tile(slide: Slide, tile: TileSpec) -> np.ndarray:
    """The tile's RGB pixels at the output resolution, read from the closest finer level."""
    from skimage.transform import resize

    level = slide.best_level(tile.scale)
    ds = slide.level_downsamples[level]
    img = slide.read(tile.x0, tile.y0, level, max(1, round(tile.w0 / ds)), max(1, round(tile.h0 / ds)))
    if img.shape[:2] != (tile.height, tile.width):
        img = (resize(img, (tile.height, tile.width), order=1, anti_aliasing=ds < tile.scale,
                      preserve_range=True).round().astype(np.uint8))
    return img
