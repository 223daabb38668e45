"""Shape features of the lesion mask, as PyRadiomics computes them.

The mesh-based values (surface area, mesh volume, maximum diameters; perimeter and mesh
surface in 2D) are PyRadiomics' marching cubes / squares on the same padded mask
(:mod:`._mesh`: its triangulation, its diameters to the bit, area and volume to rounding);
the voxel count and the principal-axis lengths repeat PyRadiomics' numpy steps operation
for operation (``RadiomicsShape`` / ``RadiomicsShape2D`` in version 3.1):

- the mask is cropped to the lesion's bounding box and padded with one voxel of 0;
- ``VoxelVolume = N * dz * dx * dy``; ``Sphericity = (36 pi V^2)^(1/3) / A``;
  ``Compactness1 = V / (A^(3/2) sqrt(pi))``; ``Compactness2 = 36 pi V^2 / A^3``;
  ``SphericalDisproportion = A / (36 pi V^2)^(1/3)`` (V: mesh volume, A: surface area);
- axis lengths are ``4 sqrt(lambda)`` of the eigenvalues of the covariance of the voxel
  centres in mm (``numpy.linalg.eigvals``; values in ``(-1e-10, 0)`` are set to 0),
  Elongation ``sqrt(lambda_minor / lambda_major)``, Flatness
  ``sqrt(lambda_least / lambda_major)``.

References: van Griethuysen et al., Cancer Res 2017; PyRadiomics documentation
"Shape Features (3D)" and "Shape Features (2D)".
"""

from __future__ import annotations

import numpy as np

from ._mesh import mesh_2d, mesh_3d

__all__ = ["shape2d_features", "shape_features"]


def _eigen(coords: tuple[np.ndarray, ...], spacing: np.ndarray, sample: bool = False
           ) -> np.ndarray:
    n = len(coords[0])
    coordinates = np.array(coords, dtype="int").transpose((1, 0))
    physical = coordinates * spacing[None, :]
    physical -= np.mean(physical, axis=0)
    physical /= np.sqrt(max(n - 1, 1) if sample else n)  # IBSI: sample covariance
    covariance = np.dot(physical.T.copy(), physical)
    eig = np.linalg.eigvals(covariance)
    machine_errors = np.bitwise_and(eig < 0, eig > -1e-10)
    eig[machine_errors] = 0
    eig.sort()
    return eig


def _axis(lam: float) -> float:
    return float("nan") if lam < 0 else float(np.sqrt(lam) * 4)


def _ratio(a: float, b: float) -> float:
    return float("nan") if a < 0 or b < 0 else float(np.sqrt(a / b))


def shape_features(roi: np.ndarray, spacing_zyx: np.ndarray, *,
                   sample_pca: bool = False) -> dict[str, float]:
    """The 17 shape features (3D, including the 3 deprecated ones) of a lesion.

    Parameters
    ----------
    roi : (Z, Y, X) bool
        The lesion cropped to its bounding box.
    spacing_zyx : (3,) float64
        Voxel size in mm, numpy axis order.
    sample_pca : bool
        Principal axes from the sample covariance (``N - 1``, IBSI) instead of
        PyRadiomics' population covariance (``N``).
    """
    mask = np.pad(roi, 1, mode="constant", constant_values=False)
    coords = np.where(mask != 0)
    area, volume, diameters = mesh_3d(mask, spacing_zyx)
    n = len(coords[0])
    z, y, x = spacing_zyx
    eig = _eigen(coords, spacing_zyx, sample_pca)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "MeshVolume": volume, "VoxelVolume": n * (z * x * y), "SurfaceArea": area,
            "SurfaceVolumeRatio": area / volume,
            "Sphericity": (36 * np.pi * volume ** 2) ** (1.0 / 3.0) / area,
            "Compactness1": volume / (area ** (3.0 / 2.0) * np.sqrt(np.pi)),
            "Compactness2": (36.0 * np.pi) * (volume ** 2.0) / (area ** 3.0),
            "SphericalDisproportion": area / (36 * np.pi * volume ** 2) ** (1.0 / 3.0),
            "Maximum3DDiameter": diameters[3], "Maximum2DDiameterSlice": diameters[0],
            "Maximum2DDiameterColumn": diameters[1], "Maximum2DDiameterRow": diameters[2],
            "MajorAxisLength": _axis(eig[2]), "MinorAxisLength": _axis(eig[1]),
            "LeastAxisLength": _axis(eig[0]), "Elongation": _ratio(eig[1], eig[2]),
            "Flatness": _ratio(eig[0], eig[2]),
        }


def shape2d_features(roi: np.ndarray, spacing_yx: np.ndarray, *,
                     sample_pca: bool = False) -> dict[str, float]:
    """The 10 shape2D features (including the deprecated SphericalDisproportion).

    Parameters
    ----------
    roi : (Y, X) bool
        The lesion (one slice) cropped to its bounding box.
    spacing_yx : (2,) float64
        Pixel size in mm, numpy axis order.
    sample_pca : bool
        As in :func:`shape_features`.
    """
    mask = np.pad(roi, pad_width=1, mode="constant", constant_values=0)
    coords = np.where(mask != 0)
    perimeter, surface, diameter = mesh_2d(mask, spacing_yx)
    n = len(coords[0])
    y, x = spacing_yx
    eig = _eigen(coords, spacing_yx, sample_pca)
    with np.errstate(divide="ignore", invalid="ignore"):
        sphericity = (2 * np.sqrt(np.pi * surface)) / perimeter
        return {
            "MeshSurface": surface, "PixelSurface": n * (x * y), "Perimeter": perimeter,
            "PerimeterSurfaceRatio": perimeter / surface, "Sphericity": sphericity,
            "SphericalDisproportion": 1.0 / sphericity, "MaximumDiameter": diameter,
            "MajorAxisLength": _axis(eig[1]), "MinorAxisLength": _axis(eig[0]),
            "Elongation": _ratio(eig[0], eig[1]),
        }
