"""CLI commands of the model stage: ``thyromics model`` and ``thyromics predict``.

Thin: argument parsing only; the work is in :mod:`thyromics.models.api` and
:mod:`thyromics.models.persist`. Nothing heavy is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["model", "predict"]


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def model(
    features: Path = typer.Argument(..., help="Feature table (.parquet or .csv), one row per case."),
    label: str = typer.Option("label", "--label", help="Binary outcome column."),
    positive: Optional[str] = typer.Option(None, "--positive",
                                           help="The positive class of a label with two text "
                                                "values, e.g. 'Malignant' (0/1 and True/False "
                                                "labels need none)."),
    group: Optional[str] = typer.Option("patient_id", "--group",
                                        help="Patient column: the unit of every split."),
    split: Optional[str] = typer.Option(None, "--split",
                                        help="Cohort column (train / internal / external ...)."),
    blocks: str = typer.Option("radiomics", "--blocks",
                               help="Comma list of block sets, e.g. "
                                    "'radiomics,clinical,radiomics+clinical'."),
    models: str = typer.Option("lr,rf,rfq", "--models",
                               help="Comma list of classifiers: lr, svm, knn, mlp, rf, "
                                    "extratrees, xgboost, lightgbm, rfq, balanced_rf."),
    cv: int = typer.Option(5, "--cv", help="Outer cross-validation folds."),
    repeats: int = typer.Option(1, "--repeats", help="Repeats of the cross-validation."),
    seed: int = typer.Option(0, "--seed", help="Base seed of every random draw."),
    exclude: list[str] = typer.Option([], "--exclude",
                                      help="Pattern of columns never used as predictors "
                                           "(repeatable), e.g. 'Malignancy*'."),
    selector: str = typer.Option("lasso", "--selector",
                                 help="Feature selection: lasso, univariate, mrmr, none."),
    resample: str = typer.Option("none", "--resample", help="none, smote or undersample."),
    threshold: str = typer.Option("youden", "--threshold",
                                  help="Threshold rule on the out-of-fold training predictions, "
                                       "carried unchanged to other cohorts: youden, or "
                                       "constrained (sensitivity >= 0.70, NPV >= 0.50)."),
    cv_threshold: str = typer.Option("nested", "--cv-threshold",
                                     help="Threshold of the cv row's metrics: nested (chosen "
                                          "inside each outer training part, honest) or pooled "
                                          "(on the pooled out-of-fold scores: optimistic)."),
    tune: bool = typer.Option(True, "--tune/--no-tune",
                              help="Nested grid search of the classifier grids."),
    tuner: str = typer.Option("grid", "--tuner",
                              help="grid (registry grid) or optuna (seeded TPE over the registry's search space)."),
    trials: int = typer.Option(30, "--trials", help="Optuna trials per fit (--tuner optuna)."),
    calibrate: str = typer.Option("none", "--calibration", "--calibrate",
                                  help="none, sigmoid or isotonic: calibrate on inner out-of-fold "
                                       "training scores, before the threshold is chosen."),
    importance: str = typer.Option("permutation,vimp,shap", "--importance",
                                   help="Comma list of importance tables ('' for none)."),
    importance_models: Optional[str] = typer.Option(None, "--importance-models",
                                                    help="Comma list of classifiers / model ids "
                                                         "(patterns) that get importance tables "
                                                         "(default: all)."),
    shap_rows: int = typer.Option(200, "--shap-rows",
                                  help="SHAP explains at most this many training cases."),
    families: bool = typer.Option(False, "--families",
                                  help="Also write the per-family UMAP / Mann-Whitney table."),
    n_jobs: int = typer.Option(1, "--n-jobs", help="Parallel jobs inside estimators."),
    jobs: int = typer.Option(0, "--jobs", "-j",
                             help="Local processes running the fits in parallel (0 = all "
                                  "cores; the numbers are the same for any value)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Dask scheduler address (tcp://HOST:PORT): "
                                                 "run the fits on that cluster."),
    cache: bool = typer.Option(True, "--cache/--no-cache",
                               help="Keep fits by content in OUTPUT/.fits: a rerun refits only "
                                    "what changed."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    optimism: int = typer.Option(0, "--optimism", min=0,
                                 help="B bootstrap samples of the training cohort (patients): "
                                      "every final model's whole procedure is refitted on each "
                                      "and optimism.csv gives the optimism-corrected AUC, "
                                      "calibration slope and Brier (Harrell; rms::validate). "
                                      "0 = off."),
    manifest: Optional[Path] = typer.Option(None, "--manifest",
                                            help="cases.csv whose clinical columns join the "
                                                 "table on case_id (clinical block)."),
    join: list[Path] = typer.Option([], "--join",
                                    help="Another feature table joined on case_id, e.g. "
                                         "deep/deep_features.parquet for the deep block "
                                         "(repeatable)."),
    harmonize: Optional[str] = typer.Option(None, "--harmonize",
                                            help="Centre / scanner column: ComBat fitted inside "
                                                 "each training fold, applied to its test part "
                                                 "and to other cohorts (never a predictor)."),
    harmonize_covariate: list[str] = typer.Option([], "--harmonize-covariate",
                                                  help="Biological covariate ComBat keeps, e.g. "
                                                       "age (repeatable; never the label)."),
    harmonize_reference: Optional[str] = typer.Option(None, "--harmonize-reference",
                                                      help="Reference batch, left unchanged."),
    harmonize_unseen: str = typer.Option("refuse", "--harmonize-unseen",
                                         help="A centre met only at prediction time: refuse, "
                                              "or reference (passed unchanged; needs "
                                              "--harmonize-reference)."),
    harmonize_compare: bool = typer.Option(True, "--harmonize-compare/--no-harmonize-compare",
                                           help="Also run without ComBat and write the AUCs "
                                                "side by side (harmonization/auc.csv)."),
    robust: Optional[Path] = typer.Option(None, "--robust",
                                          help="A `thyromics robustness` output folder: drop "
                                               "features whose ICC over perturbations of the "
                                               "training cases is below --robust-threshold."),
    robust_threshold: float = typer.Option(0.9, "--robust-threshold", help="ICC threshold of --robust."),
    robust_icc: str = typer.Option("icc1", "--robust-icc", help="icc1, icc2 or icc3."),
    robust_criterion: str = typer.Option("icc", "--robust-criterion",
                                         help="icc (point estimate) or lower (95% lower bound)."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder."),
) -> None:
    """Cross-validate and compare classifiers on a feature table, leak-free."""
    from thyromics.errors import InputError
    from thyromics.models.api import run_model_stage
    from thyromics.models.pipeline import PipelineSettings
    from thyromics.parallel import default_jobs
    from thyromics.progress import case_progress

    try:
        settings = PipelineSettings(exclude=tuple(exclude), selector=selector,
                                    resample=resample, tune=tune, n_jobs=n_jobs,
                                    threshold=threshold, tuner=tuner, trials=trials,
                                    calibration=calibrate, harmonize=harmonize,
                                    harmonize_covariates=tuple(harmonize_covariate),
                                    harmonize_reference=harmonize_reference,
                                    harmonize_unseen=harmonize_unseen,
                                    robust=str(robust) if robust else None,
                                    robust_threshold=robust_threshold, robust_icc=robust_icc,
                                    robust_criterion=robust_criterion)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    try:
        res = run_model_stage(features, label=label, group=group or None, split=split,
                              blocks=_split_list(blocks), models=_split_list(models), cv=cv,
                              repeats=repeats, seed=seed, settings=settings, out_dir=output,
                              importance=_split_list(importance), families=families,
                              manifest=manifest, join=join, positive=positive,
                              harmonize_compare=harmonize_compare, cv_threshold=cv_threshold,
                              jobs=jobs or default_jobs(), scheduler=scheduler, cache=cache,
                              importance_models=(_split_list(importance_models)
                                                 if importance_models else None),
                              shap_rows=shap_rows,
                              progress=case_progress if progress else None,
                              optimism=optimism)
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    cols = ["model_id", "cohort", "n", "auc", "auc_ci_low", "auc_ci_high", "threshold"]
    typer.echo(res.comparison[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"wrote {output}")


def predict(
    model_dir: Path = typer.Argument(..., help="A saved model folder (OUT/models/<model_id>)."),
    table: Path = typer.Argument(..., help="Feature table (.parquet or .csv) of new cases, or a case manifest (cases.csv with image and mask columns): its features are then extracted with the settings stored in the model."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Predictions CSV to write."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Local worker processes for extraction (0 = all cores)."),
) -> None:
    """Score new cases with a saved model (threshold carried from training)."""
    from thyromics.errors import ThyromicsError
    from thyromics.models.predict import predict_cases

    try:
        out, errors = predict_cases(model_dir, table, work_dir=output.parent, jobs=jobs)
    except ThyromicsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    output.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(output, index=False)
    typer.echo(f"wrote {len(out)} prediction(s) to {output}")
    for err in errors:
        typer.secho(f"  not scored {err['case_id']} [{err['stage']}]: {err['error']}", fg="yellow")
