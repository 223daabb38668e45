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


def _cache_file(tmp_path):
    from numba.core.caching import IndexDataCacheFile

    return IndexDataCacheFile(str(tmp_path), "kernel-1.py311", source_stamp=(1.0, 10))


def test_a_signature_never_loads_another_signatures_code(tmp_path):
    """Two processes compiling one function for two signatures at once can leave numba's
    index naming the other signature's data file (each numbers its file from the index it
    read). Simulated here: the index entry of B made to name A's file. Numba's own load then
    returns A's code for B; the guarded load returns nothing, so numba compiles afresh."""
    from numba.core.caching import IndexDataCacheFile

    assert getattr(IndexDataCacheFile, "_thyromics_guard", False)  # installed on import
    cache = _cache_file(tmp_path)
    key_a, key_b = ("float64[:, ::1]", "magic", "h"), ("float64[:, :]", "magic", "h")
    cache.save(key_a, "code of A")
    cache.save(key_b, "code of B")
    index = cache._load_index()
    assert index[key_a] != index[key_b]  # files named by their signature
    assert cache.load(key_a) == "code of A" and cache.load(key_b) == "code of B"
    index[key_b] = index[key_a]  # the race's outcome
    cache._save_index(index)
    assert cache.load(key_b) is None
    assert cache.load(key_a) == "code of A"
    # numba's unguarded pair, for contrast: B would run A's code
    raw = _cache_file(tmp_path / "raw")
    (tmp_path / "raw").mkdir()
    IndexDataCacheFile._numba_save(raw, key_a, "code of A")
    IndexDataCacheFile._numba_save(raw, key_b, "code of B")
    index = raw._load_index()
    index[key_b] = index[key_a]
    raw._save_index(index)
    assert IndexDataCacheFile._numba_load(raw, key_b) == "code of A"


def test_files_of_numba_without_the_guard_are_not_loaded(tmp_path):
    """A data file in numba's own format (no signature inside) is compiled afresh."""
    from numba.core.caching import IndexDataCacheFile

    cache = _cache_file(tmp_path)
    key = ("float64[::1]", "magic", "h")
    IndexDataCacheFile._numba_save(cache, key, "unguarded code")
    assert cache.load(key) is None


_WORKER = """
import sys
import numpy as np
from thyromics.features.maps import _cache  # installs the guard, sets the cache folder
import numba
sys.path.insert(0, sys.argv[1])
from kern import total
a = np.arange(24.0).reshape(4, 6)
for v in ((a, a[:, ::2]) if sys.argv[2] == "0" else (a[:, ::2], a)):
    assert total(v) == v.sum(), (sys.argv[2], total(v), v.sum())
"""


def test_concurrent_compilation_then_loading(tmp_path):
    """Two processes compile one cached function for two layouts at once into one cache;
    a third loads both from it: every result right."""
    import os
    import subprocess
    import sys

    (tmp_path / "kern.py").write_text(
        "import numba\n\n@numba.njit(cache=True)\ndef total(a):\n    s = 0.0\n"
        "    for i in range(a.shape[0]):\n        for j in range(a.shape[1]):\n"
        "            s += a[i, j]\n    return s\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-c", _WORKER, str(tmp_path)]
    procs = [subprocess.Popen([*cmd, str(k)], env=env) for k in (0, 1)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert subprocess.run([*cmd, "1"], env=env, timeout=300).returncode == 0
