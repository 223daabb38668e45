"""Run a whole study from its YAML: extract -> table1 -> deep -> model -> evaluate -> report.

Each step writes into its own folder of the study output and a ``.done.json`` marker
holding the hash of what it was made from; a rerun skips every step whose marker
matches, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from thyromics.layout import DEEP, EVALUATE, EXTRACT, MODEL, REPORT, ROBUSTNESS, STUDY, TABLE1
from thyromics.provenance import (atomic_write_json, now_iso, package_versions, path_sha256,
                                  settings_hash)
from thyromics.study.config import StudyConfig

__all__ = ["run_study", "StudyPaths"]

Log = Callable[[str], None]


class StudyPaths:
    """Where each step of a study writes (from :mod:`thyromics.layout`)."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.features = EXTRACT.path(self.out, "features")
        self.table1 = TABLE1.dir(self.out)
        self.models = MODEL.top(self.out)
        self.deep = DEEP.dir(self.out)
        self.robustness = ROBUSTNESS.dir(self.out)
        self.evaluate = EVALUATE.dir(self.out)
        self.report = REPORT.path(self.out, "report")
        self.study_json = STUDY.path(self.out, "study")

    def done(self, folder: Path) -> Path:
        """The step marker of ``folder`` (one of the folders above)."""
        return STUDY.path(self.out, "done", step=folder.relative_to(self.out).as_posix())


def _done(marker: Path, key: str) -> bool:
    import json

    return marker.exists() and json.loads(marker.read_text()).get("key") == key


def _mark(marker: Path, key: str, seconds: float) -> None:
    atomic_write_json(marker, {"key": key, "finished": now_iso(), "seconds": round(seconds, 2)})


def _step(name: str, marker: Path, key: str, log: Log, func: Callable[[], None]) -> None:
    if _done(marker, key):
        log(f"[{name}] already done, skipped (delete {marker} to redo)")
        return
    log(f"[{name}] running ...")
    t0 = time.perf_counter()
    func()
    _mark(marker, key, time.perf_counter() - t0)
    log(f"[{name}] done in {time.perf_counter() - t0:.1f} s")


def run_study(cfg: StudyConfig, out: str | Path, *, log: Log = print,
              progress: Callable | None = None) -> StudyPaths:
    """Run every step of a study into ``out`` and return its paths.

    Parameters
    ----------
    cfg : StudyConfig
        The validated study (``load_study(path)``).
    out : path
        The study output folder.
    log : callable
        Receives one line per event ("[extract] running ...").
    progress : callable, optional
        A context manager factory ``progress(total, what)`` yielding ``tick(case_id, ok)``
        (e.g. :func:`thyromics.progress.case_progress`).
    """
    from thyromics.provenance import check_writable, output_lock

    paths = StudyPaths(Path(out))
    check_writable(paths.out, "the study folder")
    with output_lock(paths.out / "study"):
        return _run_locked(cfg, paths, log=log, progress=progress)


