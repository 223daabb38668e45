"""Provenance stored with every output: versions, settings, seeds, input hashes.

Also the atomic file writers every stage uses, so that a kill never leaves a
half-written table behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["file_sha256", "path_sha256", "package_versions", "library_versions", "now_iso",
           "atomic_write", "atomic_write_text", "atomic_write_json", "settings_hash",
           "check_writable", "output_lock"]

#: Distributions whose versions are recorded with every output.
TRACKED_PACKAGES = ("thyromics", "numpy", "scipy", "pandas", "scikit-learn", "SimpleITK",
                    "pyradiomics-bhklab", "PyWavelets", "pydicom", "statsmodels",
                    "lightgbm", "xgboost-cpu", "imbalanced-learn", "torch", "monai")


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def path_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder (a DICOM series): names and bytes of its files, sorted."""
    p = Path(path)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(str(f.relative_to(p)).encode())
            h.update(file_sha256(f).encode())
        return h.hexdigest()
    return file_sha256(p)


def settings_hash(obj: Any) -> str:
    """SHA-256 of a JSON-able object in canonical form (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def library_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution in ``names`` (``None`` when absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Python, the platform and the installed versions of ``names`` (``"not installed"``
    when absent; :func:`library_versions` gives ``None`` instead)."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    out.update({name: v or "not installed" for name, v in library_versions(names).items()})
    return out


def now_iso() -> str:
    """The current UTC time, ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` in one step.

    The temporary file lies in the target's folder, so the final ``os.replace`` is atomic:
    readers see the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; follow the umask as open() does
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write JSON atomically, indented, with non-JSON values written as strings."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(folder: str | os.PathLike, what: str) -> Path:
    """Make ``folder`` and check that a file can be written in it, before any work starts.

    Raises
    ------
    InputError
        Naming the folder, what it is for and the system's reason (read-only, full disk).
    """
    from thyromics.errors import InputError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".thyromics-write-check.", dir=folder)
        try:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise InputError(f"cannot write to {what} {folder}: {e.strerror or e}. Choose another "
                         "folder (--out / --cache-dir) or free space; nothing was computed."
                         ) from e
    return folder


@contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive lock on ``output`` for the length of a run.

    A second run writing the same output refuses at once instead of both writing one
    table. The lock (``.<name>.lock`` beside the output, ``fcntl.flock``) is released by
    the system when the process ends, however it ends.

    Raises
    ------
    InputError
        When another process holds the lock (its pid is named).
    """
    from thyromics.errors import InputError

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    lock_path = output.with_name(f".{output.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock
            pass
        except OSError as e:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise InputError(f"another thyromics run (pid {holder}) is writing {output}; wait "
                             "for it to finish or choose another output.") from e
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
