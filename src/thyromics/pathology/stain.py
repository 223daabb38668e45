"""Stain normalisation (Reinhard, Macenko) and H&E colour deconvolution, on numpy.

A :class:`StainReference` is fitted once on reference pixels (as in the "generate
reference" step, ``4.3_Generate_reference_all.py``, of the CRIT/iTED study's code,
github.com/Spr1te123/THCA-ITH: tiles drawn from the cohort), saved as JSON and reused for
every tile, so all slides are mapped to the same target.

References
----------
Reinhard E, Ashikhmin M, Gooch B, Shirley P. Color transfer between images. IEEE
Computer Graphics and Applications 2001;21(5):34-41.
Macenko M, Niethammer M, Marron JS, et al. A method for normalizing histology slides for
quantitative analysis. Proc IEEE ISBI 2009:1107-1110.
Ruifrok AC, Johnston DA. Quantification of histochemical staining by color deconvolution.
Anal Quant Cytol Histol 2001;23(4):291-299.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thyromics.errors import InputError

__all__ = ["StainReference", "tissue_pixels", "reinhard_stats", "reinhard_normalise", "macenko_stains",
           "macenko_normalise", "fit_reference", "normalise", "hed_channels", "optical_density"]


def optical_density(rgb: np.ndarray, io: float = 240.0) -> np.ndarray:
    """Beer-Lambert optical density ``OD = -log((I + 1) / Io)`` per channel, shape ``(n, 3)``."""
    return -np.log((rgb.reshape(-1, 3).astype(np.float64) + 1.0) / io)


# ---------------------------------------------------------------- Reinhard


def tissue_pixels(rgb: np.ndarray, *, io: float = 240.0, beta: float = 0.15) -> np.ndarray:
    """Boolean map of the pixels that are not glass: optical density >= ``beta`` in some channel.

    (Macenko's stained pixels need it in *every* channel; pale eosin absorbs little red.)
    """
    od = optical_density(rgb, io).reshape(rgb.shape[:-1] + (3,))
    return od.max(axis=-1) >= beta


def reinhard_stats(rgb: np.ndarray, tissue: np.ndarray | None = None, *, io: float = 240.0,
                   beta: float = 0.15) -> tuple[list[float], list[float]]:
    """Per-channel mean and SD in CIELAB of the **tissue** pixels of an image (or ``(n, 3)`` pixels).

    Reinhard et al. use the l-alpha-beta space; CIELAB (``skimage.color.rgb2lab``,
    D65) is the decorrelated space used by current implementations and is used here.
    ``tissue`` defaults to :func:`tissue_pixels`: statistics that include glass shift the
    tissue colours (glass turned mauve and tissue merged into "nuclei"). Raises
    ``ValueError`` when fewer than 100 tissue pixels remain.
    """
    from skimage.color import rgb2lab

    pix = rgb[..., :3].reshape(-1, 1, 3).astype(np.uint8)
    keep = (tissue_pixels(pix, io=io, beta=beta) if tissue is None else np.asarray(tissue)).reshape(-1)
    if keep.sum() < 100:
        raise ValueError(f"only {int(keep.sum())} tissue pixels (optical density >= {beta}); "
                         "Reinhard statistics need tissue, the image looks like glass")
    lab = rgb2lab(pix[keep]).reshape(-1, 3)
    return lab.mean(axis=0).tolist(), lab.std(axis=0).tolist()


def reinhard_normalise(rgb: np.ndarray, target_mean, target_std, *, io: float = 240.0,
                       beta: float = 0.15) -> np.ndarray:
    """Reinhard colour transfer of the tissue pixels: ``l' = (l - mean_src) / sd_src * sd_ref + mean_ref``.

    Source statistics come from the tile's tissue pixels (:func:`tissue_pixels`) and only
    those pixels are changed; glass keeps its colour.
    """
    from skimage.color import lab2rgb, rgb2lab

    rgb = rgb[..., :3].astype(np.uint8)
    tissue = tissue_pixels(rgb, io=io, beta=beta)
    mean, std = (np.asarray(v) for v in reinhard_stats(rgb, tissue, io=io, beta=beta))
    std = np.where(std > 1e-8, std, 1.0)
    lab = rgb2lab(rgb[tissue].reshape(-1, 1, 3)).reshape(-1, 3)
    lab = (lab - mean) / std * np.asarray(target_std) + np.asarray(target_mean)
    lab[:, 0] = np.clip(lab[:, 0], 0, 100)
    out = rgb.copy()
    out[tissue] = (np.clip(lab2rgb(lab.reshape(-1, 1, 3)), 0, 1) * 255).round().astype(np.uint8).reshape(-1, 3)
    return out


# ---------------------------------------------------------------- Macenko


def macenko_stains(rgb: np.ndarray, *, io: float = 240.0, alpha: float = 1.0,
                   beta: float = 0.15, check: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Macenko's stain matrix and the 99th-percentile concentrations of an image.

    1. Optical density; drop pixels with any channel's OD below ``beta`` (background).
    2. Project the OD onto the plane of its two leading eigenvectors (covariance).
    3. Angles of the projected points; the ``alpha`` and ``100 - alpha`` percentile angles
       give the two stain vectors; the one with the larger red OD is haematoxylin.
    4. Concentrations by least squares; their 99th percentile per stain.

    With ``check`` (default), a degenerate estimate -- the two vectors less than 5 degrees
    apart (one colour: a grey or single-stain image) or concentrations that are not
    positive -- raises ``ValueError`` instead of returning vectors that would normalise
    every pixel to the same colour.

    Returns
    -------
    stains : (3, 2) array
        Unit OD vectors, haematoxylin then eosin, as columns.
    max_conc : (2,) array
        99th-percentile concentration of each stain.
    """
    od = optical_density(rgb, io)
    od = od[np.all(od >= beta, axis=1)]
    if od.shape[0] < 10:
        raise ValueError(f"only {od.shape[0]} stained pixels (OD >= {beta}); the image looks empty")
    _, vecs = np.linalg.eigh(np.cov(od, rowvar=False))
    plane = vecs[:, [1, 2]]
    plane = plane * np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # OD vectors point into >= 0
    proj = od @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    stains = np.stack([v1, v2] if v1[0] > v2[0] else [v2, v1], axis=1)
    stains = stains / np.linalg.norm(stains, axis=0)
    conc = np.linalg.lstsq(stains, optical_density(rgb, io).T, rcond=None)[0]
    max_c = np.percentile(conc, 99, axis=1)
    if check:
        sep = float(np.degrees(np.arccos(np.clip(stains[:, 0] @ stains[:, 1], -1, 1))))
        if not np.all(np.isfinite(stains)) or sep < 5.0:
            raise ValueError(f"degenerate stain estimate: the two stain vectors are {sep:.1f} degrees apart "
                             "(expected two distinct stains; the image has a single colour)")
        if not np.all(max_c > 1e-6):
            raise ValueError(f"degenerate stain estimate: 99th-percentile concentrations {max_c.round(4).tolist()} "
                             "(expected both positive)")
    return stains, max_c


def macenko_normalise(rgb: np.ndarray, ref_stains: np.ndarray, ref_max: np.ndarray, *,
                      io: float = 240.0, alpha: float = 1.0, beta: float = 0.15) -> np.ndarray:
    """Map an image onto the reference stains: ``I = Io exp(-S_ref C maxC_ref / maxC_src)``."""
    h, w = rgb.shape[:2]
    stains, max_c = macenko_stains(rgb, io=io, alpha=alpha, beta=beta)
    conc = np.linalg.lstsq(stains, optical_density(rgb, io).T, rcond=None)[0]
    conc *= (np.asarray(ref_max) / np.where(max_c > 1e-8, max_c, 1.0))[:, None]
    out = io * np.exp(-np.asarray(ref_stains) @ conc)
    return np.clip(out.T.reshape(h, w, 3), 0, 255).round().astype(np.uint8)


# ---------------------------------------------------------------- reference


@dataclass(frozen=True)
class StainReference:
    """A fitted normalisation target; JSON round-trip with :meth:`save` / :meth:`load`."""

    method: str
    params: dict[str, Any]
    source: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        from thyromics.provenance import atomic_write_json

        return atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> "StainReference":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            return cls(method=d["method"], params=d["params"], source=d.get("source", []),
                       settings=d.get("settings", {}))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise InputError(f"file {path}: not a stain reference ({e}). Give a reference JSON "
                             "written by `thyromics pathology normalise`, or an image.") from e


def fit_reference(images: list[np.ndarray], method: str, *, source: list[str] | None = None,
                  io: float = 240.0, alpha: float = 1.0, beta: float = 0.15) -> StainReference:
    """Fit the target on the pixels of the reference images taken together.

    Refuses (``InputError``) reference pixels that do not look like H&E
    (:func:`thyromics.pathology.stain_check.check_he`): a target fitted on a grey image, a
    photograph or an IHC slide would recolour every tile wrongly. Reinhard statistics are
    taken on the tissue pixels only (:func:`tissue_pixels`).
    """
    pixels = np.concatenate([im[..., :3].reshape(-1, 3) for im in images]).astype(np.uint8)
    settings = {"io": io, "alpha": alpha, "beta": beta}
    from thyromics.pathology.stain_check import check_he

    tissue = tissue_pixels(pixels.reshape(-1, 1, 3), io=io, beta=beta).reshape(-1)
    he = check_he(pixels.reshape(-1, 1, 3), tissue, io=io, alpha=alpha, beta=beta)
    if not he.ok:
        raise InputError(f"the stain reference {', '.join(map(str, source or [])) or '(images)'} is not H&E: "
                         f"{he.reason}. Fit the reference on H&E tissue.")
    if method == "reinhard":
        mean, std = reinhard_stats(pixels, tissue, io=io, beta=beta)
        params = {"lab_mean": mean, "lab_std": std}
    elif method == "macenko":
        stains, max_c = macenko_stains(pixels.reshape(-1, 1, 3), io=io, alpha=alpha, beta=beta)
        params = {"stains": stains.tolist(), "max_concentration": max_c.tolist()}
    else:
        raise InputError(f"no reference to fit for method {method!r}")
    return StainReference(method=method, params=params, source=list(source or []), settings=settings)


def normalise(rgb: np.ndarray, ref: StainReference) -> np.ndarray:
    """Normalise one tile to a reference."""
    if ref.method == "reinhard":
        s = ref.settings
        return reinhard_normalise(rgb, ref.params["lab_mean"], ref.params["lab_std"],
                                  io=s.get("io", 240.0), beta=s.get("beta", 0.15))
    if ref.method == "macenko":
        s = ref.settings
        return macenko_normalise(rgb, np.asarray(ref.params["stains"]),
                                 np.asarray(ref.params["max_concentration"]),
                                 io=s.get("io", 240.0), alpha=s.get("alpha", 1.0), beta=s.get("beta", 0.15))
    raise InputError(f"unknown stain reference method {ref.method!r}")


def hed_channels(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Haematoxylin and eosin concentrations by colour deconvolution (Ruifrok & Johnston 2001).

    ``skimage.color.rgb2hed`` with its fixed H&E-DAB matrix; returns two float arrays of
    the image's shape (higher = more stain).
    """
    from skimage.color import rgb2hed

    hed = rgb2hed(rgb[..., :3])
    return hed[..., 0], hed[..., 1]
