"""The batch runner every per-item stage shares (feature extraction, the pathology stages).

Items (cases, slides) run independently, in local processes or on a Dask cluster
(:func:`thyromics.parallel.run_tasks`): one failing item becomes a row of the stage's
errors table and the others go on. A finished item is a JSON record cached under a key
made of the content of its inputs and of the settings (:func:`task_key`), so a rerun
reuses it. Results and error rows come back in task order, whatever ``jobs``, so the
files written from them are the same for any number of processes.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thyromics.errors import CaseError, one_line
from thyromics.layout import SLIDE_DONE, Stage
from thyromics.parallel import run_tasks
from thyromics.provenance import atomic_write, atomic_write_json, settings_hash

__all__ = ["BatchResult", "run_batch", "error_row", "write_errors", "task_key", "read_record",
           "save_record", "prepare_dir"]

#: ``error_row(key, exception) -> row`` of the errors table.
ErrorRow = Callable[[Any, BaseException], dict]


@dataclass(frozen=True)
class BatchResult:
    """The items that succeeded, ``(key, result)`` in task order; the error rows in task
    order (an item's own failure, or the rows its result carries); the seconds spent."""

    results: list[tuple[Any, Any]]
    errors: list[dict]
    seconds: float


def run_batch(worker: Callable[[Any], Any], tasks: list[tuple[Any, Any]], *,
              error_row: ErrorRow, item_errors: Callable[[Any], list[dict]] | None = None,
              jobs: int = 1, scheduler: str | None = None,
              on_progress: Callable[[Any, bool], None] | None = None) -> BatchResult:
    """Run ``worker(arg)`` for every ``(key, arg)`` of ``tasks``; a failure never stops the rest.

    Parameters
    ----------
    worker : callable
        A picklable, module-level function of one task argument.
    tasks : list of (key, arg)
        Keys are unique (a case or slide id).
    error_row : callable
        ``error_row(key, exception)``: the errors-table row of a failed item.
    item_errors : callable, optional
        ``item_errors(result)``: rows a successful item reports (failed tiles of a slide).
    jobs, scheduler
        Local processes, or a Dask scheduler address (see :func:`thyromics.parallel.run_tasks`).
    on_progress : callable, optional
        Called as ``on_progress(key, ok)`` after each item, in completion order.
    """
    t0 = time.perf_counter()
    done: dict[Any, Any] = {}
    rows: dict[Any, list[dict]] = {}
    for outcome in run_tasks(worker, tasks, jobs=jobs, scheduler=scheduler):
        if outcome.ok:
            done[outcome.key] = outcome.result
            rows[outcome.key] = list(item_errors(outcome.result)) if item_errors else []
        else:
            rows[outcome.key] = [error_row(outcome.key, outcome.error)]
        if on_progress is not None:
            on_progress(outcome.key, outcome.ok)
    keys = list(dict.fromkeys(k for k, _ in tasks))
    return BatchResult(results=[(k, done[k]) for k in keys if k in done],
                       errors=[r for k in keys for r in rows.get(k, [])],
                       seconds=time.perf_counter() - t0)


def error_row(ids: Mapping[str, Any], error: BaseException, *, stage: str, file: str = "",
              limit: int | None = None) -> dict:
    """One errors-table row: ``ids``, then ``stage, error, file``.

    A :class:`CaseError` gives its own stage, reason and file; any other exception is
    ``Type: message`` under ``stage`` and ``file``. With ``limit``, messages are on one line
    and another exception's is cut to ``limit`` characters.
    """
    if isinstance(error, CaseError):
        text = " ".join(error.reason.split()) if limit else error.reason
        return {**ids, "stage": error.stage, "error": text, "file": error.file or ""}
    text = one_line(error, limit) if limit else f"{type(error).__name__}: {error}"
    return {**ids, "stage": stage, "error": text, "file": file}


def write_errors(stage: Stage, out: str | Path, rows: Sequence[Any], *, safe: bool = False,
                 **fields: Any) -> Path:
    """Write ``stage``'s errors table into ``out`` (atomically), with the layout's columns.

    ``rows`` are dicts by column, or tuples in the layout's column order. ``fields`` fill
    the file name (``stem`` of the feature table); ``safe`` escapes cells a spreadsheet
    would run as formulas (:func:`thyromics.csvsafe.safe_frame`).
    """
    import pandas as pd

    if stage.errors is None:
        raise ValueError(f"{stage.title} has no errors table in thyromics.layout")
    frame = pd.DataFrame(rows, columns=list(stage.columns(stage.errors)))
    if safe:
        from thyromics.csvsafe import safe_frame

        frame = safe_frame(frame)
    return atomic_write(stage.at(out, stage.errors, **fields), lambda p: frame.to_csv(p, index=False))


def task_key(version: str, **parts: Any) -> str:
    """The cache key of one item: a hash of the code's cache ``version`` and ``parts`` (the
    content hashes of its inputs, its settings)."""
    return settings_hash({"v": version, **parts})


def read_record(path: Path) -> dict | None:
    """A cached record, or None when the file is missing or unreadable (then recomputed)."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def save_record(path: Path, record: dict) -> dict:
    """Write a finished item's record (atomically) and return it."""
    atomic_write_json(path, record)
    return record


def prepare_dir(folder: Path, key: str) -> dict | None:
    """The item's cached record (``folder/_done.json``) when its key is ``key``; else None,
    with ``folder`` made ready for ``key``.

    A folder holding partial work for the same key is kept (its finished files are
    reused); one holding work for another key is emptied.
    """
    done, key_file = folder / SLIDE_DONE, folder / "_key.txt"
    if (record := read_record(done)) is not None and record.get("key") == key:
        return record
    if key_file.is_file() and key_file.read_text().strip() != key:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    key_file.write_text(key)
    return None
