"""Cohort-scale extraction: every case of a manifest -> one feature table.

Cases run in parallel (local processes, or a Dask cluster), each one independently: a
failing case lands in the errors table with its stage and reason and the others go on.
Each finished case is cached under a key made of the content of its image and mask and
of the settings, so a rerun, or a run resumed after a crash or Ctrl-C, recomputes
nothing that finished. Tables are written atomically, with their provenance.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thyromics import batch
from thyromics.errors import CaseError, InputError
from thyromics.layout import EXTRACT
from thyromics.provenance import (atomic_write, atomic_write_json, check_writable, now_iso,
                                  output_lock, package_versions, path_sha256)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from thyromics.features.settings import ExtractionSettings
    from thyromics.io.manifest import Manifest

__all__ = ["CaseTask", "ExtractionSummary", "extract_cohort", "extract_case_record",
           "read_features", "errors_path_for", "ID_COLUMNS", "LESION_ID_COLUMNS",
           "PROVENANCE_KEY"]

#: Identifier columns that lead every feature table.
ID_COLUMNS = ("case_id", "patient_id", "label", "split")
#: Identifier columns after those in a table with one row per lesion (``lesions=``):
#: the manifest case the lesion came from, and the lesion's id within it.
LESION_ID_COLUMNS = ("parent_case_id", "lesion_id")
#: Parquet schema-metadata key under which the provenance JSON is stored.
PROVENANCE_KEY = b"thyromics"
#: Bump when a change of code changes cached values (3: records keep the readers' notes).
CACHE_VERSION = "3"


@dataclass(frozen=True)
class CaseTask:
    """Everything a worker needs for one case (picklable)."""

    case_id: str
    image: str
    mask: str
    settings: Any
    cache_dir: str | None
    geometry_tolerance: float
    ith: bool = False
    frame: int | None = None
    series_uid: str | None = None
    #: A :class:`thyromics.robustness.perturb.Perturbation` applied to the image and mask
    #: after reading (``apply`` and ``to_dict``), or None.
    perturbation: Any = None
    #: Structure / segment name of RTSTRUCT, SEG and Slicer masks (manifest ``roi``).
    roi: str | None = None
    #: ``"components"`` or ``"labels"``: one row per lesion (:mod:`thyromics.io.lesions`).
    lesions: str | None = None
    min_lesion_voxels: int = 1


@dataclass(frozen=True)
class ExtractionSummary:
    """What a cohort extraction produced."""

    output: Path
    errors_path: Path
    provenance_path: Path
    n_cases: int
    n_ok: int
    n_failed: int
    n_cached: int
    n_features: int
    seconds: float
    errors: list[dict] = field(default_factory=list)


def errors_path_for(output: Path) -> Path:
    """``features.parquet`` -> ``features.errors.csv`` beside it."""
    return EXTRACT.at(output.parent, "errors", stem=output.stem)


def _provenance_path_for(output: Path) -> Path:
    return EXTRACT.at(output.parent, "provenance", stem=output.stem)


def _cache_key(task: CaseTask, image_hash: str, mask_hash: str) -> str:
    key = {"image": image_hash, "mask": mask_hash, "settings": task.settings.to_dict(),
           "tolerance": task.geometry_tolerance, "ith": task.ith,
           "frame": task.frame, "series": task.series_uid}
    if task.perturbation is not None:  # unperturbed keys stay as they were
        key["perturbation"] = task.perturbation.to_dict()
    if task.roi is not None:  # keys of cases without these options stay as they were
        key["roi"] = task.roi
    if task.lesions is not None:
        key["lesions"] = [task.lesions, task.min_lesion_voxels]
    return batch.task_key(CACHE_VERSION, **key)


def extract_case_record(task: CaseTask) -> dict:
    """Extract one case (worker function): read, check, extract, cache.

    Returns a JSON-able record with ``values``, ``missing``, ``diagnostics``, the input
    hashes and timing. Raises :class:`CaseError` naming the case on any failure.
    """
    from thyromics.io import load_case
    from thyromics.io.manifest import Case
    from thyromics.io.readers import reader_notes

    t0 = time.perf_counter()
    try:
        image_hash, mask_hash = path_sha256(task.image), path_sha256(task.mask)
    except OSError as e:
        missing = task.image if not Path(task.image).exists() else task.mask
        raise CaseError(f"cannot read the file: {e.strerror or e}. Check the path in the "
                        "manifest (paths are relative to the CSV's folder).",
                        case_id=task.case_id, file=missing, stage="read") from e
    key = _cache_key(task, image_hash, mask_hash)
    cached = Path(task.cache_dir, key + ".json") if task.cache_dir else None
    if cached is not None and cached.exists():
        record = _read_cached(cached)
        if record is not None:  # the cache holds values only: the identity is this task's
            return {**record, "case_id": task.case_id, "cached": True}

    case = Case(case_id=task.case_id, image=Path(task.image), mask=Path(task.mask), row=0,
                patient_id=task.case_id, label=None, split=None, clinical={}, roi=task.roi,
                series_uid=task.series_uid)
    if task.lesions is not None:
        return _lesions_record(task, case, cached, image_hash, mask_hash, t0)
    with reader_notes() as read_notes:
        image, mask = load_case(case, label=getattr(task.settings, "label", None),
                                geometry_tolerance=task.geometry_tolerance, frame=task.frame,
                                series_uid=task.series_uid)
    perturbed = None
    if task.perturbation is not None:
        image, mask, perturbed = _perturb(task, image, mask)
    result, values, missing = _extract_one(task, image, mask, task.case_id, "")
    notes = list(result.diagnostics.get("thyromics_resampling_notes", []))
    record = {"case_id": task.case_id, "values": values,
              "missing": missing, "diagnostics": _jsonable(result.diagnostics),
              "notes": notes, "ndim": image.ndim, "image_sha256": image_hash,
              "mask_sha256": mask_hash, "seconds": round(time.perf_counter() - t0, 4),
              "cached": False}
    if read_notes:
        record["read_notes"] = read_notes
    if perturbed is not None:
        record["perturbation"] = perturbed
    return _cache_record(record, cached)


def _extract_one(task: CaseTask, image, mask, who: str, prefix: str):
    """``(result, values, missing)`` of one mask; a library failure names the case."""
    from thyromics.features.engine import extract_features

    try:
        result = extract_features(image, mask, task.settings, case_id=who, warn=False)
    except CaseError:
        raise
    except Exception as e:  # an unexpected library failure still names the case
        raise CaseError(f"{prefix}{type(e).__name__}: {e}", case_id=task.case_id,
                        file=task.image, stage="extract") from e
    values, missing = dict(result.values), dict(result.missing)
    if task.ith:
        values.update(_ith_values(image, mask, who, missing))
    return result, values, missing


def _cache_record(record: dict, cached: Path | None) -> dict:
    """Write ``record`` (values only, not the case id) to the cache file; returns it."""
    if cached is not None:
        try:
            atomic_write_json(cached, {k: v for k, v in record.items() if k != "case_id"})
        except OSError as e:  # the values stand; only the rerun will recompute them
            record["cache_error"] = f"could not write the cache file {cached}: {e.strerror or e}"
    return record


def _lesions_record(task: CaseTask, case, cached: Path | None, image_hash: str,
                    mask_hash: str, t0: float) -> dict:
    """One case split into lesions (:func:`thyromics.io.lesions.load_lesions`), each extracted.

    The record holds ``lesions``: one ``{lesion_id, n_voxels, values, missing}`` per
    lesion, and ``lesion_info`` (components found, dropped as too small).
    """
    from thyromics.io.lesions import load_lesions
    from thyromics.io.readers import reader_notes

    with reader_notes() as read_notes:
        image, lesions, info = load_lesions(
            case, task.lesions, min_voxels=task.min_lesion_voxels,
            label=getattr(task.settings, "label", None),
            geometry_tolerance=task.geometry_tolerance, frame=task.frame,
            series_uid=task.series_uid)
    rows, notes, diagnostics = [], [], {}
    for lesion_id, mask in lesions:
        result, values, missing = _extract_one(task, image, mask,
                                               f"{task.case_id} lesion {lesion_id}",
                                               f"lesion {lesion_id}: ")
        notes += list(result.diagnostics.get("thyromics_resampling_notes", []))
        diagnostics = diagnostics or _jsonable(result.diagnostics)
        rows.append({"lesion_id": lesion_id, "n_voxels": int(mask.array.sum()),
                     "values": values, "missing": missing})
    record = {"case_id": task.case_id, "values": {}, "missing": {}, "lesions": rows,
              "lesion_info": info, "diagnostics": diagnostics, "notes": notes,
              "ndim": image.ndim, "image_sha256": image_hash, "mask_sha256": mask_hash,
              "seconds": round(time.perf_counter() - t0, 4), "cached": False}
    if read_notes:
        record["read_notes"] = read_notes
    return _cache_record(record, cached)


def _perturb(task: CaseTask, image, mask):
    """The task's perturbation applied; a failure names the case (stage ``perturb``)."""
    try:
        return task.perturbation.apply(image, mask, case_id=task.case_id,
                                       label=getattr(task.settings, "label", None))
    except CaseError:
        raise
    except Exception as e:  # an unexpected failure still names the case
        raise CaseError(f"{type(e).__name__}: {e}", case_id=task.case_id, file=task.image,
                        stage="perturb") from e


