"""``thyromics demo`` and ``thyromics run``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["demo", "run"]


def _collect_warnings(out: Path):
    """Context manager: warnings go to ``OUT/warnings.log`` (counted at the end), not the screen."""
    import contextlib
    import warnings

    @contextlib.contextmanager
    def collect():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                yield
            finally:
                if caught:
                    out.mkdir(parents=True, exist_ok=True)
                    lines = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
                             for w in caught]
                    (out / "warnings.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
                    typer.echo(f"{len(caught)} warning(s) written to {out / 'warnings.log'}")

    return collect()


def demo(
    output: Path = typer.Argument(Path("demo_out"), help="Folder for the synthetic data and the study outputs."),
    patients: int = typer.Option(60, "--patients", help="Synthetic patients per modality."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic cohort and of every model."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Local worker processes (0 = all usable cores)."),
) -> None:
    """Run the whole study on a synthetic CT and ultrasound cohort made on the fly."""
    from thyromics.progress import case_progress
    from thyromics.study.demo import run_demo

    with _collect_warnings(output):
        reports = run_demo(output, n_patients=patients, seed=seed, jobs=jobs, log=typer.echo,
                           progress=case_progress)
    for modality, path in reports.items():
        typer.echo(f"Report ({modality}): {path.resolve()}")


def run(
    study: Path = typer.Argument(..., help="The study YAML (see docs/user-guide.md for every key)."),
    output: Path = typer.Option(Path("study_out"), "-o", "--out", "--output", help="Study output folder."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j",
                                       help="Local processes for extraction and the model fits "
                                            "(0 = all cores; overrides the YAML's jobs)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="Dask scheduler address (tcp://HOST:PORT) for "
                                                 "extraction and the model fits."),
) -> None:
    """Run a study: extract -> table1 -> model -> report; a rerun resumes."""
    from thyromics.errors import ThyromicsError
    from thyromics.progress import case_progress
    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study

    try:
        cfg = _where(load_study(study), jobs, scheduler)
        with _collect_warnings(output):
            paths = run_study(cfg, output, log=typer.echo, progress=case_progress)
    except ThyromicsError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"Report: {paths.report.resolve()}")


def _where(cfg, jobs: int | None, scheduler: str | None):
    """The study with ``--jobs`` / ``--scheduler`` applied to extraction and the model fits."""
    update = {k: v for k, v in (("jobs", jobs), ("scheduler", scheduler)) if v is not None}
    if not update:
        return cfg
    return cfg.model_copy(update={"extract": cfg.extract.model_copy(update=update),
                                  "model": cfg.model.model_copy(update=update)})
