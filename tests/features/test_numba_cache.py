"""Numba's cache follows every kernel's source: a fix in a called kernel is never masked."""

from __future__ import annotations

import numba

from thyromics.features.maps import _cache


def test_the_cache_folder_is_named_by_every_kernel_file(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    return 1\n")
    b.write_text("def g():\n    return f()\n")
    before = _cache.kernel_digest([a, b])
    b.write_text("def g():\n    return f() + 1\n")  # only the caller's callee file changed
    assert _cache.kernel_digest([a, b]) != before
    names = {p.name for p in _cache.KERNEL_FILES}
    assert {"_glcm.py", "_box.py", "_kernels.py", "_mesh.py"} <= names


def test_kernels_compile_into_that_folder(tmp_path, monkeypatch):
    import thyromics.features.native  # noqa: F401 - imports every kernel module

    assert numba.config.CACHE_DIR.endswith(_cache.kernel_digest()[:20])
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    folder = _cache.configure()
    try:
        assert folder == tmp_path / _cache.kernel_digest()[:20] and folder.is_dir()
        assert numba.config.CACHE_DIR == str(folder)
    finally:
        monkeypatch.delenv("NUMBA_CACHE_DIR")
        _cache.configure()
