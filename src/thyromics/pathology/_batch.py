"""The batch machinery shared by the four pathology stages.

Every stage runs slide by slide (local processes or Dask through
:func:`thyromics.parallel.run_tasks`). A slide's finished result is a record
``OUT/<stage>/<slide_id>/_done.json`` holding a cache key made of the content of its
inputs (the slide file, the previous stage's key) and of the settings; a rerun with the
same key reuses it, and within a slide every finished tile file is kept, so an
interrupted run resumes tile by tile. A failing slide lands in ``OUT/<stage>.errors.csv``
(``slide_id, tile_id, stage, error, file``) and the others go on.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thyromics.errors import CaseError
from thyromics.layout import PATHOLOGY, SLIDE_DONE, TILES
from thyromics.parallel import run_tasks
from thyromics.provenance import (atomic_write, atomic_write_json, now_iso, package_versions,
                                  settings_hash)

__all__ = ["StageSummary", "slide_fingerprint", "stage_dir", "load_record", "recorded_failure", "prepare_dir",
           "run_stage", "task_key", "finish", "CACHE_VERSION", "ERROR_COLUMNS"]

#: Bump when a change of code changes cached values.
CACHE_VERSION = "2"
ERROR_COLUMNS = list(TILES.columns("errors"))
_FULL_HASH_LIMIT = 512 << 20
_STAGE_OF = {"normalised": "normalise"}  # record folder -> stage name


@dataclass(frozen=True)
class StageSummary:
    """What one stage produced."""

    stage: str
    out: Path
    n_slides: int
    n_ok: int
    n_failed: int
    n_cached: int
    n_tiles: int
    seconds: float
    outputs: dict[str, Path] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


def slide_fingerprint(path: Path) -> str:
    """Content hash of a slide: SHA-256 of the bytes up to 512 MiB; beyond, of its size and
    the first and last 64 MiB (whole-slide files run to gigabytes; any re-scan changes both)."""
    from thyromics.provenance import path_sha256

    if path.is_dir() or path.stat().st_size <= _FULL_HASH_LIMIT:
        return path_sha256(path)
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with open(path, "rb") as f:
        h.update(f.read(64 << 20))
        f.seek(-(64 << 20), 2)
        h.update(f.read(64 << 20))
    return "partial:" + h.hexdigest()


def stage_dir(out: Path, stage: str, slide_id: str) -> Path:
    return Path(out) / stage / slide_id


def recorded_failure(out: Path, stage: str, slide_id: str) -> dict | None:
    """The slide's row in ``OUT/<stage>.errors.csv`` (a slide-level failure), if any."""
    import csv

    path = PATHOLOGY[_STAGE_OF.get(stage, stage)].at(out, "errors")
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("slide_id") == slide_id and not row.get("tile_id"):
                return row
    return None


def load_record(out: Path, stage: str, slide_id: str, *, needed_by: str, command: str) -> dict:
    """The finished record of ``stage`` for a slide, or a :class:`CaseError`.

    When the slide ran ``stage`` and failed, the error repeats that recorded failure (the
    fix is the slide's, not running the stage); when it never ran, it names the command.
    """
    path = stage_dir(out, stage, slide_id) / SLIDE_DONE
    if not path.is_file():
        failed = recorded_failure(out, stage, slide_id)
        if failed is not None:
            raise CaseError(f"skipped: the slide failed at `{_STAGE_OF.get(stage, stage)}` "
                            f"({failed.get('error', '')}); fix that "
                            f"and rerun `{command}`.", case_id=slide_id,
                            file=failed.get("file") or None, stage=needed_by)
        raise CaseError(f"{needed_by} needs the slide's {stage} output, which is missing ({path}). "
                        f"Run `{command}` first.", case_id=slide_id, file=str(path), stage=needed_by)
    return json.loads(path.read_text())


def prepare_dir(folder: Path, key: str) -> dict | None:
    """Return the cached record when ``key`` matches; else make the folder ready for ``key``.

    A folder holding partial work for the same key is kept (its finished tile files are
    reused); one holding work for another key is emptied.
    """
    done, key_file = folder / SLIDE_DONE, folder / "_key.txt"
    if done.is_file():
        record = json.loads(done.read_text())
        if record.get("key") == key:
            return record
    if key_file.is_file() and key_file.read_text().strip() != key:
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    key_file.write_text(key)
    return None


def task_key(**parts: Any) -> str:
    return settings_hash({"v": CACHE_VERSION, **parts})


def _error_rows(slide_id: str, error: BaseException, stage: str) -> dict:
    if isinstance(error, CaseError):
        return {"slide_id": slide_id, "tile_id": "", "stage": error.stage, "error": " ".join(error.reason.split()),
                "file": error.file or ""}
    from thyromics.pathology._slide_io import one_line

    return {"slide_id": slide_id, "tile_id": "", "stage": stage, "error": one_line(error, 400), "file": ""}


def run_stage(stage: str, worker: Callable[[Any], dict], tasks: list[tuple[str, Any]], out: Path,
              settings: dict, *, jobs: int = 1, scheduler: str | None = None,
              on_progress: Callable[[str, bool], None] | None = None,
              extra_provenance: dict | None = None) -> tuple[list[dict], list[dict], float]:
    """Run ``worker`` on every slide; write the errors table and the provenance.

    Returns the records of the slides that succeeded (manifest order), the error rows
    (slide failures and the tile failures records carry) and the seconds spent.
    """
    import pandas as pd

    t0 = time.perf_counter()
    records: dict[str, dict] = {}
    errors: list[dict] = []
    for outcome in run_tasks(worker, tasks, jobs=jobs, scheduler=scheduler):
        if outcome.ok:
            records[outcome.key] = outcome.result
            errors.extend(outcome.result.get("tile_errors", []))
        else:
            errors.append(_error_rows(outcome.key, outcome.error, stage))
        if on_progress is not None:
            on_progress(outcome.key, outcome.ok)
    ordered = [records[k] for k, _ in tasks if k in records]
    err = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    atomic_write(PATHOLOGY[stage].at(out, "errors"), lambda p: err.to_csv(p, index=False))
    atomic_write_json(PATHOLOGY[stage].at(out, "provenance"), {
        "stage": f"pathology {stage}", "created": now_iso(), "settings": settings,
        "versions": package_versions(("thyromics", "numpy", "scipy", "pandas", "scikit-image",
                                      "tifffile", "tiffslide", "statsmodels")),
        "slides": {r["slide_id"]: {"key": r["key"], **r.get("inputs", {})} for r in ordered},
        "n_ok": len(ordered), "n_failed": sum(1 for e in errors if not e["tile_id"]),
        **(extra_provenance or {})})
    return ordered, errors, time.perf_counter() - t0


def finish(record: dict, folder: Path) -> dict:
    """Write a slide's record as done (atomically) and return it."""
    atomic_write_json(folder / SLIDE_DONE, record)
    return record