def _run_locked(cfg: StudyConfig, paths: StudyPaths, *, log: Log,
                progress: Callable | None) -> StudyPaths:
    from thyromics.features.extract import extract_cohort
    from thyromics.features.presets import get_preset
    from thyromics.features.settings import ExtractionSettings
    from thyromics.io.manifest import read_manifest
    from thyromics.parallel import default_jobs

    started = now_iso()
    if cfg.deep.enabled:  # before any work, not after the extraction
        from thyromics._extras import require

        require("deep", "deep.enabled in the study YAML")
    manifest = read_manifest(cfg.cases, check_files=False)
    manifest_hash = path_sha256(cfg.cases)

    # 1. Extraction (its own per-case cache makes a rerun cheap, so it always runs).
    ex = cfg.extract
    settings = ExtractionSettings.from_params_file(ex.params) if ex.params else get_preset(ex.preset)
    if ex.label is not None:
        settings = settings.replace(label=ex.label)
    settings = settings.replace(engine=ex.engine, convention=ex.convention)
    ext_key = settings_hash([manifest_hash, settings.to_dict(), ex.geometry_tolerance])

    def do_extract() -> None:
        def run(tick=None):
            return extract_cohort(manifest, settings, paths.features,
                                  jobs=ex.jobs or default_jobs(), scheduler=ex.scheduler,
                                  geometry_tolerance=ex.geometry_tolerance, on_progress=tick)
        if progress is not None:
            with progress(len(manifest.cases), "extract") as tick:
                s = run(tick)
        else:
            s = run()
        log(f"[extract] {s.n_ok} of {s.n_cases} cases ok, {s.n_failed} failed "
            f"(see {s.errors_path.name}); {s.n_features} features")
        if s.n_ok == 0:
            from thyromics.errors import InputError

            raise InputError(f"no case could be extracted; the reasons are in {s.errors_path}")

    _step("extract", paths.done(paths.features.parent), ext_key, log, do_extract)

    # 2. Table 1 of the clinical columns, by outcome (and by cohort).
    if cfg.table1.enabled and manifest.clinical_columns:
        t1_key = settings_hash([ext_key, cfg.table1.model_dump(mode="json")])
        _step("table1", paths.done(paths.table1), t1_key, log,
              lambda: _table1(manifest, cfg, paths))

    # 3. Deep learning: a lesion classifier, its predictions, Grad-CAM and deep features.
    deep_key = None
    if cfg.deep.enabled:
        deep_key = settings_hash([manifest_hash, cfg.deep.model_dump(mode="json"), cfg.seed])
        _step("deep", paths.done(paths.deep), deep_key, log,
              lambda: _deep(cfg, paths, log))

    # 4. Models: each block compared over the chosen classifiers.
    # 3b. Robustness: every case perturbed and extracted again, ICC per feature.
    rob_key = None
    if cfg.robustness.enabled:
        rob_key = settings_hash([ext_key, cfg.robustness.model_dump(mode="json"), cfg.seed])
        _step("robustness", paths.done(paths.robustness), rob_key, log,
              lambda: _robustness(cfg, manifest, settings, paths, log))
    extra = [rob_key, cfg.harmonize.model_dump(mode="json")] if (
        rob_key or cfg.harmonize.column) else []
    # Where the fits run does not change them: jobs and scheduler are not in the key.
    model_key = settings_hash([ext_key, deep_key,
                               cfg.model.model_dump(mode="json", exclude={"jobs", "scheduler"}),
                               cfg.seed,
                               *extra])
    _step("model", paths.done(paths.models), model_key, log,
          lambda: _models(cfg, paths, log, progress))

    # 5. Subgroups: every model of every block, per subgroup, at its carried threshold.
    if cfg.evaluate.subgroups:
        sub_key = settings_hash([model_key, cfg.evaluate.model_dump(mode="json")])
        _step("evaluate", paths.done(paths.evaluate), sub_key, log,
              lambda: _subgroups(cfg, paths, manifest.frame, log))
    else:  # a subgroup table of an earlier run must not reach this run's report
        for path in (EVALUATE.at(paths.evaluate, "subgroups"),
                     EVALUATE.at(paths.evaluate, "subgroups_json"), paths.done(paths.evaluate)):
            path.unlink(missing_ok=True)

    atomic_write_json(paths.study_json, {
        "name": cfg.name, "started": started, "finished": now_iso(), "seed": cfg.seed,
        "settings": cfg.model_dump(mode="json"), "versions": package_versions(),
        "inputs": {str(cfg.cases): manifest_hash}})

    # 6. The report.
    if cfg.report:
        from thyromics.report.build import build_report

        log("[report] building ...")
        build_report(paths.out, output=paths.report, title=cfg.name)
        log(f"[report] {paths.report}")
    return paths


def _subgroups(cfg: StudyConfig, paths: StudyPaths, frame, log: Log) -> None:
    from thyromics.study.subgroups import run_subgroups

    path = run_subgroups(paths.models, frame, cfg.evaluate.subgroups, paths.evaluate, seed=cfg.seed)
    log(f"[evaluate] subgroups of {', '.join(s.column for s in cfg.evaluate.subgroups)}: {path}")


def _table1(manifest, cfg: StudyConfig, paths: StudyPaths) -> None:
    from thyromics.stats.table1 import table1

    frame = manifest.frame
    # Without table1.variables: every clinical column except identifier-like ones (UIDs,
    # free text), which Table 1 names in its footnote.
    variables = cfg.table1.variables or None
    keep = list(dict.fromkeys([*manifest.clinical_columns, "label", "split"]))
    frame = frame[[c for c in keep if c in frame.columns]]
    labelled = frame[frame["label"].notna()] if "label" in frame else frame
    paths.table1.mkdir(parents=True, exist_ok=True)
    t = table1(labelled.drop(columns=["split"], errors="ignore"), group="label",
               variables=variables)
    t.to_csv(TABLE1.at(paths.table1, "table1"))
    TABLE1.at(paths.table1, "table1_html").write_text(t.to_html(), encoding="utf-8")
    if cfg.table1.by_cohort and "split" in frame and frame["split"].notna().any():
        tc = table1(frame[frame["split"].notna()], group="split", variables=variables)
        tc.to_csv(TABLE1.at(paths.table1, "by_cohort"))
        TABLE1.at(paths.table1, "by_cohort_html").write_text(tc.to_html(), encoding="utf-8")


