"""The four pathology stages as typed functions (what ``thyromics pathology ...`` runs).

All four read the slide manifest and write into one output folder ``OUT``:

=============  =========================================================================
``tiles``      ``OUT/tiles/<slide>/<tile>.png``, ``OUT/tiles.csv`` (grid position, level-0
               footprint, owned region, tissue fraction), ``_tissue.png`` per slide
``normalise``  ``OUT/stain_reference.json``, ``OUT/normalised/<slide>/<tile>.png``,
               ``OUT/normalised.csv``
``nuclei``     ``OUT/nuclei/<slide>/<tile>.npz`` (``inst_map``, ``inst_type``), ``OUT/nuclei.csv``
``features``   ``OUT/nuclei_features.parquet`` (one row per nucleus) and the
               ``tile_features.csv``, ``slide_features.csv``, ``patient_features.csv`` summaries
=============  =========================================================================

Each stage also writes ``OUT/<stage>.errors.csv`` and ``OUT/<stage>.provenance.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.layout import NORMALISE, NUCLEI, TILES
from thyromics.pathology import _batch
from thyromics.pathology._batch import StageSummary
from thyromics.pathology.settings import NucleiSettings, StainSettings, TileSettings
from thyromics.pathology.slides import SlideRow, TileSpec, read_slide_manifest

__all__ = ["run_tiles", "run_normalise", "run_nuclei", "run_features"]

Progress = Callable[[str, bool], None] | None


@dataclass(frozen=True)
class _Task:
    row: SlideRow
    out: str
    settings: Any
    extra: Any = None


def _png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    from thyromics.provenance import atomic_write

    atomic_write(path, lambda p: Image.fromarray(img).save(p, format="PNG"))


def _imread(path: str | Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _tile(d: dict) -> TileSpec:
    return TileSpec(**{k: d[k] for k in TileSpec.__dataclass_fields__})


def _summary(stage, out, tasks, records, errors, seconds, outputs) -> StageSummary:
    return StageSummary(stage=stage, out=Path(out), n_slides=len(tasks), n_ok=len(records),
                        n_failed=len(tasks) - len(records), n_cached=sum(bool(r.get("cached")) for r in records),
                        n_tiles=sum(len(r.get("tiles", [])) for r in records), seconds=seconds,
                        outputs=outputs, errors=errors, records=records)


def _index(out: Path, name: str, records: list[dict]) -> Path:
    import pandas as pd

    from thyromics.provenance import atomic_write

    rows = [{"slide_id": r["slide_id"], "patient_id": r["patient_id"], **t} for r in records for t in r["tiles"]]
    frame = pd.DataFrame(rows)
    return atomic_write(out / name, lambda p: frame.to_csv(p, index=False))


def _cached(record: dict) -> dict:
    return {**record, "cached": True}


# ---------------------------------------------------------------- tiles


def _tiles_worker(task: _Task) -> dict:
    from thyromics.pathology.slides import open_slide, output_scale, read_tile, tile_grid, tissue_mask
    from thyromics.pathology.stain_check import check_he

    row, s = task.row, task.settings
    key = _batch.task_key(stage="tiles", slide=_batch.slide_fingerprint(row.path) if row.path.exists() else "",
                          mpp=row.mpp, settings=s.to_dict())
    folder = _batch.stage_dir(Path(task.out), "tiles", row.slide_id)
    slide = open_slide(row.path, mpp=row.mpp, slide_id=row.slide_id)
    if (hit := _batch.prepare_dir(folder, key)) is not None:
        return _cached(hit)
    output_scale(slide, s, row.slide_id)  # refuses an untrusted resolution before any work
    thumb, mscale = slide.thumbnail(s.thumbnail_size)
    mask = tissue_mask(thumb)
    preview = thumb.copy()
    preview[~mask] = (preview[~mask] * 0.35).astype(np.uint8)
    _png(TILES.at(task.out, "tissue", slide_id=row.slide_id), preview)
    he = check_he(thumb, mask)
    if s.check_stain and not he.ok:
        raise CaseError(f"not H&E: {he.reason} (tissue {mask.mean():.0%} of the thumbnail; see _tissue.png). "
                        "Give H&E slides; for another stain, run with --no-stain-check at your own risk.",
                        case_id=row.slide_id, file=str(row.path), stage="tiles")
    tiles, n_grid = tile_grid(slide, s, mask, mscale, row.slide_id)
    out_tiles = []
    for t in tiles:
        path = TILES.at(task.out, "tile", slide_id=row.slide_id, tile_id=t.tile_id)
        if not path.is_file():
            _png(path, read_tile(slide, t))
        out_tiles.append({**asdict(t), "path": str(path)})
    if not tiles:
        raise CaseError(f"no tile has a tissue fraction >= {s.min_tissue} ({n_grid} grid positions); "
                        "check _tissue.png, or lower --min-tissue.", case_id=row.slide_id,
                        file=str(row.path), stage="tiles")
    return _batch.finish({"key": key, "slide_id": row.slide_id, "patient_id": row.patient_id,
                          "region": row.region, "mpp0": slide.mpp, "mpp_source": slide.mpp_source,
                          "dimensions": list(slide.dimensions), "tissue_fraction": float(mask.mean()),
                          "stain_check": he.to_dict(), "n_grid": n_grid, "tiles": out_tiles,
                          "inputs": {"path": str(row.path), "fingerprint": key, "mpp0": slide.mpp,
                                     "mpp_source": slide.mpp_source, "stain_check": he.to_dict()}}, folder)


def _tasks(slides: str | Path, out: Path, settings: Any, extra: Any = None) -> list[tuple[str, _Task]]:
    rows = read_slide_manifest(slides)
    out.mkdir(parents=True, exist_ok=True)
    return [(r.slide_id, _Task(r, str(out), settings, extra)) for r in rows]


def run_tiles(slides: str | Path, out: str | Path, settings: TileSettings = TileSettings(), *,
              jobs: int = 1, scheduler: str | None = None, on_progress: Progress = None) -> StageSummary:
    """Detect tissue and cut every slide of the manifest into tiles (``OUT/tiles.csv``)."""
    out = Path(out)
    tasks = _tasks(slides, out, settings)
    records, errors, sec = _batch.run_stage("tiles", _tiles_worker, tasks, out, settings.to_dict(),
                                            jobs=jobs, scheduler=scheduler, on_progress=on_progress)
    return _summary("tiles", out, tasks, records, errors, sec, {"tiles": _index(out, TILES.name("index"), records)})


# ---------------------------------------------------------------- normalise


def _normalise_worker(task: _Task) -> dict:
    from thyromics.pathology.stain import StainReference, normalise

    row, s, ref = task.row, task.settings, task.extra
    out = Path(task.out)
    tiles = _batch.load_record(out, "tiles", row.slide_id, needed_by="normalise",
                               command=TILES.command)
    key = _batch.task_key(stage="normalise", tiles=tiles["key"], settings=s.to_dict(), reference=ref)
    folder = _batch.stage_dir(out, "normalised", row.slide_id)
    if (hit := _batch.prepare_dir(folder, key)) is not None:
        return _cached(hit)
    reference = StainReference(**ref) if ref else None
    done, tile_errors = [], []
    for t in tiles["tiles"]:
        path = NORMALISE.at(out, "tile", slide_id=row.slide_id, tile_id=t["tile_id"])
        if reference is None:
            done.append({**t, "source": t["path"]})
            continue
        if not path.is_file():
            try:
                _png(path, normalise(_imread(t["path"]), reference))
            except ValueError as e:  # e.g. a tile with too few stained pixels for Macenko
                tile_errors.append({"slide_id": row.slide_id, "tile_id": t["tile_id"], "stage": "normalise",
                                    "error": f"{e}; the tile is left out", "file": t["path"]})
                continue
        done.append({**t, "source": t["path"], "path": str(path)})
    if not done:
        raise CaseError("no tile could be normalised; see the tile errors.", case_id=row.slide_id,
                        stage="normalise")
    return _batch.finish({"key": key, "slide_id": row.slide_id, "patient_id": row.patient_id,
                          "tiles": done, "tile_errors": tile_errors, "inputs": {"tiles_key": tiles["key"]}},
                         folder)


def _choose_reference(out: Path, rows: list[SlideRow], s: StainSettings) -> tuple[list[str], list[np.ndarray]]:
    """Draw ``n_reference_tiles`` (seeded) among the tissue-richest half of all tiles."""
    import json

    tiles = []
    for r in rows:
        p = TILES.at(out, "done", slide_id=r.slide_id)
        if p.is_file():
            tiles += json.loads(p.read_text())["tiles"]
    if not tiles:
        raise InputError(f"folder {out}: no tiles to build the stain reference from. Run "
                         f"`{TILES.command}` first, or give --reference.")
    frac = np.array([t["tissue_fraction"] for t in tiles])
    pool = [t for t, f in zip(tiles, frac) if f >= np.median(frac)]
    rng = np.random.default_rng(s.seed)
    pick = sorted(rng.choice(len(pool), size=min(s.n_reference_tiles, len(pool)), replace=False))
    chosen = [pool[i]["path"] for i in pick]
    return chosen, [_imread(p) for p in chosen]


def run_normalise(slides: str | Path, out: str | Path, settings: StainSettings = StainSettings(), *,
                  reference: str | Path | None = None, jobs: int = 1, scheduler: str | None = None,
                  on_progress: Progress = None) -> StageSummary:
    """Normalise every tile to one stain reference (built from chosen tiles, or given).

    ``reference``: a reference JSON written by an earlier run (reused unchanged) or an
    image to fit it on. Without one, ``n_reference_tiles`` tiles are drawn with ``seed``
    from the tissue-richest half of all tiles, and the result is saved as
    ``OUT/stain_reference.json``.
    """
    from thyromics.pathology.stain import StainReference, fit_reference

    out = Path(out)
    rows = read_slide_manifest(slides)
    ref = None
    if settings.method != "none":
        kw = {"io": settings.io, "alpha": settings.alpha, "beta": settings.beta}
        if reference is not None and Path(reference).suffix.lower() == ".json":
            ref = StainReference.load(reference)
            if ref.method != settings.method:
                raise InputError(f"file {reference}: a {ref.method} reference, but --method {settings.method}.")
        elif reference is not None:
            ref = fit_reference([_imread(reference)], settings.method, source=[str(reference)], **kw)
        else:
            chosen, images = _choose_reference(out, rows, settings)
            ref = fit_reference(images, settings.method, source=chosen, **kw)
        ref.save(NORMALISE.at(out, "reference"))
    tasks = _tasks(slides, out, settings, asdict(ref) if ref else None)
    records, errors, sec = _batch.run_stage(
        "normalise", _normalise_worker, tasks, out, settings.to_dict(), jobs=jobs, scheduler=scheduler,
        on_progress=on_progress, extra_provenance={"reference": asdict(ref) if ref else None})
    outputs = {"normalised": _index(out, NORMALISE.name("index"), records)}
    if ref:
        outputs["reference"] = NORMALISE.at(out, "reference")
    return _summary("normalise", out, tasks, records, errors, sec, outputs)


# ---------------------------------------------------------------- nuclei


def _images_record(out: Path, slide_id: str, images: str) -> dict:
    """The images the nuclei stage segments: ``auto`` takes the normalised tiles whenever the
    ``normalise`` stage ran in ``OUT`` (a slide it failed on fails here, rather than being
    segmented unnormalised beside normalised slides), else the raw tiles."""
    ran_normalise = NORMALISE.at(out, "provenance").is_file()
    if images == "normalised" or (images == "auto" and ran_normalise):
        return _batch.load_record(out, "normalised", slide_id, needed_by="nuclei",
                                  command=NORMALISE.command)
    return _batch.load_record(out, "tiles", slide_id, needed_by="nuclei",
                              command=TILES.command)


def _save_npz(path: Path, inst: np.ndarray, types: dict[int, int]) -> None:
    """HoVer-Net-like tile file: ``inst_map`` and ``inst_type`` rows ``(label, type)``."""
    from thyromics.provenance import atomic_write

    pairs = np.array(sorted(types.items()), dtype=np.int32).reshape(-1, 2)

    def write(p: Path) -> None:
        with open(p, "wb") as f:  # a file object: savez would append .npz to a path
            np.savez_compressed(f, inst_map=inst.astype(np.int32), inst_type=pairs)

    atomic_write(path, write)


def _nuclei_worker(task: _Task) -> dict:
    from thyromics.pathology.nuclei_io import filter_by_area, nuclei_for_tile, open_source
    from thyromics.pathology.segment import classical_nuclei
    from thyromics.provenance import atomic_write_json

    row, s, out = task.row, task.settings, Path(task.out)
    images = _images_record(out, row.slide_id, task.extra)
    source_hash = None
    if s.segmenter == "external":
        if row.nuclei is None:
            raise CaseError("--segmenter external needs a nuclei column in the slide manifest naming the "
                            "segmenter's output for this slide.", case_id=row.slide_id, stage="nuclei")
        source = open_source(row.nuclei, row.slide_id)
        source_hash = _batch.slide_fingerprint(row.nuclei)
    key = _batch.task_key(stage="nuclei", images=images["key"], settings=s.to_dict(), source=source_hash)
    folder = _batch.stage_dir(out, "nuclei", row.slide_id)
    if (hit := _batch.prepare_dir(folder, key)) is not None:
        return _cached(hit)
    done = []
    for t in images["tiles"]:
        path = NUCLEI.at(out, "tile", slide_id=row.slide_id, tile_id=t["tile_id"])
        tile = _tile(t)
        if not tile.mpp:
            raise CaseError("the tiles have no resolution (made by an older version?); rerun "
                            f"`{TILES.command}` with an mpp column.", case_id=row.slide_id, stage="nuclei")
        px_area = tile.mpp ** 2
        lo, hi = s.min_area_um2 / px_area, s.max_area_um2 / px_area
        counts_path = NUCLEI.at(out, "counts", slide_id=row.slide_id, tile_id=t["tile_id"])
        if not path.is_file() or not counts_path.is_file():
            if s.segmenter == "external":
                inst, types, n_small, n_large = nuclei_for_tile(source, tile, lo, hi)
            else:
                raw = classical_nuclei(_imread(t["path"]), radius_px=s.radius_um / tile.mpp, min_area=1)
                inst, types, n_small, n_large = filter_by_area(raw, {}, lo, hi)
            _save_npz(path, inst, types)
            atomic_write_json(counts_path, {"n_dropped_small": n_small, "n_dropped_large": n_large})
        with np.load(path) as z:
            n = int(z["inst_map"].max())
        counts = json.loads(counts_path.read_text())
        done.append({**t, "image": t["path"], "path": str(path), "n_instances": n, **counts})
    return _batch.finish({"key": key, "slide_id": row.slide_id, "patient_id": row.patient_id,
                          "region": row.region, "tiles": done, "segmenter": s.segmenter,
                          "n_dropped_small": sum(d["n_dropped_small"] for d in done),
                          "n_dropped_large": sum(d["n_dropped_large"] for d in done),
                          "inputs": {"images_key": images["key"], "nuclei_source": str(row.nuclei or "")}},
                         folder)


def run_nuclei(slides: str | Path, out: str | Path, settings: NucleiSettings = NucleiSettings(), *,
               images: str = "auto", jobs: int = 1, scheduler: str | None = None,
               on_progress: Progress = None) -> StageSummary:
    """Nucleus instance maps for every tile: external segmenter output or the classical baseline.

    ``images``: ``normalised``, ``tiles`` or ``auto`` (normalised tiles where the
    ``normalise`` stage ran for the slide, else the raw tiles).
    """
    if images not in ("auto", "tiles", "normalised"):
        raise InputError(f"--images must be auto, tiles or normalised, got {images!r}")
    out = Path(out)
    tasks = _tasks(slides, out, settings, images)
    records, errors, sec = _batch.run_stage("nuclei", _nuclei_worker, tasks, out, settings.to_dict(),
                                            jobs=jobs, scheduler=scheduler, on_progress=on_progress)
    return _summary("nuclei", out, tasks, records, errors, sec, {"nuclei": _index(out, NUCLEI.name("index"), records)})


from thyromics.pathology._features_stage import run_features  # noqa: E402  (the fourth stage)
