"""The native radiomics engine: PyRadiomics' values from compiled (numba) kernels.

:func:`extract_native` reproduces ``RadiomicsFeatureExtractor.execute`` (segment-based)
for the first-order, shape, GLCM, GLRLM, GLSZM, GLDM and NGTDM classes on every image
type PyRadiomics offers, with one compiled pass per image over one discretised array
(:mod:`._kernels`, grown from the voxel-map kernels of :mod:`thyromics.features.maps`).
It is chosen with ``ExtractionSettings(engine="native")`` / ``thyromics extract --engine
native``; see ``docs/ibsi_conformance.md`` for what is compared with what. With
``ExtractionSettings(convention="ibsi")`` it computes IBSI 1's definitions where they
differ from PyRadiomics' instead (:mod:`._ibsi`), and the texture aggregation variants
PyRadiomics lacks on request (:mod:`._aggregate`).
"""

from ._extract import DEPRECATED, NATIVE_NAMES, NativeResult, bin_levels, extract_native

__all__ = ["DEPRECATED", "NATIVE_NAMES", "NativeResult", "bin_levels", "extract_native"]