def _read_cached(path: Path) -> dict | None:
    """A cached record, or None when the file is unreadable (it is then recomputed)."""
    record = batch.read_record(path)
    return record if record is not None and "values" in record else None


def _ith_values(image, mask, case_id: str, missing: dict) -> dict[str, float]:
    """The heterogeneity block; a failure leaves its columns empty, with the reason."""
    from thyromics.features.ith import ith_features

    try:
        return ith_features(image, mask, case_id=case_id)
    except Exception as e:  # noqa: BLE001 - recorded, the radiomics of the case stand
        missing["ith"] = f"{type(e).__name__}: {e}"
        return {}


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=str))


def extract_cohort(manifest: "str | Path | Manifest", settings: "ExtractionSettings",
                   output: str | Path, *, jobs: int = 1, scheduler: str | None = None,
                   cache_dir: str | Path | None = None, write_csv: bool = False,
                   geometry_tolerance: float = 1e-3, ith: bool = False,
                   frame: int | None = None, series_uid: str | None = None,
                   on_progress: Callable[[str, bool], None] | None = None,
                   perturbation: Any = None, roi: str | None = None,
                   lesions: str | None = None, min_lesion_voxels: int = 1) -> ExtractionSummary:
    """Extract features for every case of a manifest into one table.

    Parameters
    ----------
    manifest : path or Manifest
        The case manifest (``cases.csv``).
    settings : ExtractionSettings
        A preset (``get_preset("ct")``) or settings from a PyRadiomics parameter file.
    output : path
        ``features.parquet``; ``features.errors.csv`` and ``features.provenance.json`` are
        written beside it (and ``features.csv`` when ``write_csv``).
    jobs : int
        Local worker processes. Ignored when ``scheduler`` is given.
    scheduler : str, optional
        A Dask scheduler address: the same job runs on that cluster.
    cache_dir : path, optional
        Per-case cache; default ``<output folder>/.thyromics_cache``.
    ith : bool
        Add the heterogeneity block (sub-regions, iTED, ITHscores: family ``ith``); slow,
        tens of seconds per lesion.
    frame, series_uid : optional
        The frame of multi-frame files, the series of DICOM folders holding several
        (see :func:`thyromics.io.read_image`).
    on_progress : callable, optional
        Called as ``on_progress(case_id, ok)`` after each case.
    roi : str, optional
        Structure / segment name of RTSTRUCT, SEG and Slicer masks, for rows whose
        ``roi`` cell is empty (see :func:`thyromics.io.read_mask`).
    lesions : {"components", "labels"}, optional
        One table row per lesion of each mask (:mod:`thyromics.io.lesions`): ``case_id``
        becomes ``<case_id>_L<lesion_id>``, with ``parent_case_id`` and ``lesion_id``
        columns; ``patient_id`` and the clinical columns are the case's, so every split
        still groups a patient's lesions together.
    min_lesion_voxels : int
        With ``lesions``: smaller lesions are left out (counted in the provenance).
    perturbation : Perturbation, optional
        Applied to every case's image and mask before extraction
        (:class:`thyromics.robustness.perturb.Perturbation`); its settings and each
        case's drawn parameters go into the provenance.

    Returns
    -------
    ExtractionSummary
        Counts, paths and the errors. The table holds one row per successful case.
    """
    from thyromics.io.manifest import Manifest, read_manifest

    t0 = time.perf_counter()
    output = Path(output)
    if lesions is not None:
        from thyromics.io.lesions import LESION_MODES

        if lesions not in LESION_MODES:
            raise InputError(f"unknown --lesions mode {lesions!r}; expected one of "
                             f"{', '.join(LESION_MODES)}.")
        if perturbation is not None:
            raise InputError("lesions= and perturbation= cannot be combined: perturb the "
                             "cases of a one-lesion-per-row manifest instead.")
        if int(min_lesion_voxels) < 1:
            raise InputError(f"min_lesion_voxels must be >= 1, got {min_lesion_voxels}.")
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest, check_files=False)
    cache = Path(cache_dir) if cache_dir else EXTRACT.at(output.parent, "cache")
    check_writable(output.parent, "the output folder")
    check_writable(cache, "the cache folder")
    with output_lock(output):
        return _extract_locked(manifest, settings, output, cache, jobs=jobs, scheduler=scheduler,
                               write_csv=write_csv, geometry_tolerance=geometry_tolerance,
                               ith=ith, frame=frame, series_uid=series_uid,
                               on_progress=on_progress, t0=t0, perturbation=perturbation,
                               roi=roi, lesions=lesions,
                               min_lesion_voxels=int(min_lesion_voxels))


