r"""Intensity moment invariants of a lesion (the two "moment" features of Moon et al. 2023).

The CT radiomics study of ATC/PDTC vs DTC (Moon et al., Sci Rep 2023) lists a two-feature
"moments" family without a definition. thyromics computes the two lowest-order rotation-,
translation- and scale-invariant moments of the intensity distribution inside the lesion,
taking the grey level as a mass density.

With :math:`f(\mathbf{x})` the grey level of the voxel at physical position
:math:`\mathbf{x}` (mm), :math:`\Delta V` the voxel volume and :math:`\bar{\mathbf{x}}`
the intensity-weighted centroid, the central moments are

.. math::

    \mu_{pqr} = \sum_{\mathbf{x} \in \mathrm{ROI}} f(\mathbf{x})\,
                (x-\bar x)^p (y-\bar y)^q (z-\bar z)^r \,\Delta V ,

and the scale-normalised moments are
:math:`\eta_{pqr} = \mu_{pqr} / \mu_{000}^{1 + (p+q+r)/d}` (:math:`d` = 2 or 3), which are
dimensionless.

3D (Sadjadi & Hall, 1980): the two invariants of the second-order moment tensor,

.. math::

    J_1 = \eta_{200} + \eta_{020} + \eta_{002}, \qquad
    J_2 = \eta_{200}\eta_{020} + \eta_{200}\eta_{002} + \eta_{020}\eta_{002}
          - \eta_{110}^2 - \eta_{101}^2 - \eta_{011}^2 .

2D (Hu, 1962): :math:`\phi_1 = \eta_{20} + \eta_{02}`,
:math:`\phi_2 = (\eta_{20} - \eta_{02})^2 + 4\eta_{11}^2`.

They are returned as ``Invariant1`` (:math:`J_1` or :math:`\phi_1`) and ``Invariant2``
(:math:`J_2` or :math:`\phi_2`). They are invariant to rotation, translation and
spatial scale, but not to a scaling of the density by :math:`c` (:math:`J_1` scales by
:math:`c^{-2/d}`, :math:`J_2` by :math:`c^{-4/d}`). The density must be positive: the
engine passes the discretised grey levels (1, 2, ..., as PyRadiomics bins them with the
settings' bin width or bin count). With a fixed bin count these do not depend on the
intensity offset or scale of the image; with a fixed bin width they do not depend on an
offset that is a multiple of the bin width.

References
----------
.. [1] M.-K. Hu, "Visual pattern recognition by moment invariants", IRE Trans. Inf.
   Theory 8(2):179-187, 1962.
.. [2] F. A. Sadjadi and E. L. Hall, "Three-dimensional moment invariants", IEEE Trans.
   Pattern Anal. Mach. Intell. PAMI-2(2):127-136, 1980.
.. [3] J. Flusser, T. Suk, B. Zitova, *2D and 3D Image Analysis by Moments*, Wiley, 2016.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["central_moments", "moment_invariants", "MOMENT_FEATURES"]

#: Names of the features returned by :func:`moment_invariants`.
MOMENT_FEATURES: tuple[str, str] = ("Invariant1", "Invariant2")


def central_moments(density: np.ndarray, mask: np.ndarray,
                    spacing: Sequence[float] | None = None, order: int = 2) -> np.ndarray:
    r"""Central moments :math:`\mu` of a density restricted to a mask.

    Parameters
    ----------
    density : numpy.ndarray, 2D or 3D
        Mass density (e.g. grey level), numpy axis order.
    mask : numpy.ndarray
        Region (non-zero = inside), same shape.
    spacing : sequence of float, optional
        Voxel size per numpy axis in mm (default 1).
    order : int
        Highest order per axis.

    Returns
    -------
    numpy.ndarray
        ``mu[p, q(, r)]`` over numpy axes, in units of density x mm^(d+p+q+r).
    """
    f = np.asarray(density, dtype=float)
    m = np.asarray(mask) != 0
    if f.shape != m.shape:
        raise ValueError(f"density shape {f.shape} differs from mask shape {m.shape}")
    sp = np.ones(f.ndim) if spacing is None else np.asarray(spacing, dtype=float)
    if sp.size != f.ndim:
        raise ValueError(f"spacing {tuple(sp)} has {sp.size} values for a {f.ndim}D array")
    idx = np.argwhere(m)
    w = f[m] * float(np.prod(sp))
    if idx.size == 0 or w.sum() <= 0:
        raise ValueError("moments need a non-empty region with a positive total density")
    pos = idx * sp
    centred = pos - (w[:, None] * pos).sum(axis=0) / w.sum()
    powers = [np.stack([c ** k for k in range(order + 1)]) for c in centred.T]
    mu = np.zeros((order + 1,) * f.ndim)
    for ix in np.ndindex(*mu.shape):
        term = w.copy()
        for axis, k in enumerate(ix):
            term = term * powers[axis][k]
        mu[ix] = term.sum()
    return mu


def moment_invariants(density: np.ndarray, mask: np.ndarray,
                      spacing: Sequence[float] | None = None) -> dict[str, float]:
    """The two second-order moment invariants (see the module docstring).

    Parameters
    ----------
    density : numpy.ndarray, 2D or 3D
        Positive mass density inside the mask (e.g. discretised grey levels 1..Ng).
    mask : numpy.ndarray
        Lesion (non-zero = inside), same shape.
    spacing : sequence of float, optional
        Voxel size per numpy axis (mm); default 1.

    Returns
    -------
    dict
        ``{"Invariant1": ..., "Invariant2": ...}``, dimensionless.
    """
    mu = central_moments(density, mask, spacing, order=2)
    d = mu.ndim
    m0 = mu[(0,) * d]

    def eta(*pqr: int) -> float:
        return float(mu[pqr] / m0 ** (1.0 + sum(pqr) / d))

    if d == 2:
        e20, e02, e11 = eta(2, 0), eta(0, 2), eta(1, 1)
        return {"Invariant1": e20 + e02, "Invariant2": (e20 - e02) ** 2 + 4.0 * e11 ** 2}
    a, b, c = eta(2, 0, 0), eta(0, 2, 0), eta(0, 0, 2)
    ab, ac, bc = eta(1, 1, 0), eta(1, 0, 1), eta(0, 1, 1)
    return {"Invariant1": a + b + c,
            "Invariant2": a * b + a * c + b * c - ab ** 2 - ac ** 2 - bc ** 2}
