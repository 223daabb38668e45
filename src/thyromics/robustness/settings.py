"""Typed, frozen settings of an image-perturbation chain, and the paper's chains as presets.

A chain (Zwanenburg et al., "Assessing robustness of radiomic features by image
perturbation", Sci Rep 2019;9:614) is an ordered set of perturbations applied together to
every image and mask, repeated ``repetitions`` times with fresh random draws. Each
repetition ``r`` of case ``c`` draws its parameters from a generator seeded by
``(seed, c, r)`` alone, so a perturbed image never depends on the number of workers or
the order cases run in, and the draw is recorded with the features.

Elements (applied in this order whatever order they are listed in):

``noise``
    Gaussian noise added to every voxel; its standard deviation is ``noise_level`` or,
    when None, the image's own noise estimated from the finest diagonal wavelet
    sub-band (:func:`thyromics.robustness.perturb.estimate_noise`).
``rotation``, ``translation``
    One resampling onto a grid rotated about the lesion centroid in the axial (x-y)
    plane by an angle drawn from ``rotation_angles`` and shifted by voxel fractions drawn
    per axis from ``translation_fractions``; through :mod:`thyromics.preprocess.resample`.
``volume``
    Growth or shrinkage of the mask by a volume fraction (``volume_mode="fraction"``:
    0.1 = 10 % more voxels) or a distance in mm (``"distance"``), drawn from
    ``volume_sizes``.
``contour``
    Supervoxel-based contour randomisation: SLIC supervoxels around the lesion, each
    kept with probability equal to its overlap with the mask.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from thyromics.errors import InputError, did_you_mean

__all__ = ["PerturbationSettings", "ELEMENTS", "CHAIN_PRESETS", "get_chain"]

#: Perturbations a chain may hold, in the order they are applied.
ELEMENTS: tuple[str, ...] = ("noise", "rotation", "translation", "volume", "contour")

Element = Literal["noise", "rotation", "translation", "volume", "contour"]


class PerturbationSettings(BaseModel):
    """One perturbation chain.

    Attributes
    ----------
    name : str
        The preset it came from (``"custom"`` otherwise).
    chain : tuple of {"noise", "rotation", "translation", "volume", "contour"}
        The perturbations applied to every repetition.
    repetitions : int
        Perturbed versions of every case (the "raters" of the ICC); at least 2.
    seed : int
        Base seed of every random draw.
    noise_level : float or None
        Standard deviation of the added noise, in the image's intensity units; None
        estimates it from each image.
    rotation_angles : tuple of float
        Angles in degrees, one drawn per repetition.
    translation_fractions : tuple of float
        Voxel fractions in ``[0, 1)``, one drawn per axis and repetition.
    volume_mode : {"fraction", "distance"}
    volume_sizes : tuple of float
        Volume fractions (> -1; 0.1 grows by 10 %) or distances in mm (< 0 shrinks), one
        drawn per repetition.
    min_volume_fraction : float
        Shrinkage never leaves fewer than this fraction of the lesion's voxels.
    supervoxels : int
        About this many SLIC supervoxels cover the lesion in contour randomisation.
    compactness : float
        SLIC compactness on intensities scaled to ``[0, 1]`` (higher: more regular).
    interpolator : {"linear", "bspline"}
        Interpolation of the image in rotation and translation (masks: linear, then 0.5).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "custom"
    chain: tuple[Element, ...] = ("noise", "translation", "volume", "contour")
    repetitions: int = Field(10, ge=2, le=1000)
    seed: int = 0
    noise_level: float | None = Field(None, ge=0)
    rotation_angles: tuple[float, ...] = (-15.0, -10.0, -5.0, 5.0, 10.0, 15.0)
    translation_fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    volume_mode: Literal["fraction", "distance"] = "fraction"
    volume_sizes: tuple[float, ...] = (-0.2, -0.1, 0.0, 0.1, 0.2)
    min_volume_fraction: float = Field(0.2, gt=0, le=1)
    supervoxels: int = Field(20, ge=2, le=1000)
    compactness: float = Field(0.1, gt=0)
    interpolator: Literal["linear", "bspline"] = "bspline"

    @field_validator("chain")
    @classmethod
    def _chain(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a chain needs at least one perturbation")
        if len(set(v)) != len(v):
            raise ValueError(f"a perturbation is listed twice in the chain {list(v)}")
        return tuple(e for e in ELEMENTS if e in v)  # the order they are applied in

    @field_validator("translation_fractions")
    @classmethod
    def _fractions(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or not all(0.0 <= f < 1.0 for f in v):
            raise ValueError(f"translation fractions must lie in [0, 1), got {list(v)}")
        return v

    @field_validator("rotation_angles", "volume_sizes")
    @classmethod
    def _non_empty(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("give at least one value")
        return v

    @model_validator(mode="after")
    def _volume(self) -> "PerturbationSettings":
        if self.volume_mode == "fraction" and any(s <= -1 for s in self.volume_sizes):
            raise ValueError(f"volume fractions must be > -1 (a mask cannot lose all its "
                             f"voxels), got {list(self.volume_sizes)}")
        return self

    @property
    def code(self) -> str:
        """The chain's initials in the paper's notation (``NTVC`` ...)."""
        return "".join({"noise": "N", "rotation": "R", "translation": "T", "volume": "V",
                        "contour": "C"}[e] for e in self.chain)

    def to_dict(self) -> dict:
        """JSON-able, for hashing and provenance."""
        return self.model_dump(mode="json")


#: Chains of Zwanenburg et al. (2019). ``ntvc`` (noise, translation, volume adaptation,
#: contour randomisation) identified the fewest false-positive robust features against
#: test-retest imaging in both of the paper's cohorts and is the default; ``rnvc``
#: swaps translation for rotation (used by later perturbation studies); the single
#: perturbations are there to see which one a feature is sensitive to.
CHAIN_PRESETS: dict[str, dict] = {
    "ntvc": {"chain": ("noise", "translation", "volume", "contour")},
    "rnvc": {"chain": ("rotation", "noise", "volume", "contour")},
    "noise": {"chain": ("noise",)},
    "rotation": {"chain": ("rotation",)},
    "translation": {"chain": ("translation",)},
    "volume": {"chain": ("volume",)},
    "contour": {"chain": ("contour",)},
}


def get_chain(name: str, **overrides) -> PerturbationSettings:
    """A preset chain, with any field overridden (``repetitions=20``, ``seed=1`` ...).

    Raises
    ------
    InputError
        Unknown preset (the closest names are suggested) or invalid overrides.
    """
    key = str(name).lower()
    if key not in CHAIN_PRESETS:
        hint = did_you_mean(key, list(CHAIN_PRESETS), n=2)
        raise InputError(f"unknown perturbation chain {name!r}; presets: "
                         f"{', '.join(CHAIN_PRESETS)}.{hint}")
    fields = {**CHAIN_PRESETS[key], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return PerturbationSettings(name=key, **fields)
    except ValueError as e:
        raise InputError(f"perturbation chain {name!r}: {e}") from e