def _extract_locked(manifest: "Manifest", settings: "ExtractionSettings", output: Path,
                    cache: Path, *, jobs: int, scheduler: str | None, write_csv: bool,
                    geometry_tolerance: float, ith: bool, frame: int | None,
                    series_uid: str | None, on_progress: Callable[[str, bool], None] | None,
                    t0: float, perturbation: Any = None, roi: str | None = None,
                    lesions: str | None = None, min_lesion_voxels: int = 1) -> ExtractionSummary:
    by_id = {c.case_id: c for c in manifest.cases}
    tasks = [(c.case_id, CaseTask(c.case_id, str(c.image), str(c.mask), settings, str(cache),
                                  geometry_tolerance, ith, frame,
                                  getattr(c, "series_uid", None) or series_uid, perturbation,
                                  getattr(c, "roi", None) or roi, lesions, min_lesion_voxels))
             for c in manifest.cases]

    done = batch.run_batch(  # results and errors in manifest order, whatever --jobs
        extract_case_record, tasks, jobs=jobs, scheduler=scheduler, on_progress=on_progress,
        error_row=lambda k, e: batch.error_row({"case_id": k}, e, stage="extract",
                                               file=str(by_id[k].image)))
    records, errors = dict(done.results), done.errors
    order = list(records)
    _warn_notes(order, records)
    table = _build_table(manifest, [(k, records[k]) for k in order], settings,
                         lesions=lesions is not None)
    id_columns = [*ID_COLUMNS, *(LESION_ID_COLUMNS if lesions is not None else ())]
    n_features = table.shape[1] - len(id_columns) - len(manifest.clinical_columns)
    # what goes into the table is a function of the inputs only (byte-identical reruns,
    # whatever --jobs or cluster); how the run went is in the provenance file's "run"
    provenance = {
        "stage": "extract", "manifest": str(manifest.path),
        "manifest_sha256": path_sha256(manifest.path), "settings": settings.to_dict(),
        "versions": package_versions(), "ith": ith,
        "columns": {"id": id_columns, "clinical": list(manifest.clinical_columns),
                    "features": list(table.columns[len(id_columns) +
                                                   len(manifest.clinical_columns):])},
        "cases": {k: _case_provenance(records[k]) for k in order},
        "n_ok": len(order), "n_failed": len(errors),
    }
    if perturbation is not None:
        provenance["perturbation"] = perturbation.to_dict()
    if lesions is not None:
        provenance["lesions"] = {"mode": lesions, "min_voxels": int(min_lesion_voxels)}
    run = {"created": now_iso(), "jobs": jobs, "scheduler": scheduler,
           "n_cached": sum(bool(records[k].get("cached")) for k in order),
           "seconds": round(time.perf_counter() - t0, 3)}
    errors_path = errors_path_for(output)
    try:
        _write_parquet(table, output, provenance)
        if write_csv:
            atomic_write(EXTRACT.at(output.parent, "csv", stem=output.stem), lambda p: table.to_csv(p, index=False))
        batch.write_errors(EXTRACT, output.parent, errors, stem=output.stem)
        prov_path = atomic_write_json(_provenance_path_for(output), {**provenance, "run": run})
    except OSError as e:
        kept = sum(not records[k].get("cache_error") for k in order)
        raise InputError(f"cannot write the feature table {output}: {e.strerror or e}. {kept} "
                         f"of the {len(order)} extracted case(s) are kept in the cache ({cache}); "
                         "free space or choose another --out and rerun: those are not recomputed."
                         ) from e
    return ExtractionSummary(output=output, errors_path=errors_path, provenance_path=prov_path,
                             n_cases=len(tasks), n_ok=len(order), n_failed=len(errors),
                             n_cached=sum(bool(r.get("cached")) for r in records.values()),
                             n_features=n_features, seconds=time.perf_counter() - t0,
                             errors=errors)


