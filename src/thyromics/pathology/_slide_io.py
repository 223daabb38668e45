"""Reading slide files safely: a trusted resolution, correct bit depth, a clear line for a broken file.

* **Resolution.** A micrometre-per-pixel value is trusted only from the slide manifest's
  ``mpp`` column, from a scanner's own metadata (Aperio ``MPP``, OME
  ``PhysicalSizeX``/``Y``, the Leica / Philips properties ``tiffslide`` parses) or from
  TIFF resolution tags in centimetres or millimetres -- and only when the value is
  plausible for a microscope (:data:`MPP_RANGE`). Inch tags are not trusted: 72, 96 and
  300 dpi are the defaults of image software (72 dpi reads as 352.8 um per pixel).
* **Bit depth.** 16-bit samples are scaled to 8 bits (``round(v / 257)``); float samples
  must lie in [0, 1]; other sample types are refused (they used to wrap modulo 256).
* **Broken files.** A TIFF whose image data runs past the end of the file, or whose
  structure tifffile cannot parse, is refused at opening with one line saying so; a
  decoder error while reading pixels becomes one line naming the level and region.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.errors import one_line

__all__ = ["MPP_RANGE", "Resolution", "to_rgb8", "check_tiff", "trusted_resolution", "one_line"]

#: Plausible micrometres per pixel of a microscope image (about 400x down to 0.5x).
MPP_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Resolution:
    """A slide's level-0 resolution: ``mpp`` (None when not trusted), where it came from, why not."""

    mpp: float | None
    source: str
    note: str = ""


def plausible(mpp: float) -> bool:
    return math.isfinite(mpp) and MPP_RANGE[0] <= mpp <= MPP_RANGE[1]


