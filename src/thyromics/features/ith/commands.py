"""``thyromics habitats``: voxel habitats of every lesion in a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["habitats"]


def habitats(
    cases: Path = typer.Argument(..., help="Case manifest (cases.csv)."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder."),
    n_habitats: Optional[int] = typer.Option(None, "--k", help="Number of habitats; default: chosen by silhouette in 2..5."),
    method: str = typer.Option("kmeans", help="kmeans or gmm."),
    kernel_radius: int = typer.Option(1, help="Local feature kernel radius (voxels)."),
    bin_width: float = typer.Option(25.0, help="Bin width of the local texture maps."),
    population: bool = typer.Option(False, help="Fit habitats on the training split only and apply them to every case."),
    train_split: str = typer.Option("train", help="Split name used with --population."),
    seed: int = typer.Option(42, help="Seed of clustering and subsampling."),
) -> None:
    """Cluster each lesion's voxels into habitats: tables, label maps and PNG overlays."""
    from thyromics.features.ith.run_habitats import run_habitats
    from thyromics.features.ith.settings import IthSettings

    s = IthSettings(n_habitats=n_habitats, habitat_method=method, habitat_kernel_radius=kernel_radius,
                    habitat_bin_width=bin_width, seed=seed)
    paths = run_habitats(cases, output, s, population=population, train_split=train_split)
    typer.echo(f"habitats written to {output} ({', '.join(p.name for p in paths.values())})")