def _case_provenance(record: dict) -> dict:
    out = {"image_sha256": record["image_sha256"], "mask_sha256": record["mask_sha256"],
           "missing": record["missing"]}
    notes = [*record.get("read_notes", []), *record.get("notes", [])]
    if notes:  # what the readers noted (uncalibrated ultrasound ...), then resampling
        out["notes"] = notes
    if record.get("perturbation"):
        out["perturbation"] = record["perturbation"]
    if "lesions" in record:
        out["lesions"] = {**record.get("lesion_info", {}),
                          "kept": {r["lesion_id"]: {"n_voxels": r["n_voxels"],
                                                    "missing": r["missing"]}
                                   for r in record["lesions"]}}
    return out


def _warn_notes(order: list[str], records: dict[str, dict]) -> None:
    """Warn, in this process, about padded short axes, uncalibrated ultrasound images and
    cache files that failed."""
    from thyromics.errors import ThyromicsWarning
    from thyromics.preprocess.resample import ResamplingWarning

    noted = [k for k in order if records[k].get("notes")]
    if noted:
        shown = ", ".join(repr(k) for k in noted[:3]) + (" ..." if len(noted) > 3 else "")
        warnings.warn(f"{len(noted)} case(s) have an axis shorter than the interpolation "
                      f"kernel ({shown}); case {noted[0]!r}: {records[noted[0]]['notes'][0]}. "
                      "Every case's notes are in the provenance file.", ResamplingWarning,
                      stacklevel=3)
    uncalibrated = [k for k in order if records[k].get("read_notes")]
    if uncalibrated:
        from thyromics.io.dicom_series import UncalibratedSpacingWarning

        shown = ", ".join(repr(k) for k in uncalibrated[:3]) + \
            (" ..." if len(uncalibrated) > 3 else "")
        warnings.warn(UncalibratedSpacingWarning(
            f"{len(uncalibrated)} case(s) have an image whose spacing is not physical "
            f"({shown}); case {uncalibrated[0]!r}: {records[uncalibrated[0]]['read_notes'][0]} "
            "Every case's notes are in the provenance file."), stacklevel=3)
    failed = [k for k in order if records[k].get("cache_error")]
    if failed:
        warnings.warn(f"{len(failed)} case(s) could not be cached (their values are in the "
                      f"table; a rerun recomputes them): {records[failed[0]]['cache_error']}",
                      ThyromicsWarning, stacklevel=3)


