"""Readers and writers for images and masks, and the case manifest.

Public API
----------
:class:`Image`
    The one image type: array + spacing/origin/direction.
:func:`read_image`, :func:`read_mask`, :func:`write_image`
    Every supported format (DICOM series and files, NIfTI, NRRD, MetaImage, PNG, JPEG,
    BMP, GIF, TIFF).
:func:`check_finite`, :func:`check_geometry`, :func:`load_case`
    Checks, and one case read and checked.
:func:`read_manifest`, :func:`validate_readable`, :func:`duplicate_cases`, :class:`Case`,
:class:`Manifest`, :class:`ManifestError`
    The case manifest (``cases.csv``).
:func:`rtstruct_rois`, :func:`seg_segments`, :func:`slicer_segments`
    The structures / segments named in RTSTRUCT, DICOM SEG and Slicer ``.seg.nrrd``
    masks (:func:`read_mask` reads one by name with ``roi=``).
:func:`write_seg`
    Masks as a DICOM SEG referencing their source series.
:func:`scan_dicom`
    A DICOM folder tree -> manifest rows (``thyromics manifest``).
:func:`load_lesions`
    One mask -> one mask per lesion (``--lesions``).
:func:`read_table`
    Any table file (CSV, TSV, Parquet, Excel) by its ending, with one error style.
"""

from thyromics.io.image import Image
from thyromics.io.manifest import (Case, Manifest, ManifestError, duplicate_cases, read_manifest,
                                   summarize, validate_readable)
from thyromics.io.readers import (DEFAULT_GEOMETRY_TOLERANCE, SUPPORTED_EXTENSIONS, check_finite,
                                  check_geometry, load_case, read_image, read_mask)
from thyromics.io.writers import write_image
from thyromics.io.dicom_rt import rtstruct_rois
from thyromics.io.dicom_seg import seg_segments, write_seg
from thyromics.io.lesions import load_lesions
from thyromics.io.scan import scan_dicom
from thyromics.io.slicer_seg import slicer_segments
from thyromics.io.tables import TABLE_ENDINGS, read_table

__all__ = [
    "Image",
    "read_image",
    "read_mask",
    "write_image",
    "check_finite",
    "check_geometry",
    "load_case",
    "DEFAULT_GEOMETRY_TOLERANCE",
    "SUPPORTED_EXTENSIONS",
    "Case",
    "Manifest",
    "ManifestError",
    "read_manifest",
    "validate_readable",
    "duplicate_cases",
    "summarize",
    "rtstruct_rois",
    "seg_segments",
    "slicer_segments",
    "write_seg",
    "scan_dicom",
    "load_lesions",
    "read_table",
    "TABLE_ENDINGS",
]
