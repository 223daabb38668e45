"""Numba's on-disk cache of the kernels, in a folder named by all of the kernels' source.

Numba keys a cached function by its own file (modification time and size) and does not see
a change to a function it calls from another file: ``native/_kernels.image_pass``, cached
against an older ``maps/_glcm.glcm_mcc``, kept running the old one after ``_glcm.py`` was
fixed (found when a fix to MCC did not reach the native engine; silently, since a cache hit
looks like any other run). The cache folder is therefore named by the bytes of every kernel
file, numba's version and Python's: any change to any kernel compiles them all afresh, and
two versions of thyromics never share compiled code. The folder lies under
``NUMBA_CACHE_DIR`` when it is set, else under the user's cache folder
(``XDG_CACHE_HOME`` or ``~/.cache``) in ``thyromics/numba/``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["KERNEL_FILES", "configure", "kernel_digest"]

_HERE = Path(__file__).resolve().parent
#: Every file holding (or called by) a cached numba kernel.
KERNEL_FILES: tuple[Path, ...] = (*sorted(_HERE.glob("*.py")),
                                  *(_HERE.parent / "native" / f for f in ("_kernels.py", "_mesh.py")))


def kernel_digest(files: Iterable[Path] = KERNEL_FILES) -> str:
    """SHA-256 of the kernel files (names and bytes), numba's and Python's versions."""
    import numba

    h = hashlib.sha256(f"{numba.__version__}|{sys.version_info[:3]}".encode())
    for f in files:
        h.update(Path(f).name.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def configure() -> Path:
    """Point numba's cache at the folder of this source (before any kernel is compiled)."""
    import numba

    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "thyromics",
        "numba")
    folder = Path(base) / kernel_digest()[:20]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # no writable cache folder: a temporary one (kernels compile once per run)
        folder = Path(tempfile.gettempdir()) / f"thyromics-numba-{kernel_digest()[:20]}"
        folder.mkdir(parents=True, exist_ok=True)
    numba.config.CACHE_DIR = str(folder)
    return folder