def _build_table(manifest: "Manifest", records: list[tuple[str, dict]],
                 settings: "ExtractionSettings", *, lesions: bool = False) -> "pd.DataFrame":
    import numpy as np
    import pandas as pd

    from thyromics.features.engine import expected_columns

    lesion_of: list[str | None] = [None] * len(records)
    if lesions:  # one row per lesion: (case id, that lesion's values), lesion ids beside
        flat = [((cid, {"values": les["values"], "ndim": r["ndim"]}), les["lesion_id"])
                for cid, r in records for les in r["lesions"]]
        records = [f[0] for f in flat]
        lesion_of = [f[1] for f in flat]

    columns: list[str] = []
    if records:
        columns = list(expected_columns(settings, records[0][1]["ndim"]))
        seen = set(columns)
        for _, r in records:  # anything a case produced beyond the expected list is kept too
            for k in r["values"]:
                if k not in seen:
                    seen.add(k)
                    columns.append(k)
    by_id = {c.case_id: c for c in manifest.cases}
    rows = []
    for (case_id, _), lesion_id in zip(records, lesion_of):  # identity from the manifest
        case = by_id[case_id]
        row: dict[str, Any] = {"case_id": case.case_id, "patient_id": case.patient_id,
                               "label": case.label, "split": case.split}
        if lesions:
            row.update(case_id=f"{case.case_id}_L{lesion_id}", parent_case_id=case.case_id,
                       lesion_id=lesion_id)
            if row["case_id"] in by_id:
                raise InputError(f"lesion row id {row['case_id']!r} (case {case.case_id!r}, "
                                 f"lesion {lesion_id}) is also a case_id of the manifest; "
                                 "rename that case.")
        row.update({k: case.clinical.get(k) for k in manifest.clinical_columns})
        rows.append(row)
    ids = pd.DataFrame(rows, columns=[*ID_COLUMNS, *(LESION_ID_COLUMNS if lesions else ()),
                                      *manifest.clinical_columns])
    ids["label"] = ids["label"].astype("Int64")
    values = np.full((len(records), len(columns)), np.nan)
    index = {c: j for j, c in enumerate(columns)}
    for i, (_, r) in enumerate(records):
        for k, v in r["values"].items():
            values[i, index[k]] = np.nan if v is None else float(v)
    feats = pd.DataFrame(values, columns=columns)
    return pd.concat([ids, feats], axis=1)


def _write_parquet(table: "pd.DataFrame", output: Path, provenance: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, default=str).encode()
    arrow = arrow.replace_schema_metadata(meta)
    atomic_write(output, lambda p: pq.write_table(arrow, p))


def read_features(path: str | Path) -> "tuple[pd.DataFrame, dict]":
    """Read a feature table (Parquet or CSV) and its provenance (empty dict if none)."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() == ".csv":
        prov = _provenance_path_for(path)
        return pd.read_csv(path), (json.loads(prov.read_text()) if prov.exists() else {})
    table = pq.read_table(path)
    meta = (table.schema.metadata or {}).get(PROVENANCE_KEY)
    return table.to_pandas(), (json.loads(meta) if meta else {})
