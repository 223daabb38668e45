"""The four pathology stages' use of the shared batch runner (:mod:`thyromics.batch`).

Every stage runs slide by slide (local processes or Dask). A slide's finished result is a
record ``OUT/<stage>/<slide_id>/_done.json`` holding a cache key made of the content of
its inputs (the slide file, the previous stage's key) and of the settings; a rerun with
the same key reuses it, and within a slide every finished tile file is kept, so an
interrupted run resumes tile by tile. A failing slide lands in ``OUT/<stage>.errors.csv``
(``slide_id, tile_id, stage, error, file``) and the others go on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thyromics import batch
from thyromics.batch import prepare_dir
from thyromics.errors import CaseError
from thyromics.layout import PATHOLOGY, SLIDE_DONE
from thyromics.provenance import atomic_write_json, now_iso, package_versions

__all__ = ["StageSummary", "slide_fingerprint", "stage_dir", "load_record", "recorded_failure", "prepare_dir",
           "run_stage", "task_key", "finish", "CACHE_VERSION"]

#: Bump when a change of code changes cached values.
CACHE_VERSION = "2"
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


def task_key(**parts: Any) -> str:
    return batch.task_key(CACHE_VERSION, **parts)


def _error_row(slide_id: str, error: BaseException, stage: str) -> dict:
    return batch.error_row({"slide_id": slide_id, "tile_id": ""}, error, stage=stage, limit=400)


def run_stage(stage: str, worker: Callable[[Any], dict], tasks: list[tuple[str, Any]], out: Path,
              settings: dict, *, jobs: int = 1, scheduler: str | None = None,
              on_progress: Callable[[str, bool], None] | None = None,
              extra_provenance: dict | None = None) -> tuple[list[dict], list[dict], float]:
    """Run ``worker`` on every slide; write the errors table and the provenance.

    Returns the records of the slides that succeeded (manifest order), the error rows
    (slide failures and the tile failures records carry, in manifest order) and the
    seconds spent.
    """
    done = batch.run_batch(worker, tasks, error_row=lambda k, e: _error_row(k, e, stage),
                           item_errors=lambda r: r.get("tile_errors", []), jobs=jobs,
                           scheduler=scheduler, on_progress=on_progress)
    ordered, errors = [r for _, r in done.results], done.errors
    batch.write_errors(PATHOLOGY[stage], out, errors)
    atomic_write_json(PATHOLOGY[stage].at(out, "provenance"), {
        "stage": f"pathology {stage}", "created": now_iso(), "settings": settings,
        "versions": package_versions(("thyromics", "numpy", "scipy", "pandas", "scikit-image",
                                      "tifffile", "tiffslide", "statsmodels")),
        "slides": {r["slide_id"]: {"key": r["key"], **r.get("inputs", {})} for r in ordered},
        "n_ok": len(ordered), "n_failed": sum(1 for e in errors if not e["tile_id"]),
        **(extra_provenance or {})})
    return ordered, errors, done.seconds


def finish(record: dict, folder: Path) -> dict:
    """Write a slide's record as done (atomically) and return it."""
    return batch.save_record(folder / SLIDE_DONE, record)
