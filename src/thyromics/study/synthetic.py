"""A small synthetic cohort, made on the fly for the demo and for tests.

Two modalities, each with a binary outcome that changes the lesion the way the CT and
ultrasound studies thyromics follows (Moon et al., Sci Rep 2023; Ni et al., Gland Surg
2024; the CRIT/iTED study, github.com/Spr1te123/THCA-ITH) describe aggressive thyroid
lesions. Every lesion has a latent
"aggressiveness" ``z`` drawn from N(0, 1) for class 0 and N(:data:`SEPARATION`, 1) for
class 1, so the classes overlap as in life: the best any score can do is an AUC of
Phi(SEPARATION / sqrt(2)) (0.92 for 2.0). Several imaging properties follow ``z``
linearly, each with its own noise, so many radiomics features carry the same planted
signal and a model fitted on one cohort generalises to the others:

* CT-like volumes (HU-like values, anisotropic voxels 0.8 x 0.8 x 2.5 mm): higher ``z``
  gives larger, lobulated (irregular margin), less enhancing, more heterogeneous lesions
  with necrosis-like low patches; lower ``z`` smooth, uniform ellipsoids.
* Ultrasound-like 2D images (speckle: Rayleigh-distributed, 0-255 grey): higher ``z``
  gives hypoechoic, taller-than-wide nodules with irregular margins, coarser echo
  texture and bright micro-calcification spots; lower ``z`` iso-echoic, wider-than-tall
  ovals.

Some patients carry two lesions (for patient-grouped validation), and clinical columns
(age, sex, size, a lymph-node flag) are correlated with the outcome, weakly, as in life.
Everything is drawn from one seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thyromics.layout import MANIFEST

__all__ = ["SyntheticSettings", "make_cohort", "ct_lesion", "us_lesion", "SEPARATION"]

#: Mean of the latent aggressiveness of class 1 (class 0: 0; both SD 1).
SEPARATION: float = 2.0


@dataclass(frozen=True)
class SyntheticSettings:
    """Size of the synthetic cohort.

    Attributes
    ----------
    n_patients : int
        Patients per modality; about a fifth get a second lesion.
    prevalence : float
        Fraction of patients with outcome 1.
    split : tuple of float
        Fractions of patients in train / test / external.
    seed : int
        Seed of the one random generator.
    separation : float
        Mean latent aggressiveness of class 1 (class 0: 0; both SD 1).
    """

    n_patients: int = 40
    prevalence: float = 0.4
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 7
    separation: float = SEPARATION


def _ellipsoid(shape: tuple[int, ...], centre: np.ndarray, radii: np.ndarray,
               spacing: np.ndarray, lobes: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean ellipsoid (radii in mm) whose radius is modulated by ``lobes`` (0 = smooth)."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    rel = [(g - c * s) / r for g, c, s, r in zip(grids, centre, spacing, radii)]
    dist = np.sqrt(sum(x**2 for x in rel))
    if lobes > 0:
        # Irregular margin: angular modulation of the radius by a few random harmonics.
        theta = np.arctan2(rel[-2], rel[-1])
        phi = np.arctan2(rel[0], np.sqrt(rel[-2] ** 2 + rel[-1] ** 2)) if len(shape) == 3 else 0
        mod = sum(rng.uniform(0.5, 1.0) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
                  for k in (3, 5, 7))
        mod = mod + (np.cos(4 * phi) if len(shape) == 3 else 0)
        dist = dist / (1 + lobes * mod / 4)
    return dist <= 1.0


def ct_lesion(aggressiveness: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One CT-like volume (z, y, x) in HU, its lesion mask, and spacing (x, y, z) in mm.

    ``aggressiveness`` (about N(0, 1) for class 0 and N(2, 1) for class 1) drives size,
    margin irregularity, enhancement, texture strength and necrosis linearly, each with
    its own noise.
    """
    from scipy import ndimage

    z = float(np.clip(aggressiveness, -2.5, 4.5))
    shape, spacing_zyx = (20, 56, 56), np.array([2.5, 0.8, 0.8])
    img = rng.normal(40, 12, shape)  # soft tissue
    img = ndimage.gaussian_filter(img, (0.5, 1.0, 1.0))
    radius = float(np.clip(8.0 + 0.6 * z + rng.normal(0, 1.2), 5.0, 13.0))  # mm
    radii = radius * np.array([0.9, 1.0, rng.uniform(0.85, 1.05)])
    centre = np.array(shape) / 2 + rng.uniform(-1.5, 1.5, 3)
    lobes = float(np.clip(0.15 + 0.1 * z + rng.normal(0, 0.05), 0, 0.6))
    mask = _ellipsoid(shape, centre, radii, spacing_zyx, lobes=lobes, rng=rng)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), (0.5, 0.9, 0.9))
    strength = 9.0 * (1 + 0.3 * (z + 1.5)) * np.exp(rng.normal(0, 0.12))
    texture = texture / texture.std() * strength
    necrosis = ndimage.gaussian_filter(rng.normal(0, 1, shape), (1, 3, 3))
    necrosis = necrosis > (1.1 - 0.22 * z + rng.normal(0, 0.1)) * necrosis.std()
    enhancement = 120 - 9 * z + rng.normal(0, 6)
    lesion = enhancement + texture - 35 * necrosis
    img = np.where(mask, lesion, img)
    return img.astype(np.float32), mask.astype(np.uint8), (0.8, 0.8, 2.5)


