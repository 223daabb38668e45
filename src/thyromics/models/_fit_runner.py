"""Run the model stage's fits: in parallel, on a cluster, and never twice for one content.

Every fit (:mod:`thyromics.models._fits`) is keyed by what it depends on: the training
cohort's values, labels and patients, the settings, the seed, the fold, the model and the
code of the installed thyromics package and versions of the libraries that fit. A result
found in the cache folder under that key is used as it is; anything else is computed.
A rerun after a change to the report, or with one classifier added, refits only what
changed; a change in the data, a setting or the code refits everything it touches.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pickle
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from thyromics.errors import InputError
from thyromics.models._fits import FinalTask, FitContext, FoldTask, run_fit

__all__ = ["run_fits", "task_digest", "prune_fit_cache", "CACHE_VERSION", "FIT_CACHE_MAX_BYTES"]

#: Bump when the cached result objects change shape.
CACHE_VERSION = "1"
#: Most bytes a fit cache folder keeps: after a run, the least recently used fits that the
#: run did not use are removed first (a code change leaves every older fit unused).
FIT_CACHE_MAX_BYTES = 1 << 30
_FIT_LIBRARIES = ("numpy", "scipy", "scikit-learn", "imbalanced-learn", "lightgbm", "xgboost",
                  "pandas", "optuna", "numba")


def run_fits(tasks: Sequence[FoldTask | FinalTask], *, jobs: int = 1,
             scheduler: str | None = None, cache_dir: Path | None = None,
             on_done: Callable[[tuple, bool], None] | None = None) -> dict[tuple, Any]:
    """Results of ``tasks`` by task key; the tasks' warnings re-emitted in task order.

    ``jobs`` local processes (1: in this process) or the Dask cluster at ``scheduler``.
    ``cache_dir`` (optional) holds one file per computed fit, named by its digest. The
    fits share their fitted preprocessing and selection steps through a step cache
    (:func:`~thyromics.models.pipeline.shared_step_cache`) in ``cache_dir`` (or a temporary
    folder), removed when the fits are done; on a cluster, ``cache_dir`` should be on
    storage the workers share.
    ``on_done(key, cached)`` is called after each task (a progress bar).

    Raises
    ------
    InputError
        A fit failed: the model and fold are named with the original error.
    """
    import tempfile

    from thyromics.parallel import run_tasks

    results: dict[tuple, Any] = {}
    used: set[Path] = set()
    todo: list[tuple[tuple, tuple[int, FoldTask | FinalTask, Path | None, str]]] = []
    contexts: list[FitContext] = []  # sent to each worker once; the tasks carry an index
    # fitted steps shared by the fits of this run (see shared_step_cache); removed after
    if cache_dir is not None:
        for stale in Path(_made(cache_dir)).glob("steps-*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
    steps = (tempfile.mkdtemp(prefix="steps-", dir=cache_dir) if cache_dir is not None
             else tempfile.mkdtemp(prefix="thyromics-steps-"))
    digests = _ContextDigests()
    for task in tasks:
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / f"{task_digest(task, digests(task.context))}.pkl"
            used.add(path)
            cached = _load(path)
            if cached is not None:
                results[task.key] = cached
                if on_done is not None:
                    on_done(task.key, True)
                continue
        index = next((i for i, c in enumerate(contexts) if c is task.context), None)
        if index is None:
            index = len(contexts)
            contexts.append(task.context)
        todo.append((task.key, (index, dataclasses.replace(task, context=None), path, steps)))
    failures = []
    try:
        for outcome in run_tasks(_fit_and_store, todo, jobs=jobs, scheduler=scheduler,
                                 shared=tuple(contexts)):
            if outcome.ok:
                results[outcome.key] = outcome.result
            else:
                failures.append(outcome)
            if on_done is not None:
                on_done(outcome.key, False)
    finally:
        shutil.rmtree(steps, ignore_errors=True)
        if cache_dir is not None:
            prune_fit_cache(Path(cache_dir), keep=used)
    if failures:
        first = min(failures, key=lambda o: str(o.key))
        raise InputError(f"fit {_name(first.key)} failed: {type(first.error).__name__}: "
                         f"{first.error}" + (f" (and {len(failures) - 1} more fit(s))"
                                             if len(failures) > 1 else "")) from first.error
    for task in tasks:  # in task order, whatever order they finished in
        for message, category in results[task.key].warnings:
            warnings.warn(message, category, stacklevel=2)
    return results


def _name(key: tuple) -> str:
    return (f"{key[0]} (final model)" if key[1] == "final"
            else f"{key[0]} repeat {key[1]} fold {key[2]}")


def _made(folder: Path) -> Path:
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def _fit_and_store(arg: tuple[int, FoldTask | FinalTask, Path | None, str],
                   contexts: tuple[FitContext, ...]):
    from thyromics.models.pipeline import shared_step_cache

    index, task, path, steps = arg
    with shared_step_cache(steps):
        result = run_fit(dataclasses.replace(task, context=contexts[index]))
    if path is not None:
        _store(path, result)
    return result


def prune_fit_cache(folder: Path, *, keep: set[Path] = frozenset(),
                    max_bytes: int | None = None) -> list[Path]:
    """Remove the least recently used fits until ``folder`` holds at most ``max_bytes``
    (default :data:`FIT_CACHE_MAX_BYTES`); the files in ``keep`` stay. Returns the removed."""
    limit = FIT_CACHE_MAX_BYTES if max_bytes is None else max_bytes
    files = []
    for p in Path(folder).glob("*.pkl"):
        try:
            st = p.stat()
        except OSError:
            continue
        files.append((max(st.st_atime, st.st_mtime), p.name, p, st.st_size))
    total = sum(f[3] for f in files)
    removed = []
    for _, _, p, size in sorted(files):  # oldest use first
        if total <= limit:
            break
        if p in keep:
            continue
        try:
            p.unlink()
        except OSError:
            continue
        total -= size
        removed.append(p)
    return removed


def _load(path: Path):
    try:
        with open(path, "rb") as f:
            result = pickle.load(f)
        # a hit counts as a use (the access time; the file itself stays as it was written)
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))
        return result
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a torn or stale cache file is recomputed
        return None


def _store(path: Path, result: Any) -> None:
    from thyromics.provenance import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except OSError:  # the result stands; only a rerun recomputes it
        pass


class _ContextDigests:
    """Digests of the (few, large) fit contexts, each computed once."""

    def __init__(self) -> None:
        self._seen: dict[int, tuple[FitContext, str]] = {}

    def __call__(self, ctx: FitContext) -> str:
        hit = self._seen.get(id(ctx))
        if hit is None or hit[0] is not ctx:
            hit = (ctx, context_digest(ctx))
            self._seen[id(ctx)] = hit
        return hit[1]


def context_digest(ctx: FitContext) -> str:
    """SHA-256 of everything a study's fits share (values, labels, settings, seed, code)."""
    h = hashlib.sha256()
    X = ctx.X
    h.update(repr([(str(c), str(t)) for c, t in zip(X.columns, X.dtypes)]).encode())
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    for arr in (ctx.y, ctx.groups):
        a = np.asarray(arr)
        h.update(repr((a.dtype.str, a.shape)).encode())
        h.update(a.astype(str).tobytes() if a.dtype == object else a.tobytes())
    h.update(ctx.settings.model_dump_json().encode())
    h.update(repr((ctx.seed, ctx.cv_threshold, ctx.permutation_repeats)).encode())
    h.update(_code_digest().encode())
    return h.hexdigest()


def task_digest(task: FoldTask | FinalTask, context: str) -> str:
    """SHA-256 of one fit: its context digest, model and fold (or final fit options)."""
    h = hashlib.sha256(f"{CACHE_VERSION}|{context}|{task.spec!r}".encode())
    if isinstance(task, FoldTask):
        h.update(repr((task.fold.repeat, task.fold.fold, task.permutation)).encode())
        h.update(np.asarray(task.fold.train, dtype=np.int64).tobytes())
        h.update(b"|")
        h.update(np.asarray(task.fold.test, dtype=np.int64).tobytes())
    else:
        h.update(repr(("final", task.vimp, task.shap, task.shap_rows)).encode())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The installed thyromics source and the fitting libraries' versions."""
    import thyromics
    from thyromics.provenance import package_versions

    h = hashlib.sha256()
    root = Path(thyromics.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    h.update(repr(sorted(package_versions(_FIT_LIBRARIES).items())).encode())
    return h.hexdigest()
