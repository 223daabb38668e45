"""``thyromics extract``: the command-line face of :func:`thyromics.features.extract.extract_cohort`."""

from __future__ import annotations

from pathlib import Path

import typer

from thyromics.layout import EXTRACT

__all__ = ["extract"]


def extract(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv: case_id, image, mask, ...)."),
    preset: str = typer.Option("ct", "--preset", help="Settings preset: ct, us, seed000_ct, seed002_us, seed003_ct ..."),
    params: Path | None = typer.Option(None, "--params", help="A standard PyRadiomics parameter file (YAML/JSON) instead of a preset."),
    output: Path = typer.Option(Path(EXTRACT.name("features")), "-o", "--out", "--output", help="Feature table (Parquet); errors and provenance are written beside it."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Local worker processes (0 = all usable cores)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://HOST:PORT) to run on a cluster instead."),
    cache: Path | None = typer.Option(None, "--cache", help="Per-case cache folder (default: .thyromics_cache beside the output)."),
    csv: bool = typer.Option(False, "--csv", help="Also write the table as CSV."),
    label: int | None = typer.Option(None, "--label", help="Mask label value of the lesion in multi-label masks."),
    geometry_tolerance: float = typer.Option(1e-3, "--geometry-tolerance", help="Largest allowed image/mask difference in spacing, origin and direction."),
    frame: int | None = typer.Option(None, "--frame", help="Frame to use in multi-frame files (GIF, TIFF, DICOM), 0-based."),
    series_uid: str | None = typer.Option(None, "--series-uid", help="SeriesInstanceUID to use in DICOM folders holding several series."),
    ith: bool = typer.Option(False, "--ith", help="Add the heterogeneity block (sub-regions, iTED, ITHscores; tens of seconds per lesion)."),
    engine: str | None = typer.Option(None, "--engine", help="Feature engine: native (default; compiled kernels, PyRadiomics' values within 1e-9, several times faster) or pyradiomics (PyRadiomics' own classes, the reference)."),
    convention: str | None = typer.Option(None, "--convention", help="Feature definitions of the native engine: pyradiomics (default; PyRadiomics' values) or ibsi (IBSI 1's definitions, bins and interpolation)."),
    ibsi_features: bool = typer.Option(False, "--ibsi-features", help="With --convention ibsi: add the IBSI 1 features PyRadiomics lacks (intensity histogram, peaks, IVH, extra morphology, distance zone matrix)."),
    roi: str | None = typer.Option(None, "--roi", help="RTSTRUCT structure / DICOM SEG or Slicer segment name (case-insensitive) for rows whose 'roi' cell is empty."),
    lesions: str | None = typer.Option(None, "--lesions", help="One row per lesion of each mask: 'components' (connected components) or 'labels' (each label value)."),
    min_lesion_voxels: int = typer.Option(1, "--min-lesion-voxels", help="With --lesions: smaller lesions are left out (counted in the provenance)."),
) -> None:
    """Extract radiomics features for every case; failures go to an errors table."""
    from thyromics.errors import ThyromicsError
    from thyromics.features.extract import extract_cohort
    from thyromics.features.presets import get_preset
    from thyromics.features.settings import ExtractionSettings
    from thyromics.parallel import default_jobs
    from thyromics.progress import case_progress

    try:
        settings = ExtractionSettings.from_params_file(params) if params else get_preset(preset)
        if label is not None:
            settings = settings.replace(label=label)
        if engine is not None:
            settings = settings.replace(engine=engine)
        if convention is not None or ibsi_features:
            settings = settings.replace(convention=convention or settings.convention,
                                        ibsi_features=ibsi_features)
        from thyromics.io.manifest import read_manifest

        manifest = read_manifest(cases, check_files=False)
    except ThyromicsError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    if lesions is not None and lesions not in ("components", "labels"):
        typer.secho(f"error: --lesions must be 'components' or 'labels', got {lesions!r}.",
                    fg="red", err=True)
        raise typer.Exit(2)
    n_jobs = jobs or default_jobs()
    where = f"Dask cluster {scheduler}" if scheduler else f"{n_jobs} local process(es)"
    typer.echo(f"Extracting {len(manifest.cases)} cases ({settings.name if hasattr(settings, 'name') else preset}) on {where} ...")
    with case_progress(len(manifest.cases), "extract") as tick:
        summary = extract_cohort(manifest, settings, output, jobs=n_jobs, scheduler=scheduler,
                                 cache_dir=cache, write_csv=csv,
                                 geometry_tolerance=geometry_tolerance, ith=ith, frame=frame,
                                 series_uid=series_uid, roi=roi, lesions=lesions,
                                 min_lesion_voxels=min_lesion_voxels,
                                 on_progress=tick)
    typer.echo(f"{summary.n_ok} of {summary.n_cases} cases succeeded ({summary.n_cached} from cache), "
               f"{summary.n_failed} failed; {summary.n_features} feature columns; "
               f"{summary.seconds:.1f} s.")
    typer.echo(f"  features:   {summary.output}")
    typer.echo(f"  errors:     {summary.errors_path}")
    typer.echo(f"  provenance: {summary.provenance_path}")
    for err in summary.errors[:10]:
        typer.secho(f"  failed {err['case_id']} [{err['stage']}]: {err['error']}", fg="yellow")
    if summary.n_failed > 10:
        typer.echo(f"  ... and {summary.n_failed - 10} more in {summary.errors_path}")
    if summary.n_ok == 0:
        raise typer.Exit(1)
