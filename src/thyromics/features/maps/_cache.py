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

Numba's cache is also not safe when two processes compile the same function for different
argument types at once (``--jobs 2`` workers, or the test suite's, on a fresh cache): each
picks the first free data file number from the index it read, so one signature's index
entry can end up naming the other's compiled code. Found when ``image_pass`` called on a
strided box read its values with another layout's strides and returned a wrong first
order (no error; a silently wrong number). :func:`guard_numba_cache` therefore names each
data file by its signature and checks, on loading, that the file holds that signature's
code (else numba compiles afresh).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["KERNEL_FILES", "configure", "guard_numba_cache", "kernel_digest"]

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


_TAG = "thyromics-numba-cache-1"


def _data_name(cache_file: Any, key: Any) -> str:
    return cache_file._data_name(int(hashlib.sha256(repr(key).encode()).hexdigest()[:12], 16))


def _save(self: Any, key: Any, data: Any) -> None:
    """Numba's ``IndexDataCacheFile.save``, with the data file named by the signature and
    holding it (the data first: an index entry never names a file not yet written)."""
    name = _data_name(self, key)
    self._save_data(name, (_TAG, repr(key), data))
    overloads = self._load_index()
    if overloads.get(key) != name:
        overloads[key] = name
        self._save_index(overloads)


def _load(self: Any, key: Any) -> Any:
    """Numba's ``IndexDataCacheFile.load``; ``None`` (compile afresh) unless the data file
    holds this very signature's code."""
    name = self._load_index().get(key)
    if name is None:
        return None
    try:
        tag, saved_key, data = self._load_data(name)
    except Exception:  # noqa: BLE001 - missing, foreign or damaged file: compile afresh
        return None
    return data if tag == _TAG and saved_key == repr(key) else None


def guard_numba_cache() -> None:
    """Install :func:`_save` / :func:`_load` in numba's cache (idempotent)."""
    from numba.core import caching

    cls = caching.IndexDataCacheFile
    if getattr(cls, "_thyromics_guard", False):
        return
    cls._numba_save, cls._numba_load = cls.save, cls.load  # numba's own, for the tests
    cls.save, cls.load = _save, _load
    cls._thyromics_guard = True


def configure() -> Path:
    """Point numba's cache at the folder of this source (before any kernel is compiled),
    with :func:`guard_numba_cache` installed."""
    import numba

    guard_numba_cache()

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
