"""Is this H&E? The optical-density stain vectors of the tissue against the H&E range.

Macenko's method (:func:`thyromics.pathology.stain.macenko_stains`) finds two stain
vectors in any colour image, so a stain estimate alone proves nothing: a flat grey
image, a photograph or an IHC slide (haematoxylin + DAB) give vectors too. This check
refuses an image unless, on the tissue pixels,

1. enough pixels are stained (optical density >= ``beta`` in every channel): at least
   ``min_stained`` of them and ``min_stained_fraction`` of the tissue;
2. the two vectors are distinct (angle >= ``min_separation_deg``; coinciding vectors
   mean a single colour, e.g. a grey or one-stain image);
3. the haematoxylin vector lies within ``max_h_angle_deg`` of Ruifrok & Johnston's
   haematoxylin OD vector (0.650, 0.704, 0.286);
4. the eosin vector absorbs green most (its green OD is its largest component: eosin is
   pink; DAB, brown, absorbs blue most) and lies within ``max_e_angle_deg`` of the mean
   of Ruifrok & Johnston's eosin (0.072, 0.990, 0.105) and Macenko's published eosin
   estimate (0.216, 0.801, 0.558), the two ends of what laboratories report.

The limits are fixed a priori from those published vectors (H estimates of real H&E fall
within about 10 degrees of Ruifrok's; E estimates span the 30 degrees between the two
eosin references), not fitted on any data set here.

References
----------
Ruifrok AC, Johnston DA. Anal Quant Cytol Histol 2001;23(4):291-299.
Macenko M et al. Proc IEEE ISBI 2009:1107-1110 (the eosin vector as used by staintools).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["H_REFERENCE", "E_REFERENCE", "StainCheck", "check_he", "stained_pixels"]

H_REFERENCE = np.array([0.650, 0.704, 0.286]) / np.linalg.norm([0.650, 0.704, 0.286])
_E_RUIFROK = np.array([0.072, 0.990, 0.105]) / np.linalg.norm([0.072, 0.990, 0.105])
_E_MACENKO = np.array([0.2159, 0.8012, 0.5581]) / np.linalg.norm([0.2159, 0.8012, 0.5581])
E_REFERENCE = (_E_RUIFROK + _E_MACENKO) / np.linalg.norm(_E_RUIFROK + _E_MACENKO)


@dataclass(frozen=True)
class StainCheck:
    """The outcome of :func:`check_he`; ``reason`` is empty when ``ok``."""

    ok: bool
    reason: str
    n_stained: int
    stained_fraction: float
    h_vector: tuple[float, float, float] | None = None
    e_vector: tuple[float, float, float] | None = None
    h_angle_deg: float = float("nan")
    e_angle_deg: float = float("nan")
    separation_deg: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    c = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def stained_pixels(rgb: np.ndarray, *, io: float = 240.0, beta: float = 0.15) -> np.ndarray:
    """Boolean map of pixels whose optical density is at least ``beta`` in every channel."""
    from thyromics.pathology.stain import optical_density

    od = optical_density(rgb, io).reshape(rgb.shape[:-1] + (3,))
    return np.all(od >= beta, axis=-1)


def check_he(rgb: np.ndarray, tissue: np.ndarray | None = None, *, io: float = 240.0, alpha: float = 1.0,
             beta: float = 0.15, min_stained: int = 500, min_stained_fraction: float = 0.02,
             min_separation_deg: float = 5.0, max_h_angle_deg: float = 25.0,
             max_e_angle_deg: float = 30.0) -> StainCheck:
    """Check that the tissue pixels of ``rgb`` (``uint8``, ``(..., 3)``) look like H&E.

    ``tissue``: boolean mask of the tissue (default: every pixel). Returns a
    :class:`StainCheck` whose ``reason`` says what was expected and what was found.
    """
    from thyromics.pathology.stain import macenko_stains

    pix = rgb[..., :3].reshape(-1, 3)
    if tissue is not None:
        pix = pix[np.asarray(tissue).reshape(-1)]
    n_tissue = len(pix)
    stained = stained_pixels(pix.reshape(-1, 1, 3), io=io, beta=beta).reshape(-1)
    n, frac = int(stained.sum()), float(stained.mean()) if n_tissue else 0.0
    base = {"n_stained": n, "stained_fraction": frac}
    if n < min_stained or frac < min_stained_fraction:
        return StainCheck(False, f"only {n:,} stained pixels ({frac:.1%} of {n_tissue:,} tissue pixels; optical "
                          f"density >= {beta} in every channel); expected at least {min_stained} and "
                          f"{min_stained_fraction:.0%}: the image looks blank or unstained", **base)
    try:
        stains, _ = macenko_stains(pix[stained].reshape(-1, 1, 3), io=io, alpha=alpha, beta=beta,
                                   check=False)
    except (ValueError, np.linalg.LinAlgError) as e:
        return StainCheck(False, f"no stain vectors could be estimated ({e})", **base)
    h, e = stains[:, 0], stains[:, 1]
    sep, ha, ea = _angle(h, e), _angle(h, H_REFERENCE), _angle(e, E_REFERENCE)
    got = {**base, "h_vector": tuple(round(float(v), 4) for v in h),
           "e_vector": tuple(round(float(v), 4) for v in e), "h_angle_deg": ha, "e_angle_deg": ea,
           "separation_deg": sep}
    vec = f"H = ({h[0]:.2f}, {h[1]:.2f}, {h[2]:.2f}), E = ({e[0]:.2f}, {e[1]:.2f}, {e[2]:.2f})"
    if not np.all(np.isfinite(stains)) or sep < min_separation_deg:
        return StainCheck(False, f"degenerate stain estimate: the two optical-density vectors are {sep:.1f} "
                          f"degrees apart ({vec}); expected >= {min_separation_deg:g}: the image has a single "
                          "colour (grey, or one stain)", **got)
    if ha > max_h_angle_deg:
        return StainCheck(False, f"the haematoxylin vector is {ha:.0f} degrees from H&E haematoxylin "
                          f"(expected <= {max_h_angle_deg:g}; {vec}): not an H&E image", **got)
    if not (e[1] >= e[0] and e[1] >= e[2]):
        return StainCheck(False, f"the second stain absorbs {'blue' if e[2] > e[1] else 'red'} most, eosin "
                          f"absorbs green ({vec}): not H&E (an IHC/DAB or other stain?)", **got)
    if ea > max_e_angle_deg:
        return StainCheck(False, f"the eosin vector is {ea:.0f} degrees from H&E eosin (expected <= "
                          f"{max_e_angle_deg:g}; {vec}): not an H&E image", **got)
    return StainCheck(True, "", **got)
