"""What kind of file a path is, and the read errors every reader raises.

Private module of :mod:`thyromics.io._formats`: the extension table, the kind of a path
(:func:`file_kind`), and the messages for missing and unreadable files.
"""

from __future__ import annotations

from pathlib import Path

from thyromics.errors import CaseError, did_you_mean

__all__ = ["FORMATS", "SUPPORTED_EXTENSIONS", "extension", "is_dicom_file", "file_kind", "fail",
           "first_line", "unreadable"]

#: Extension (lower case, with dot) -> (kind, format name used in messages).
FORMATS: dict[str, tuple[str, str]] = {
    ".nii": ("volume", "NIfTI"),
    ".nii.gz": ("volume", "NIfTI"),
    ".nrrd": ("volume", "NRRD"),
    ".nhdr": ("volume", "NRRD"),
    ".mha": ("volume", "MetaImage"),
    ".mhd": ("volume", "MetaImage"),
    ".png": ("raster", "PNG"),
    ".jpg": ("raster", "JPEG"),
    ".jpeg": ("raster", "JPEG"),
    ".bmp": ("raster", "BMP"),
    ".gif": ("raster", "GIF"),
    ".tif": ("raster", "TIFF"),
    ".tiff": ("raster", "TIFF"),
    ".dcm": ("dicom", "DICOM"),
    ".dicom": ("dicom", "DICOM"),
}
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(FORMATS)


def fail(path: Path | str, message: str, stage: str = "read") -> CaseError:
    """A :class:`CaseError` about ``path`` (by default of the ``read`` stage)."""
    return CaseError(message, file=str(path), stage=stage)


def extension(path: Path) -> str:
    """Lower-case extension with its dot; ``.nii.gz`` counts as one."""
    name = path.name.lower()
    for ext in (".nii.gz",):
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def is_dicom_file(path: Path) -> bool:
    """True when the file has the DICOM preamble (``DICM`` at byte 128)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def file_kind(path: Path) -> tuple[str, str]:
    """``(kind, format name)`` of a path; raises :class:`CaseError` when unknown/missing."""
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            hint = did_you_mean(path.name, [p.name for p in path.parent.iterdir()])
        raise fail(path, f"file not found: expected an image or a DICOM folder at {path}.{hint}")
    if path.is_dir():
        return "series", "DICOM series"
    ext = extension(path)
    if ext in FORMATS:
        return FORMATS[ext]
    if is_dicom_file(path):
        return "dicom", "DICOM"
    raise fail(path, f"unknown file type {ext or '(no extension)'!r}: expected one of "
                     f"{', '.join(SUPPORTED_EXTENSIONS)}, a DICOM file, or a DICOM series folder.")


def first_line(err: BaseException) -> str:
    """The informative line of a library's (multi-line) error message, at most 300 characters."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    # SimpleITK messages: "Exception thrown in SimpleITK ...: <file:line>:\nITK ERROR: ..."
    for ln in lines:
        if "ERROR" in ln or "error" in ln:
            return ln[:300]
    return (lines[-1] if lines else type(err).__name__)[:300]


def unreadable(path: Path, fmt: str, err: BaseException) -> CaseError:
    """The error for a file a library could not parse: its size, first bytes and the cause."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
        found = f"{size} bytes starting with {head!r}"
    except OSError:
        found = "a file that cannot be opened"
    return fail(path, f"cannot read the file as {fmt}: expected a valid {fmt} file, found "
                      f"{found} ({first_line(err)}). Is the file corrupt or truncated?")
