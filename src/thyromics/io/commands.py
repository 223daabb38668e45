"""``thyromics validate``: check a case manifest before a long run.

Imports nothing heavy at module level (``thyromics --help`` stays instant).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["validate"]


def validate(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv).", show_default=False),
    read: bool = typer.Option(False, "--read", help="Also open every image and mask (catches "
                              "corrupt and truncated files, and image/mask grids that differ)."),
    geometry_tolerance: float = typer.Option(1e-3, "--geometry-tolerance", help="With --read: "
                                             "largest allowed image/mask difference in "
                                             "spacing, origin and direction."),
) -> None:
    """Check a case manifest: columns, case ids, files, labels, splits.

    Prints a summary of the cohort, or every problem found with its CSV row
    (the header is row 1); with --read, the problems of the files of every row too.
    Warns about rows that are the same case twice. Exits with code 1 when there are
    problems.
    """
    from thyromics.io.manifest import (ManifestError, duplicate_cases, read_manifest, summarize,
                                       validate_readable)

    try:
        manifest = read_manifest(cases)
        rows, listed = manifest.cases, []
    except ManifestError as e:
        if not read:
            typer.echo(str(e), err=True)
            raise typer.Exit(1) from None
        manifest, rows, listed = None, e.cases, e.problems
        typer.echo(str(e), err=True)
    for warning in duplicate_cases(rows):
        typer.echo(f"warning: {warning}", err=True)
    problems = [p for p in validate_readable(rows, geometry_tolerance=geometry_tolerance)
                if p not in listed] if read else []
    if problems:
        where = manifest.path if manifest is not None else Path(cases).resolve()
        typer.echo(f"{len(problems)} problem(s) reading the files of {where} "
                   "(row numbers count the header as row 1):", err=True)
        for p in problems:
            typer.echo(f"  - {p}", err=True)
    if manifest is None or problems:
        raise typer.Exit(1)
    typer.echo(summarize(manifest))
    typer.echo("OK: every image and mask is readable and whole." if read else
               "OK (files exist; add --read to open every file).")