def us_lesion(aggressiveness: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One ultrasound-like 2D image (y, x) in 0-255 grey and its nodule mask.

    Higher ``aggressiveness``: hypoechoic, taller-than-wide, irregular margin, coarser
    echo texture, more micro-calcifications, each linear in it with its own noise.
    """
    from scipy import ndimage

    z = float(np.clip(aggressiveness, -2.5, 4.5))
    shape = (128, 128)
    tissue = 110 * ndimage.gaussian_filter(rng.rayleigh(1.0, shape), 1.0)
    tall = float(np.clip(0.8 + 0.1 * z + rng.normal(0, 0.08), 0.5, 1.6))  # height / width
    w = float(np.clip(20 + 0.8 * z + rng.normal(0, 2.5), 13, 30))
    centre = np.array(shape) / 2 + rng.uniform(-6, 6, 2)
    lobes = float(np.clip(0.12 + 0.08 * z + rng.normal(0, 0.06), 0, 0.75))
    mask = _ellipsoid(shape, centre, np.array([w * tall, w]), np.ones(2), lobes=lobes, rng=rng)
    echo = float(np.clip(88 - 9 * z + rng.normal(0, 9), 20, 140))
    grain = float(np.clip(1.0 + 0.18 * z + rng.normal(0, 0.12), 0.5, 2.5))  # speckle size
    lesion = echo * ndimage.gaussian_filter(rng.rayleigh(1.0, shape), grain)
    img = np.where(mask, lesion, tissue)
    ys, xs = np.nonzero(ndimage.binary_erosion(mask, iterations=3))
    n_spots = min(len(ys), int(rng.poisson(max(0.0, 1.5 + 1.8 * z))))
    for i in rng.choice(len(ys), size=n_spots, replace=False):  # micro-calcifications
        img[max(0, ys[i] - 1):ys[i] + 2, max(0, xs[i] - 1):xs[i] + 2] = 240
    return np.clip(img, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def make_cohort(out_dir: str | Path, modality: str, settings: SyntheticSettings = SyntheticSettings()) -> Path:
    """Write a synthetic cohort (images, masks, ``cases.csv``) and return the manifest path.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created).
    modality : {"ct", "us"}
        CT-like 3D NIfTI volumes or ultrasound-like 2D PNG images.
    settings : SyntheticSettings
        Size, prevalence, split and seed.
    """
    import pandas as pd
    import SimpleITK as sitk
    from PIL import Image as PILImage

    if modality not in ("ct", "us"):
        raise ValueError(f"modality must be 'ct' or 'us', got {modality!r}")
    rng = np.random.default_rng([settings.seed, 0 if modality == "ct" else 1])
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    n = settings.n_patients
    labels = (np.arange(n) < round(settings.prevalence * n)).astype(int)
    rng.shuffle(labels)
    cut = np.cumsum(np.array(settings.split) * n).round().astype(int)
    splits = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    splits[order[cut[0]:cut[1]]] = "test"
    splits[order[cut[1]:]] = "external"
    rows = []
    for p in range(n):
        y = int(labels[p])
        age = int(np.clip(rng.normal(48 + 10 * y, 12), 18, 90))
        sex = "F" if rng.random() < (0.6 if y else 0.75) else "M"
        node = int(rng.random() < (0.55 if y else 0.2))
        for lesion in range(1 + int(rng.random() < 0.2)):
            aggressiveness = rng.normal(settings.separation * y, 1.0)
            case_id = f"{modality}{p:03d}_{lesion + 1}"
            if modality == "ct":
                img, mask, spacing = ct_lesion(aggressiveness, rng)
                for arr, sub in ((img, "images"), (mask, "masks")):
                    im = sitk.GetImageFromArray(arr)
                    im.SetSpacing(spacing)
                    sitk.WriteImage(im, str(out / sub / f"{case_id}.nii.gz"))
                ext = "nii.gz"
                size_mm = float(mask.sum() * np.prod(spacing)) ** (1 / 3)
            else:
                img, mask = us_lesion(aggressiveness, rng)
                PILImage.fromarray(img).save(out / "images" / f"{case_id}.png")
                PILImage.fromarray(mask * 255).save(out / "masks" / f"{case_id}.png")
                ext = "png"
                size_mm = float(2 * np.sqrt(mask.sum() / np.pi)) * 0.1
            rows.append({"case_id": case_id, "patient_id": f"{modality}-p{p:03d}",
                         "image": f"images/{case_id}.{ext}", "mask": f"masks/{case_id}.{ext}",
                         "label": y, "split": splits[p], "age": age, "sex": sex,
                         "size_mm": round(size_mm, 1), "lymph_node": node})
    manifest = MANIFEST.at(out, "cases")
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest
