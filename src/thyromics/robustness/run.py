"""``thyromics robustness``: perturbed extraction, ICC per feature, stable flags, figure.

Each repetition of the chain is one ordinary cohort extraction
(:func:`thyromics.features.extract.extract_cohort` with a ``perturbation``): the same
per-case worker, cache (the perturbation is part of the key) and executor (``--jobs``,
Dask), and a failing case is recorded with its reason while the others go on. The
outputs (in ``OUT``):

``perturbed/p000.parquet`` ...
    One feature table per repetition, with its errors table and provenance.
``perturbations.parquet``
    All of them in one long table: ``case_id, patient_id, label, split, perturbation``
    and the feature columns, sorted by case then repetition (the input of the model
    stage's ``robust`` step).
``perturbation_parameters.csv``
    What every (case, repetition) drew: noise SD, angle, translation, volume change,
    voxel counts before and after.
``icc.csv``
    Per feature: filter, family, cases used, ICC(s) with 95 % CI, ``stable``.
``icc_by_family.png``
    The figure (:func:`thyromics.robustness.figure.icc_figure`).
``errors.csv``, ``robustness.json``
    Failed (case, repetition) pairs; the summary and provenance (settings, chain,
    seed, versions, input hashes). How the run went (time, jobs) is under ``run``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from thyromics.batch import write_errors
from thyromics.errors import InputError
from thyromics.layout import ROBUSTNESS
from thyromics.provenance import (atomic_write, atomic_write_json, check_writable, now_iso,
                                  output_lock, package_versions, path_sha256)
from thyromics.robustness.icc import PERTURBATION_COLUMN, feature_icc, stable_features
from thyromics.robustness.settings import PerturbationSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from thyromics.features.settings import ExtractionSettings
    from thyromics.io.manifest import Manifest

__all__ = ["RobustnessResult", "run_robustness", "read_perturbed", "PERTURBED_TABLE",
           "ICC_TABLE", "ICC_FIGURE", "SUMMARY_JSON"]

#: File of the long perturbed table inside a robustness output folder.
PERTURBED_TABLE = ROBUSTNESS.name("perturbations")
#: The per-feature ICC table, its figure and the summary (inside the output folder).
ICC_TABLE, ICC_FIGURE, SUMMARY_JSON = (ROBUSTNESS.name(k) for k in ("icc", "figure", "summary"))
_ID = ("case_id", "patient_id", "label", "split")


@dataclass(frozen=True)
class RobustnessResult:
    """What :func:`run_robustness` wrote and found."""

    out: Path
    icc: "pd.DataFrame"
    n_cases: int
    n_perturbations: int
    n_features: int
    n_stable: int
    n_failed: int
    seconds: float
    extraction_seconds: float


def run_robustness(manifest: "str | Path | Manifest", settings: "ExtractionSettings",
                   chain: PerturbationSettings, out: str | Path, *, jobs: int = 1,
                   scheduler: str | None = None, kinds: Sequence[str] = ("icc1",),
                   threshold: float = 0.9, criterion: Literal["icc", "lower"] = "icc",
                   geometry_tolerance: float = 1e-3, figure: bool = True,
                   on_progress: Callable[[str, bool], None] | None = None) -> RobustnessResult:
    """Perturb every case ``chain.repetitions`` times, extract, and rate each feature.

    Parameters
    ----------
    manifest : path or Manifest
    settings : ExtractionSettings
        The extraction settings of the study (the features rated are these).
    chain : PerturbationSettings
        A preset (:func:`thyromics.robustness.settings.get_chain`) or custom chain.
    out : path
        Output folder (see the module docstring).
    jobs, scheduler
        As :func:`thyromics.features.extract.extract_cohort`.
    kinds : sequence of {"icc1", "icc2", "icc3"}
        ICC forms; the first decides ``stable``.
    threshold, criterion
        ``stable`` when the ICC (``"icc"``) or its lower 95 % bound (``"lower"``) is at
        least ``threshold``.

    Returns
    -------
    RobustnessResult
    """
    from thyromics.io.manifest import Manifest, read_manifest
    from thyromics.review.icc import ICC_KINDS

    t0 = time.perf_counter()
    for k in kinds:
        if k not in ICC_KINDS:
            raise InputError(f"unknown ICC form {k!r}; expected one of {', '.join(ICC_KINDS)}")
    if not kinds:
        raise InputError("give at least one ICC form (icc1, icc2, icc3)")
    if not 0 < threshold <= 1:
        raise InputError(f"the stability threshold must lie in (0, 1], got {threshold}")
    out = check_writable(Path(out), "the robustness output folder")
    if not isinstance(manifest, Manifest):
        manifest = read_manifest(manifest, check_files=False)
    with output_lock(out / SUMMARY_JSON):
        return _run_locked(manifest, settings, chain, out, jobs=jobs, scheduler=scheduler,
                           kinds=tuple(kinds), threshold=threshold, criterion=criterion,
                           geometry_tolerance=geometry_tolerance, figure=figure,
                           on_progress=on_progress, t0=t0)


def _run_locked(manifest, settings, chain, out: Path, *, jobs, scheduler, kinds, threshold,
                criterion, geometry_tolerance, figure, on_progress, t0) -> RobustnessResult:
    import pandas as pd

    from thyromics.features.extract import extract_cohort, read_features
    from thyromics.robustness.perturb import Perturbation

    tables, params, errors = [], [], []
    t_ex = time.perf_counter()
    for r in range(chain.repetitions):
        path = ROBUSTNESS.at(out, "perturbed", repetition=r)
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = extract_cohort(manifest, settings, path, jobs=jobs, scheduler=scheduler,
                                 cache_dir=ROBUSTNESS.at(out, "cache"),
                                 geometry_tolerance=geometry_tolerance,
                                 perturbation=Perturbation(chain, r), on_progress=on_progress)
        table, prov = read_features(path)
        tables.append(table.assign(**{PERTURBATION_COLUMN: r}))
        for cid, case in prov.get("cases", {}).items():
            params.append({"case_id": cid, **_flat(case.get("perturbation", {}))})
        errors += [{**e, PERTURBATION_COLUMN: r} for e in summary.errors]
    extraction_seconds = time.perf_counter() - t_ex
    if not any(len(t) for t in tables):
        raise InputError(f"no case could be extracted in any perturbation; the reasons are in "
                         f"{ROBUSTNESS.at(out, 'errors')}")
    long = _long_table(tables, manifest)
    features = [c for c in long.columns
                if c not in (*_ID, PERTURBATION_COLUMN, *manifest.clinical_columns)]
    icc = feature_icc(long, features, kinds=kinds)
    icc["stable"] = stable_features(icc, threshold=threshold, kind=kinds[0], criterion=criterion)
    provenance = {"stage": "robustness", "manifest": str(manifest.path),
                  "manifest_sha256": path_sha256(manifest.path),
                  "extraction_settings": settings.to_dict(), "chain": chain.to_dict(),
                  "chain_code": chain.code, "seed": chain.seed, "icc_kinds": list(kinds),
                  "threshold": threshold, "criterion": criterion, "versions": package_versions(),
                  "reference": "Zwanenburg et al., Sci Rep 2019;9:614"}
    _write_long(long, out / PERTURBED_TABLE, provenance)
    param_frame = pd.DataFrame(params).sort_values(["case_id", "repetition"], kind="stable")
    atomic_write(ROBUSTNESS.at(out, "parameters"),
                 lambda p: param_frame.to_csv(p, index=False))
    atomic_write(out / ICC_TABLE, lambda p: icc.to_csv(p, index=False))
    write_errors(ROBUSTNESS, out, errors)
    if figure:
        from thyromics.robustness.figure import icc_figure

        icc_figure(icc, out / ICC_FIGURE, kind=kinds[0], threshold=threshold,
                   title=f"{chain.code} x {chain.repetitions}, {long['case_id'].nunique()} cases")
    n_cases = int(long["case_id"].nunique())
    summary = {**provenance, "n_cases": n_cases, "n_perturbations": chain.repetitions,
               "n_features": len(features), "n_stable": int(icc["stable"].sum()),
               "stable_by_family": _by_family(icc), "n_failed": len(errors)}
    run = {"created": now_iso(), "jobs": jobs, "scheduler": scheduler,
           "seconds": round(time.perf_counter() - t0, 3),
           "extraction_seconds": round(extraction_seconds, 3)}
    atomic_write_json(out / SUMMARY_JSON, {**summary, "run": run})
    return RobustnessResult(out=out, icc=icc, n_cases=n_cases,
                            n_perturbations=chain.repetitions, n_features=len(features),
                            n_stable=int(icc["stable"].sum()), n_failed=len(errors),
                            seconds=time.perf_counter() - t0,
                            extraction_seconds=extraction_seconds)


def _flat(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, list):
            for axis, x in zip("xyz", v):
                out[f"{k}_{axis}"] = x
        else:
            out[k] = v
    return out


def _by_family(icc: "pd.DataFrame") -> dict:
    g = icc.groupby("family", sort=True)["stable"]
    return {str(f): {"n": int(s.size), "stable": int(s.sum())} for f, s in g}


def _long_table(tables: list, manifest) -> "pd.DataFrame":
    import pandas as pd

    frames = [t for t in tables if len(t)]
    long = pd.concat(frames, ignore_index=True, sort=False)
    order = {c.case_id: i for i, c in enumerate(manifest.cases)}
    long["_order"] = long["case_id"].map(order)
    long = long.sort_values(["_order", PERTURBATION_COLUMN], kind="stable").drop(columns="_order")
    lead = [*_ID, PERTURBATION_COLUMN]
    rest = [c for c in long.columns if c not in lead and c not in manifest.clinical_columns]
    return long[lead + rest].reset_index(drop=True)


def _write_long(table: "pd.DataFrame", path: Path, provenance: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thyromics.features.extract import PROVENANCE_KEY

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[PROVENANCE_KEY] = json.dumps(provenance, default=str).encode()
    atomic_write(path, lambda p: pq.write_table(arrow.replace_schema_metadata(meta), p))


def perturbed_path(path: str | Path) -> Path:
    """The perturbed table of a robustness folder (or the parquet file itself).

    Raises
    ------
    InputError
        Not found, with the command that makes it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / PERTURBED_TABLE
    if not path.exists():
        raise InputError(f"perturbed feature table {path} not found; make it with "
                         f"`{ROBUSTNESS.command} CASES.csv -o OUT` and pass OUT "
                         f"(OUT/{PERTURBED_TABLE})")
    return path


def read_perturbed(path: str | Path) -> "pd.DataFrame":
    """The long perturbed table of a robustness folder (or the parquet file itself).

    Raises
    ------
    InputError
        Not found, with the command that makes it.
    """
    import pandas as pd

    return pd.read_parquet(perturbed_path(path))
