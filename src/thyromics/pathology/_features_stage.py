"""The ``features`` stage: per-nucleus features of every owned nucleus, then the summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from thyromics.errors import CaseError, InputError
from thyromics.layout import NUCLEI, NUCLEUS_FEATURES, TILES
from thyromics.pathology import _batch
from thyromics.pathology._batch import StageSummary
from thyromics.pathology.settings import FeatureSettings

__all__ = ["run_features", "ID_COLUMNS", "SIZE_UNIT_COLUMN", "SIZE_UNIT"]

#: Identifier columns leading the nucleus table.
ID_COLUMNS = ("patient_id", "slide_id", "region", "tile_id", "nucleus")
#: The column of every summary table that names the unit of the size features; ``associate``
#: refuses to pool tables whose units differ.
SIZE_UNIT_COLUMN = "size_unit"
SIZE_UNIT = "um"


def _features_worker(task) -> dict:
    import pandas as pd

    from thyromics.pathology.morphometry import nucleus_features, owned_nuclei
    from thyromics.pathology.stages import _imread, _tile
    from thyromics.provenance import atomic_write

    row, s, out = task.row, task.settings, Path(task.out)
    nuc = _batch.load_record(out, "nuclei", row.slide_id, needed_by="features",
                             command=NUCLEI.command)
    tiles_rec = _batch.load_record(out, "tiles", row.slide_id, needed_by="features",
                                   command=TILES.command)
    key = _batch.task_key(stage="features", nuclei=nuc["key"], settings=s.to_dict())
    folder = _batch.stage_dir(out, "features", row.slide_id)
    if (hit := _batch.prepare_dir(folder, key)) is not None:
        return {**hit, "cached": True}
    parts, per_tile = [], []
    for t in nuc["tiles"]:
        tile = _tile(t)
        if not tile.mpp:
            raise CaseError(f"tile {tile.tile_id} has no resolution (made by an older version?); rerun "
                            f"`{TILES.command}` with an mpp column.", case_id=row.slide_id,
                            file=t["path"], stage="features")
        with np.load(t["path"]) as z:
            inst, pairs = z["inst_map"], z["inst_type"]
        types = {int(a): int(b) for a, b in pairs}
        try:
            table = nucleus_features(inst, types, _imread(t["image"]), mpp=tile.mpp, settings=s,
                                     offset=(tile.x0, tile.y0), scale=tile.scale)
        except Exception as e:  # noqa: BLE001 - re-raised naming the slide and tile
            raise CaseError(f"tile {tile.tile_id}: {type(e).__name__}: {e}", case_id=row.slide_id,
                            file=t["path"], stage="features") from e
        owned, cut = owned_nuclei(table, inst, tile, tuple(tiles_rec["dimensions"]))
        owned.insert(0, "tile_id", tile.tile_id)
        parts.append(owned)
        per_tile.append({"tile_id": tile.tile_id, "n_owned": len(owned), "n_cut_by_tile_edge": cut,
                         "n_instances": int(t.get("n_instances", 0)),
                         "n_dropped_small": int(t.get("n_dropped_small", 0)),
                         "n_dropped_large": int(t.get("n_dropped_large", 0))})
    parts = [p for p in parts if len(p)]
    table = pd.concat(parts, ignore_index=True) if parts else nucleus_features(
        np.zeros((1, 1), np.int32), {}, np.zeros((1, 1, 3), np.uint8), mpp=None, settings=s).assign(tile_id="")
    table.insert(0, "region", row.region)
    table.insert(0, "slide_id", row.slide_id)
    table.insert(0, "patient_id", row.patient_id)
    path = NUCLEUS_FEATURES.at(out, "slide_nuclei", slide_id=row.slide_id)
    atomic_write(path, lambda p: table.to_parquet(p, index=False))
    return _batch.finish({"key": key, "slide_id": row.slide_id, "patient_id": row.patient_id,
                          "path": str(path), "tiles": per_tile, "mpp": nuc["tiles"][0]["mpp"] if nuc["tiles"] else None,
                          "n_nuclei": len(table), "inputs": {"nuclei_key": nuc["key"]}}, folder)


def run_features(slides: str | Path, out: str | Path, settings: FeatureSettings = FeatureSettings(), *,
                 jobs: int = 1, scheduler: str | None = None, on_progress=None) -> StageSummary:
    """Per-nucleus features (28 columns) and the tile, slide and patient summaries.

    Writes ``OUT/nuclei_features.parquet`` (provenance in its metadata) and
    ``OUT/tile_features.csv``, ``OUT/slide_features.csv``, ``OUT/patient_features.csv``
    (see :mod:`thyromics.pathology.aggregate`). Sizes are in micrometres (um, um^2): every
    tile has a trusted resolution. The summaries carry a ``size_unit`` column (``um``) and
    ``OUT/features.provenance.json`` lists the unit per slide.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thyromics.pathology.aggregate import aggregate, ith_types_for
    from thyromics.pathology.morphometry import AREA_FEATURES, LENGTH_FEATURES
    from thyromics.pathology.stages import _tasks
    from thyromics.provenance import atomic_write, atomic_write_json

    out = Path(out)
    tasks = _tasks(slides, out, settings)
    records, errors, sec = _batch.run_stage("features", _features_worker, tasks, out, settings.to_dict(),
                                            jobs=jobs, scheduler=scheduler, on_progress=on_progress)
    frames = [pd.read_parquet(r["path"]) for r in records]
    frames = [f for f in frames if len(f)]
    nuclei = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ID_COLUMNS))
    units = {r["slide_id"]: ("micrometre" if r.get("mpp") else "pixel") for r in records}
    if len(set(units.values())) > 1:
        raise InputError(f"folder {out}: slides mix micrometre and pixel units ({units}); sizes cannot be "
                         f"pooled. Rerun `{TILES.command}` (every slide needs a trusted mpp).")
    ith_types = ith_types_for(nuclei, settings) if len(nuclei) else ()
    prov = {"stage": "pathology features", "settings": settings.to_dict(), "ith_types": list(ith_types),
            "units": units, "length_features": list(LENGTH_FEATURES), "area_features": list(AREA_FEATURES),
            "slides": {r["slide_id"]: r["key"] for r in records}}
    arrow = pa.Table.from_pandas(nuclei, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           b"thyromics": json.dumps(prov, default=str).encode()})
    outputs = {"nuclei": atomic_write(NUCLEUS_FEATURES.at(out, "nuclei"), lambda p: pq.write_table(arrow, p))}
    prov_path = NUCLEUS_FEATURES.at(out, "provenance")
    atomic_write_json(prov_path, {**json.loads(prov_path.read_text()), **prov})
    if len(nuclei):
        cut = pd.DataFrame([{"slide_id": r["slide_id"], **t} for r in records for t in r["tiles"]])
        levels = {"tile": ["patient_id", "slide_id", "tile_id"], "slide": ["patient_id", "slide_id"],
                  "patient": ["patient_id"]}
        for name, by in levels.items():
            table = aggregate(nuclei, by, settings, ith_types)
            table.insert(len(by), SIZE_UNIT_COLUMN, SIZE_UNIT)
            if name == "tile":
                table = table.merge(cut, on=["slide_id", "tile_id"], how="left")
            outputs[name] = atomic_write(NUCLEUS_FEATURES.at(out, "summary", level=name), lambda p, t=table: t.to_csv(p, index=False))
    return StageSummary(stage="features", out=out, n_slides=len(tasks), n_ok=len(records),
                        n_failed=len(tasks) - len(records), n_cached=sum(bool(r.get("cached")) for r in records),
                        n_tiles=sum(len(r["tiles"]) for r in records), seconds=sec, outputs=outputs,
                        errors=errors, records=records)
