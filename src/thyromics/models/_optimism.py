"""Optimism-corrected bootstrap validation of the model stage's final models.

Efron's optimism bootstrap as Harrell, Lee & Mark (Stat Med 1996;15:361) describe it
and ``rms::validate(fit, method = "boot", B)`` computes it, applied to the *whole*
modelling procedure of every final model (``model_id``):

1. *apparent*: the final model (fitted on the whole training cohort) scored on it;
2. for ``b = 1..B``: a bootstrap sample of the training cohort. Patients, not rows, are
   drawn with replacement, each bringing all its rows (every row is its own patient when
   the stage has no patient column); the copies keep their patient id, so the inner
   patient-grouped CV of selection, tuning and calibration keeps them on one side. The
   procedure (:func:`~thyromics.models.pipeline.build_model` and
   :func:`~thyromics.models.pipeline.fit_model`, the final model's settings and seed:
   imputation, scaling, filters, selection, resampling, tuning, calibration) is refitted
   on the sample and scored on the sample (*training*) and on the original training
   cohort (*test*);
3. ``optimism = mean_b(training - test)``, ``corrected = apparent - optimism``, for AUC,
   Somers' Dxy, calibration intercept and slope and Brier score: the formulas are
   :func:`thyromics.evaluate.optimism.optimism_from_fits` (checked against rms).

Seed rule: sample ``b`` is the ``b``-th draw of ``numpy.random.default_rng(seed)``
(:func:`~thyromics.evaluate.optimism.bootstrap_indices`; the study seed), the same samples
for every model (paired, as ``set.seed(seed); validate(fit, B)`` for each model); every
refit is seeded by the study seed, as the final model is. Each (model, b) refit is an
independent task (:func:`thyromics.parallel.run_tasks`), so the numbers do not depend on
``jobs``, the Dask scheduler or the fit cache. A sample with one outcome class, or whose
fit fails, is skipped and counted in ``n_failed`` (as rms does); failed fits are named in
``run.json`` and warned about.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import MODEL
from thyromics.models._fits import FitContext, ModelSpec

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.models.api import ModelStudyResult

__all__ = ["BootstrapTask", "BootstrapResult", "run_bootstrap", "optimism_validation",
           "write_optimism", "run_optimism", "OPTIMISM_CSV", "COLUMNS"]

#: The stage file written by :func:`write_optimism`.
OPTIMISM_CSV = MODEL.name("optimism")
#: Its columns: one row per model_id x metric.
COLUMNS = MODEL.columns("optimism")
#: Metrics in the table, in order (the indexes of :mod:`thyromics.evaluate.optimism`).
METRICS = ("auc", "dxy", "intercept", "slope", "brier")
SEED_RULE = ("sample b = the b-th draw of numpy.random.default_rng(seed), the same samples "
             "for every model; every refit seeded by the study seed, as the final model")
_CACHE_TAG = "optimism-1"


@dataclass(frozen=True)
class BootstrapTask:
    """Refit ``spec``'s whole procedure on bootstrap sample ``index`` (1-based).

    ``rows``: positions in the training cohort of ``context`` (with repeats).
    """

    context: FitContext
    spec: ModelSpec
    index: int
    rows: np.ndarray = field(compare=False)

    @property
    def key(self) -> tuple:
        return (self.spec.model_id, "boot", self.index)


@dataclass
class BootstrapResult:
    """Probabilities of one refit on its sample (``p_rows``) and on the whole cohort."""

    p_rows: np.ndarray
    p_all: np.ndarray
    warnings: list[tuple[str, type]] = field(default_factory=list)


def run_bootstrap(task: BootstrapTask) -> BootstrapResult:
    """Run one bootstrap refit (module-level, picklable; BLAS on one thread)."""
    from threadpoolctl import threadpool_limits

    from thyromics.models._fits import _make, _unique_warnings
    from thyromics.models.pipeline import fit_model

    ctx, spec = task.context, task.spec
    with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1):
        warnings.simplefilter("always")
        X = ctx.X[spec.inputs]
        Xb = X.iloc[task.rows].reset_index(drop=True)
        model = _make(spec, ctx.settings, ctx.seed)
        fit_model(model, Xb, ctx.y[task.rows], ctx.groups[task.rows])
        p_rows = model.predict_proba(Xb)[:, 1].astype(float)
        p_all = model.predict_proba(X)[:, 1].astype(float)
    return BootstrapResult(p_rows, p_all, _unique_warnings(caught))


def optimism_validation(res: ModelStudyResult, n_boot: int = 0, *,
                        indices: Sequence[np.ndarray] | None = None, jobs: int = 1,
                        scheduler: str | None = None, cache_dir: Path | None = None,
                        progress: Callable | None = None) -> tuple[pd.DataFrame, dict]:
    """Optimism-corrected indices of every final model of ``res`` (see module notes).

    Parameters
    ----------
    res : ModelStudyResult
        The stage's result; its ``context`` and ``specs`` give what every refit needs,
        ``models`` the final models for the apparent indices.
    n_boot : int
        ``B``, bootstrap samples drawn with the study seed (ignored with ``indices``).
    indices : sequence of arrays, optional
        Explicit samples (0-based positions in the training cohort), e.g. those R drew.
    jobs, scheduler, cache_dir, progress
        As :func:`thyromics.models.api.fit_and_compare`.

    Returns
    -------
    (DataFrame, dict)
        The table (:data:`COLUMNS`) and the summary written into ``run.json``.
    """
    from thyromics.evaluate.optimism import bootstrap_indices, optimism_from_fits

    if res.context is None or not res.specs:
        raise InputError("optimism bootstrap: the model result carries no fit context; "
                         "make it with thyromics.models.api.fit_and_compare")
    if indices is None and n_boot < 1:
        raise InputError(f"optimism bootstrap: give n_boot >= 1 (or indices), found {n_boot}")
    ctx = _bootstrap_context(res.context)
    n = len(ctx.y)
    grouped = indices is None and len(np.unique(ctx.groups)) < n
    samples = ([np.asarray(i, dtype=np.intp) for i in indices] if indices is not None
               else bootstrap_indices(n, n_boot, ctx.seed, ctx.groups))
    two_class = [np.unique(ctx.y[s]).size == 2 for s in samples]
    tasks = [BootstrapTask(ctx, spec, b, rows) for spec in res.specs.values()
             for b, (rows, ok) in enumerate(zip(samples, two_class), start=1) if ok]
    results, errors = _run(tasks, jobs=jobs, scheduler=scheduler, cache_dir=cache_dir,
                           progress=progress)
    resampled = "patients" if grouped else "cases"
    rows, models = [], {}
    for mid, spec in res.specs.items():
        apparent = res.models[mid].pipeline.predict_proba(ctx.X[spec.inputs])[:, 1]
        fits = []
        for b, s in enumerate(samples, start=1):
            r = results.get((mid, "boot", b))
            fits.append(None if r is None else (s, r.p_rows, r.p_all))
        out = optimism_from_fits(ctx.y, apparent, fits, patients=grouped)
        for metric in METRICS:
            rows.append({"model_id": mid, "model": spec.classifier, "blocks": spec.blocks,
                         "metric": metric, **out[metric], "B": len(samples),
                         "n_boot": out["n_boot"], "n_failed": out["n_failed"],
                         "seed": ctx.seed, "resampled": resampled})
        models[mid] = {"n_boot": out["n_boot"], "n_failed": out["n_failed"],
                       **{m: {k: out[m][k] for k in ("apparent", "optimism", "corrected")}
                          for m in ("auc", "slope", "intercept", "brier")}}
    summary = {"file": OPTIMISM_CSV, "B": len(samples), "seed": ctx.seed,
               "seed_rule": SEED_RULE if indices is None else "explicit samples",
               "resampled": resampled, "method": "optimism bootstrap of the whole modelling "
               "procedure (Harrell, Lee & Mark 1996; rms::validate)", "models": models,
               "failures": [{"model_id": k[0], "b": k[2], "error": e}
                            for k, e in sorted(errors.items())][:20]}
    return pd.DataFrame(rows, columns=list(COLUMNS)), summary


def write_optimism(table: pd.DataFrame, summary: dict, out: Path) -> None:
    """Write ``optimism.csv`` and add the summary to ``run.json`` (key ``optimism``)."""
    from thyromics.provenance import atomic_write, atomic_write_text

    out = Path(out)
    atomic_write(out / OPTIMISM_CSV, lambda tmp: table.to_csv(tmp, index=False))
    run_path = MODEL.at(out, "run")
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    run["optimism"] = summary
    atomic_write_text(run_path, json.dumps(run, indent=1, default=str))


def run_optimism(res: ModelStudyResult, n_boot: int, out: Path, *, jobs: int = 1,
                 scheduler: str | None = None, cache_dir: Path | None = None,
                 progress: Callable | None = None) -> pd.DataFrame | None:
    """The stage's step: with ``n_boot`` > 0 compute and write; 0 writes nothing.

    With 0, an ``optimism.csv`` left by an earlier run in ``out`` is removed (it would
    describe other fits). Returns the table, or None.
    """
    if n_boot <= 0:
        (Path(out) / OPTIMISM_CSV).unlink(missing_ok=True)
        return None
    table, summary = optimism_validation(res, n_boot, jobs=jobs, scheduler=scheduler,
                                         cache_dir=cache_dir, progress=progress)
    write_optimism(table, summary, out)
    return table


def _bootstrap_context(ctx: FitContext) -> FitContext:
    """The context with the options bootstrap refits do not use (thresholds, importance)
    at their defaults, so that changing them does not change the cache key."""
    keep = ("X", "y", "groups", "settings", "seed")
    return type(ctx)(**{f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)
                        if f.name in keep})


def _run(tasks: Sequence[BootstrapTask], *, jobs: int, scheduler: str | None,
         cache_dir: Path | None, progress: Callable | None
         ) -> tuple[dict[tuple, BootstrapResult], dict[tuple, str]]:
    """Results and errors by task key; the fit cache of ``_fit_runner`` is reused."""
    from thyromics.models._fit_runner import CACHE_VERSION, _load, context_digest
    from thyromics.parallel import run_tasks

    results: dict[tuple, BootstrapResult] = {}
    errors: dict[tuple, str] = {}
    todo = []
    digest = context_digest(tasks[0].context) if tasks and cache_dir is not None else ""
    with (progress(len(tasks), "bootstrap fits") if progress else nullcontext()) as tick:
        for task in tasks:
            path = None
            if cache_dir is not None:
                h = hashlib.sha256(f"{CACHE_VERSION}|{_CACHE_TAG}|{digest}|{task.spec!r}|"
                                   f"{task.index}".encode())
                h.update(np.asarray(task.rows, dtype=np.int64).tobytes())
                path = Path(cache_dir) / f"{h.hexdigest()}.pkl"
                hit = _load(path)
                if isinstance(hit, BootstrapResult):
                    results[task.key] = hit
                    if tick:
                        tick(str(task.key), True)
                    continue
            todo.append((task.key, (task, path)))
        for outcome in run_tasks(_run_and_store, todo, jobs=jobs, scheduler=scheduler):
            if outcome.ok:
                results[outcome.key] = outcome.result
            else:
                errors[outcome.key] = f"{type(outcome.error).__name__}: {outcome.error}"
            if tick:
                tick(str(outcome.key), outcome.ok)
    seen: dict[tuple[str, type], None] = {}
    for task in tasks:  # each distinct warning once, in task order
        for w in results[task.key].warnings if task.key in results else ():
            seen.setdefault(w, None)
    for message, category in seen:
        warnings.warn(message, category, stacklevel=3)
    if errors:
        key = min(errors)
        warnings.warn(f"optimism bootstrap: {len(errors)} refit(s) failed and were skipped "
                      f"(counted in n_failed), e.g. {key[0]} sample {key[2]}: {errors[key]}",
                      ThyromicsWarning, stacklevel=3)
    return results, errors


def _run_and_store(arg: tuple[BootstrapTask, Path | None]) -> BootstrapResult:
    from thyromics.models._fit_runner import _store

    task, path = arg
    result = run_bootstrap(task)
    if path is not None:
        _store(path, result)
    return result