def to_rgb8(a: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` from a reader's array: grey repeated, RGBA composited on white, bit depth scaled.

    Raises ``ValueError`` for sample types that have no defined 8-bit mapping.
    """
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB(A) or grey image, found an array of shape {a.shape}")
    if a.dtype == np.uint8:
        f = None
    elif a.dtype == np.uint16:
        f = a.astype(np.float64) / 257.0
    elif a.dtype == bool:
        f = a.astype(np.float64) * 255.0
    elif np.issubdtype(a.dtype, np.floating):
        finite = a[np.isfinite(a)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            raise ValueError(f"float samples must lie in [0, 1]; found {finite.min():g} to {finite.max():g}")
        f = np.nan_to_num(a.astype(np.float64), nan=1.0) * 255.0
    else:
        raise ValueError(f"{a.dtype} samples are not supported (expected 8- or 16-bit unsigned, or float in [0, 1])")
    if f is not None:
        a = np.clip(np.round(f), 0, 255).astype(np.uint8)
    if a.shape[2] == 4:  # RGBA: composite on white (slide background)
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(a[..., :3])


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(" ".join(record.getMessage().split()))


def check_tiff(path: Path) -> str | None:
    """Why a TIFF-family file cannot be trusted to read (truncated, corrupt structure); None if fine.

    Every page's strips or tiles must end inside the file; tifffile's parse errors (which it
    only logs) are reported instead of being printed as noise.
    """
    import tifffile

    size = path.stat().st_size
    logger = logging.getLogger("tifffile")
    cap = _Capture()
    logger.addHandler(cap)
    old = logger.propagate
    logger.propagate = False
    try:
        with tifffile.TiffFile(str(path)) as tf:
            end = 0
            pages = list(tf.pages)
            for s in tf.series:
                for level in getattr(s, "levels", [s]):
                    pages.extend(p for p in level.pages if p is not None)
            for p in pages:
                offsets, counts = getattr(p, "dataoffsets", ()), getattr(p, "databytecounts", ())
                if len(offsets):
                    end = max(end, max(int(o) + int(c) for o, c in zip(offsets, counts)))
    except Exception as e:  # noqa: BLE001 - reported as one line by the caller
        return f"not a readable TIFF ({one_line(e)})"
    finally:
        logger.removeHandler(cap)
        logger.propagate = old
    if end > size:
        return (f"the file is truncated: it has {size:,} bytes but its image data runs to {end:,} bytes "
                "(an interrupted copy or download). Copy the slide again")
    if cap.messages:
        return f"the TIFF structure is corrupt (tifffile: {cap.messages[0][:160]}). Copy or re-export the slide"
    return None


def _ome_mpp(path: Path) -> tuple[float, float] | None:
    import tifffile

    with tifffile.TiffFile(str(path)) as tf:
        xml = tf.ome_metadata if tf.is_ome else None
    if not xml:
        return None
    m = re.search(r"<Pixels\b[^>]*>", xml)
    if not m:
        return None
    tag = m.group(0)

    def get(axis: str) -> float | None:
        v = re.search(rf'PhysicalSize{axis}="([^"]+)"', tag)
        if not v:
            return None
        unit = re.search(rf'PhysicalSize{axis}Unit="([^"]+)"', tag)
        factor = {"µm": 1.0, "um": 1.0, "\u03bcm": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4, "m": 1e6}.get(
            unit.group(1) if unit else "µm")
        return float(v.group(1)) * factor if factor is not None else None

    x, y = get("X"), get("Y")
    return (x, y if y is not None else x) if x is not None else None


def trusted_resolution(path: Path, props: dict) -> Resolution:
    """The level-0 resolution of a TIFF-family slide, trusted only from the sources above."""
    found: list[str] = []
    candidates: list[tuple[str, float, float]] = []
    if props.get("aperio.MPP") not in (None, ""):
        v = float(props["aperio.MPP"])
        candidates.append(("Aperio MPP", v, v))
    try:
        ome = _ome_mpp(path)
    except Exception:  # noqa: BLE001 - an unreadable OME block is simply not a source
        ome = None
    if ome:
        candidates.append(("OME PhysicalSizeX/Y", *ome))
    mx, my = props.get("tiffslide.mpp-x"), props.get("tiffslide.mpp-y")
    unit, xres = props.get("tiff.ResolutionUnit"), props.get("tiff.XResolution")
    scale = {"INCH": 25400.0, "CENTIMETER": 1e4, "MILLIMETER": 1e3, "MICROMETER": 1.0}.get(str(unit))
    from_tags = unit is not None and (not mx or (scale and xres and math.isclose(float(mx), scale / xres)))
    if mx and not candidates and not from_tags:  # tiffslide read the vendor's metadata (Leica, Philips ...)
        candidates.append((f"{props.get('tiffslide.vendor') or 'scanner'} metadata", float(mx), float(my or mx)))
    elif mx and not candidates and unit in ("CENTIMETER", "MILLIMETER", "MICROMETER"):
        candidates.append((f"TIFF resolution tag ({str(unit).lower()})", float(mx), float(my or mx)))
    elif not candidates and unit is not None:
        if unit == "INCH" and xres:
            found.append(f"a TIFF resolution tag of {xres:g} dots per inch ({25400 / xres:.4g} um per pixel), "
                         "which image software writes by default and is not a scan resolution")
        else:
            found.append(f"a TIFF resolution tag in unit {unit}, which carries no trusted physical size")
    for source, x, y in candidates:
        if not (plausible(x) and plausible(y)):
            found.append(f"{source} of {x:.4g} x {y:.4g} um per pixel, outside the plausible "
                         f"{MPP_RANGE[0]}-{MPP_RANGE[1]} um")
            continue
        if abs(x - y) > 0.02 * max(x, y):
            found.append(f"{source} with different x and y pixel sizes ({x:.4g} and {y:.4g} um): "
                         "non-square pixels are not supported")
            continue
        return Resolution(mpp=(x + y) / 2, source=source)
    return Resolution(mpp=None, source="", note="; ".join(found) or "no resolution in the file's metadata")
