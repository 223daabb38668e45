"""``thyromics robustness``: the command-line face of :func:`thyromics.robustness.run.run_robustness`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["robustness"]


def robustness(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv: case_id, image, mask, ...)."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder (perturbed tables, icc.csv, figure)."),
    chain: str = typer.Option("ntvc", "--chain", help="Perturbation chain preset: ntvc (noise, translation, volume, contour: the paper's best), rnvc, noise, rotation, translation, volume, contour."),
    repetitions: int = typer.Option(10, "--repetitions", "-n", help="Perturbed versions of every case."),
    seed: int = typer.Option(0, "--seed", help="Base seed of every perturbation draw."),
    preset: str = typer.Option("ct", "--preset", help="Extraction preset: ct, us, seed000_ct ..."),
    params: Optional[Path] = typer.Option(None, "--params", help="A PyRadiomics parameter file instead of the preset."),
    label: Optional[int] = typer.Option(None, "--label", help="Mask label value of the lesion in multi-label masks."),
    icc: str = typer.Option("icc1", "--icc", help="Comma list of ICC forms: icc1 (the paper's), icc2, icc3; the first decides 'stable'."),
    threshold: float = typer.Option(0.9, "--threshold", help="A feature is stable when its ICC is at least this."),
    criterion: str = typer.Option("icc", "--criterion", help="icc (the point estimate) or lower (the lower 95% bound) against the threshold."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Local worker processes (0 = all usable cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://HOST:PORT)."),
) -> None:
    """Perturb every case (noise, rotation, translation, volume, contour), extract, and rate each feature's ICC."""
    from thyromics.errors import ThyromicsError
    from thyromics.features.presets import get_preset
    from thyromics.features.settings import ExtractionSettings
    from thyromics.io.manifest import read_manifest
    from thyromics.parallel import default_jobs
    from thyromics.robustness.run import ICC_FIGURE, ICC_TABLE, run_robustness
    from thyromics.robustness.settings import get_chain

    if criterion not in ("icc", "lower"):
        raise typer.BadParameter(f"--criterion must be icc or lower, not {criterion!r}")
    try:
        settings = ExtractionSettings.from_params_file(params) if params else get_preset(preset)
        if label is not None:
            settings = settings.replace(label=label)
        perturbation = get_chain(chain, repetitions=repetitions, seed=seed)
        manifest = read_manifest(cases, check_files=False)
        kinds = [k.strip().lower() for k in icc.split(",") if k.strip()]
        typer.echo(f"Perturbing {len(manifest.cases)} cases x {perturbation.repetitions} "
                   f"({perturbation.code}) and extracting ...")
        res = run_robustness(manifest, settings, perturbation, output,
                             jobs=jobs or default_jobs(), scheduler=scheduler, kinds=kinds,
                             threshold=threshold, criterion=criterion)  # type: ignore[arg-type]
    except ThyromicsError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"{res.n_stable} of {res.n_features} features stable ({kinds[0]} "
               f"{'>=' if criterion == 'icc' else 'lower bound >='} {threshold}) over "
               f"{res.n_cases} cases x {res.n_perturbations} perturbations; "
               f"{res.n_failed} failed extraction(s); {res.seconds:.1f} s.")
    typer.echo(f"  ICC table: {res.out / ICC_TABLE}")
    typer.echo(f"  figure:    {res.out / ICC_FIGURE}")
