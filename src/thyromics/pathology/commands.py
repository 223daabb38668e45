"""``thyromics pathology tiles|normalise|nuclei|features`` and ``thyromics associate``.

Thin wrappers over :mod:`thyromics.pathology.stages` and
:mod:`thyromics.pathology.run_associate`; nothing heavy is imported at module level.

Exit codes of the four stages: 0 every slide (and tile) succeeded; 3 some slides or
tiles failed (listed, and in ``OUT/<stage>.errors.csv``), the others are done; 1 no
slide succeeded; 2 bad input (manifest, options).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from thyromics.layout import PATHOLOGY

__all__ = ["pathology_app", "associate", "tiles", "normalise", "nuclei", "features"]

pathology_app = typer.Typer(help="Whole-slide pathology: tiles, stain normalisation, nuclei, "
                                 "per-nucleus features (run in this order into one OUT folder).",
                            no_args_is_help=True)

_SLIDES = typer.Argument(..., help="Slide manifest CSV: slide_id, patient_id, path [, mpp, nuclei, region].")
_OUT = typer.Option(Path("pathology"), "-o", "--out", "--output", help="Output folder shared by the four stages.")
_JOBS = typer.Option(1, "--jobs", "-j", help="Local worker processes (0 = all usable cores).")
_SCHED = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://HOST:PORT).")


def _run(stage: str, call) -> None:
    from thyromics.errors import ThyromicsError
    from thyromics.parallel import default_jobs
    from thyromics.pathology.slides import read_slide_manifest
    from thyromics.progress import case_progress

    def go(slides: Path, jobs: int, **kw):
        try:
            n = len(read_slide_manifest(slides))
            with case_progress(n, f"pathology {stage}") as tick:
                return call(jobs=jobs or default_jobs(), on_progress=tick, **kw)
        except ThyromicsError as e:
            typer.secho(f"error: {e}", fg="red", err=True)
            raise typer.Exit(2) from e

    return go


def _report(summary) -> None:
    typer.echo(f"{summary.n_ok} of {summary.n_slides} slides succeeded ({summary.n_cached} from cache), "
               f"{summary.n_failed} failed; {summary.n_tiles} tiles; {summary.seconds:.1f} s.")
    for name, path in summary.outputs.items():
        typer.echo(f"  {name}: {path}")
    typer.echo(f"  errors: {PATHOLOGY[summary.stage].at(summary.out, 'errors')}")
    for err in summary.errors[:10]:
        where = f"{err['slide_id']}" + (f"/{err['tile_id']}" if err["tile_id"] else "")
        typer.secho(f"  failed {where} [{err['stage']}]: {err['error']}", fg="yellow")
    if len(summary.errors) > 10:
        typer.echo(f"  ... and {len(summary.errors) - 10} more in {PATHOLOGY[summary.stage].at(summary.out, 'errors')}")
    if summary.n_ok == 0:
        raise typer.Exit(1)
    if summary.errors:
        typer.secho(f"partial failure: {summary.n_failed} slide(s) and "
                    f"{sum(1 for e in summary.errors if e['tile_id'])} tile(s) failed (exit code 3).", fg="yellow")
        raise typer.Exit(3)


@pathology_app.command("tiles")
def tiles(slides: Path = _SLIDES, out: Path = _OUT,
          tile_size: int = typer.Option(1024, help="Tile side in output pixels."),
          overlap: int = typer.Option(128, help="Overlap of neighbouring tiles in output pixels (> a nucleus)."),
          mpp: Optional[float] = typer.Option(None, help="Output micrometres per pixel (0.5 ~ 20x); default level 0."),
          magnification: Optional[float] = typer.Option(None, help="Output magnification (needs the objective power)."),
          min_tissue: float = typer.Option(0.25, help="Smallest tissue fraction of a kept tile."),
          stain_check: bool = typer.Option(True, "--stain-check/--no-stain-check",
                                           help="Refuse slides whose stain vectors are not H&E's."),
          jobs: int = _JOBS, scheduler: Optional[str] = _SCHED) -> None:
    """Detect tissue on a thumbnail and cut every slide into tiles (OUT/tiles.csv)."""
    from thyromics.pathology.stages import run_tiles
    from thyromics.pathology.settings import TileSettings

    def call(**kw):
        s = TileSettings(tile_size=tile_size, overlap=overlap, mpp=mpp, magnification=magnification,
                         min_tissue=min_tissue, check_stain=stain_check)
        return run_tiles(slides, out, s, scheduler=scheduler, **kw)

    _report(_run("tiles", call)(slides, jobs))


@pathology_app.command("normalise")
def normalise(slides: Path = _SLIDES, out: Path = _OUT,
              method: str = typer.Option("macenko", help="macenko, reinhard or none."),
              reference: Optional[Path] = typer.Option(None, help="A stain_reference.json to reuse, or an image to fit the reference on."),
              reference_tiles: int = typer.Option(8, help="Tiles drawn (seeded) to build the reference when none is given."),
              seed: int = typer.Option(0, help="Seed of that draw."),
              jobs: int = _JOBS, scheduler: Optional[str] = _SCHED) -> None:
    """Normalise every tile to one stain reference (saved as OUT/stain_reference.json)."""
    from thyromics.pathology.stages import run_normalise
    from thyromics.pathology.settings import StainSettings

    def call(**kw):
        s = StainSettings(method=method, n_reference_tiles=reference_tiles, seed=seed)
        return run_normalise(slides, out, s, reference=reference, scheduler=scheduler, **kw)

    _report(_run("normalise", call)(slides, jobs))


@pathology_app.command("nuclei")
def nuclei(slides: Path = _SLIDES, out: Path = _OUT,
           segmenter: str = typer.Option("classical", help="classical (built-in baseline) or external "
                                         "(the manifest's nuclei column: HoVer-Net .mat/.json, TIAToolbox, labels)."),
           images: str = typer.Option("auto", help="auto (normalised when present), tiles or normalised."),
           radius_um: float = typer.Option(3.0, help="Classical: expected nucleus radius in micrometres."),
           min_area: float = typer.Option(4.0, help="Drop (and count) instances smaller than this, in um^2."),
           max_area: float = typer.Option(1000.0, help="Drop (and count) instances larger than this, in um^2."),
           jobs: int = _JOBS, scheduler: Optional[str] = _SCHED) -> None:
    """Nucleus instance maps per tile (OUT/nuclei/<slide>/<tile>.npz)."""
    from thyromics.pathology.stages import run_nuclei
    from thyromics.pathology.settings import NucleiSettings

    def call(**kw):
        s = NucleiSettings(segmenter=segmenter, radius_um=radius_um, min_area_um2=min_area, max_area_um2=max_area)
        return run_nuclei(slides, out, s, images=images, scheduler=scheduler, **kw)

    _report(_run("nuclei", call)(slides, jobs))


@pathology_app.command("features")
def features(slides: Path = _SLIDES, out: Path = _OUT,
             types: str = typer.Option("1,2,3", help="Nucleus types measured (PanNuke ids; 0, untyped, always)."),
             jobs: int = _JOBS, scheduler: Optional[str] = _SCHED) -> None:
    """28 features per nucleus; tile, slide and patient summaries with heterogeneity."""
    from thyromics.pathology.stages import run_features
    from thyromics.pathology.settings import FeatureSettings

    try:
        type_ids = tuple(int(t) for t in types.split(",") if t.strip())
    except ValueError:
        raise typer.BadParameter(f"--types must be comma-separated integers, got {types!r}") from None

    def call(**kw):
        return run_features(slides, out, FeatureSettings(types=type_ids), scheduler=scheduler, **kw)

    _report(_run("features", call)(slides, jobs))


def associate(
    imaging: Path = typer.Argument(..., help="Imaging table: patient_id + the phenotype or score column(s)."),
    with_: list[Path] = typer.Option(..., "--with", help="Pathology (patient_features.csv) or protein table; repeatable."),
    by: str = typer.Option(..., "--by", help="Imaging column: a two-level phenotype, or a score (with --threshold)."),
    out: Path = typer.Option(Path("associations"), "-o", "--out", "--output", help="Output folder."),
    threshold: Optional[float] = typer.Option(None, help="Cut a continuous --by: score >= threshold is high."),
    threshold_from: Optional[Path] = typer.Option(None, help="Carry the threshold of --by from `thyromics evaluate -o` JSON."),
    high: Optional[str] = typer.Option(None, help="Which level of a two-level --by is high."),
    score: Optional[list[str]] = typer.Option(None, "--score", help="Continuous imaging column(s) to correlate with."),
    test: str = typer.Option("mannwhitney", help="Group test for continuous features: mannwhitney or t."),
    alpha: float = typer.Option(0.05, help="FDR level (Benjamini-Hochberg)."),
    reduce: str = typer.Option("refuse", help="Several imaging rows per patient: refuse, mean, max or first."),
    composite: Optional[str] = typer.Option(None, help="Outcome column to choose a composite pathology score on "
                                            "(needs --split; tested on the other patients)."),
    split: Optional[str] = typer.Option(None, help="Imaging column marking 'train' patients for --composite."),
) -> None:
    """Pathology and protein features vs an imaging phenotype: tests, FDR, correlations, figures."""
    from thyromics.errors import ThyromicsError
    from thyromics.pathology.associate import AssociationSettings
    from thyromics.pathology.run_associate import run_associate

    try:
        s = AssociationSettings(by=by, threshold=threshold, high=high, scores=tuple(score or ()), test=test,
                                alpha=alpha, reduce=reduce)
        res = run_associate(imaging, list(with_), s, out, threshold_from=threshold_from,
                            composite=composite, split=split)
    except ThyromicsError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"{res['n_features']} features, {res['n_tested']} tests with enough patients; {res['n_significant']} differ between the phenotype "
               f"groups and {res['n_significant_correlations']} correlations hold at FDR {alpha:g} (BH).")
    for name, path in res["outputs"].items():
        typer.echo(f"  {name}: {path}")