def _models(cfg: StudyConfig, paths: StudyPaths, log: Log, progress: Callable | None) -> None:
    from thyromics.models.api import run_model_stage
    from thyromics.models.pipeline import PipelineSettings
    from thyromics.parallel import default_jobs

    m = cfg.model
    deep_table = DEEP.at(paths.deep, "features")
    if any("deep" in b.split("+") for b in m.blocks) and not deep_table.exists():
        from thyromics.errors import InputError

        raise InputError("a model block uses 'deep' but the study trains no network: set "
                         "deep.enabled: true in the study YAML")
    settings = PipelineSettings(exclude=tuple(m.exclude), selector=m.selector,
                                resample=m.resample, tune=m.tune, n_estimators=m.n_estimators,
                                threshold=m.threshold, tuner=m.tuner, trials=m.trials,
                                calibration=m.calibration, **_step_settings(cfg, paths))
    for block in m.blocks:
        out = MODEL.dir(paths.out, block=block.replace("+", "_"))
        log(f"[model] block {block}: {', '.join(m.models)} ({m.cv}-fold CV x {m.repeats})")
        run_model_stage(paths.features, label="label", group="patient_id", split="split",
                        blocks=[block], models=list(m.models), cv=m.cv,
                        repeats=m.repeats, seed=cfg.seed, settings=settings, out_dir=out,
                        importance=list(m.importance), families=block == "radiomics",
                        cv_threshold=m.cv_threshold,
                        join=[deep_table] if "deep" in block.split("+") else [],
                        harmonize_compare=cfg.harmonize.compare,
                        importance_models=m.importance_models, shap_rows=m.shap_rows,
                        jobs=m.jobs or default_jobs(), scheduler=m.scheduler,
                        progress=progress, optimism=m.optimism)


def _step_settings(cfg: StudyConfig, paths: StudyPaths) -> dict:
    """PipelineSettings fields of the robust and harmonize steps."""
    out: dict = {}
    r, h = cfg.robustness, cfg.harmonize
    if r.enabled and r.in_model:
        out.update(robust=str(paths.robustness), robust_threshold=r.threshold,
                   robust_icc=r.icc[0], robust_criterion=r.criterion)
    if h.column:
        out.update(harmonize=h.column, harmonize_covariates=tuple(h.covariates),
                   harmonize_reference=h.reference, harmonize_unseen=h.unseen)
    return out


def _robustness(cfg: StudyConfig, manifest, settings, paths: StudyPaths, log: Log) -> None:
    from thyromics.parallel import default_jobs
    from thyromics.robustness.run import run_robustness
    from thyromics.robustness.settings import get_chain

    r = cfg.robustness
    chain = get_chain(r.chain, repetitions=r.repetitions,
                      seed=cfg.seed if r.seed is None else r.seed, noise_level=r.noise_level,
                      rotation_angles=r.rotation_angles, translation_fractions=r.translation_fractions,
                      volume_mode=r.volume_mode, volume_sizes=r.volume_sizes,
                      supervoxels=r.supervoxels)
    res = run_robustness(manifest, settings, chain, paths.robustness,
                         jobs=cfg.extract.jobs or default_jobs(), scheduler=cfg.extract.scheduler,
                         kinds=list(r.icc), threshold=r.threshold, criterion=r.criterion,
                         geometry_tolerance=cfg.extract.geometry_tolerance)
    log(f"[robustness] {res.n_stable} of {res.n_features} features stable ({chain.code} x "
        f"{chain.repetitions}, {res.n_cases} cases, {res.n_failed} failed extraction(s))")


def _deep(cfg: StudyConfig, paths: StudyPaths, log: Log) -> None:
    """The deep step: its settings from the study YAML, the work in
    :func:`thyromics.deep.stage.run_deep_stage`."""
    from thyromics.deep.settings import DataSettings, TrainSettings
    from thyromics.deep.stage import run_deep_stage

    d = cfg.deep
    settings = TrainSettings(
        network=d.network, network_options=dict(d.network_options), epochs=d.epochs,
        batch_size=d.batch_size, learning_rate=d.learning_rate, seed=cfg.seed,
        pretrained=str(d.pretrained) if d.pretrained else None,
        data=DataSettings(spatial_dims=d.spatial_dims, size_2d=(d.size, d.size), seed=cfg.seed))
    run_deep_stage(cfg.cases, settings, paths.out, gradcam=d.gradcam, log=log)
