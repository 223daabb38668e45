"""``thyromics validate``: check a case manifest before a long run.

Imports nothing heavy at module level (``thyromics --help`` stays instant).
"""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["validate"]


def validate(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv).", show_default=False),
    read: bool = typer.Option(False, "--read", help="Also open every image and mask header "
                              "(catches corrupt files and image/mask size mismatches)."),
) -> None:
    """Check a case manifest: columns, case ids, files, labels, splits.

    Prints a summary of the cohort, or every problem found with its CSV row
    (the header is row 1). Exits with code 1 when there are problems.
    """
    from thyromics.io.manifest import ManifestError, read_manifest, summarize, validate_readable

    try:
        manifest = read_manifest(cases)
    except ManifestError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    problems = validate_readable(manifest) if read else []
    if problems:
        typer.echo(f"{len(problems)} problem(s) reading the files of {manifest.path} "
                   "(row numbers count the header as row 1):", err=True)
        for p in problems:
            typer.echo(f"  - {p}", err=True)
        raise typer.Exit(1)
    typer.echo(summarize(manifest))
    typer.echo("OK: all image and mask headers readable." if read else
               "OK (files exist; add --read to open every header).")
