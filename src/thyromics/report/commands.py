"""``thyromics report``: the study report (heavy imports stay inside the function)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["report"]


def report(
    study: Path = typer.Argument(..., help="Study output folder (OUT of `thyromics run`)."),
    output: Optional[Path] = typer.Option(  # noqa: UP045 - typer needs Optional here
        None, "-o", "--out", "--output", help="Report file (default: STUDY/report.html)."),
    title: Optional[str] = typer.Option(None, "--title", help="Report heading."),  # noqa: UP045
) -> None:
    """Write one self-contained, printable HTML report of a study folder."""
    from thyromics.errors import InputError
    from thyromics.report.build import build_report

    try:
        path = build_report(study, output=output, title=title)
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    typer.echo(str(path))
