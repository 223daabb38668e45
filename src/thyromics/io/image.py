"""The one image type every stage passes around.

An :class:`Image` holds a numpy array in ``(z, y, x)`` order for 3D and ``(y, x)`` for
2D (numpy order, as SimpleITK's ``GetArrayFromImage`` returns it) together with the
physical geometry in ``(x, y[, z])`` order (ITK order): spacing in mm, origin in mm,
and the direction cosine matrix, row-major, ``ndim * ndim`` values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import SimpleITK as sitk

__all__ = ["Image"]


@dataclass(frozen=True)
class Image:
    """An array with its physical geometry.

    Attributes
    ----------
    array : numpy.ndarray
        Voxel values, numpy order: ``(z, y, x)`` or ``(y, x)``.
    spacing : tuple of float
        Voxel size in mm, ITK order ``(x, y[, z])``.
    origin : tuple of float
        Physical position of the first voxel in mm, ITK order.
    direction : tuple of float
        Direction cosines, row-major, ``ndim * ndim`` values.
    source : str
        Where the image was read from (for messages and provenance).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...] = field(default=())
    direction: tuple[float, ...] = field(default=())
    source: str = ""

    def __post_init__(self) -> None:
        nd = self.array.ndim
        if nd not in (2, 3):
            raise ValueError(f"Image must be 2D or 3D, got an array of shape {self.array.shape}")
        if len(self.spacing) != nd:
            raise ValueError(f"spacing {self.spacing} has {len(self.spacing)} values for a {nd}D array")
        if not self.origin:
            object.__setattr__(self, "origin", (0.0,) * nd)
        if not self.direction:
            object.__setattr__(self, "direction", tuple(np.eye(nd).ravel().tolist()))
        object.__setattr__(self, "spacing", tuple(float(s) for s in self.spacing))
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in self.direction))

    @property
    def ndim(self) -> int:
        """2 or 3."""
        return self.array.ndim

    @property
    def size(self) -> tuple[int, ...]:
        """Size in ITK order ``(x, y[, z])``."""
        return tuple(reversed(self.array.shape))

    def with_array(self, array: np.ndarray) -> "Image":
        """A new image with the same geometry and another array of the same shape."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from {self.array.shape}")
        return Image(array, self.spacing, self.origin, self.direction, self.source)

    def to_sitk(self) -> "sitk.Image":
        """The SimpleITK image with the same array and geometry."""
        import SimpleITK as sitk

        out = sitk.GetImageFromArray(self.array)
        out.SetSpacing(self.spacing)
        out.SetOrigin(self.origin)
        out.SetDirection(self.direction)
        return out

    @classmethod
    def from_sitk(cls, img: "sitk.Image", source: str = "") -> "Image":
        """Wrap a SimpleITK image (the array is copied)."""
        import SimpleITK as sitk

        return cls(sitk.GetArrayFromImage(img), img.GetSpacing(), img.GetOrigin(),
                   img.GetDirection(), source)
