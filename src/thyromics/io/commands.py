"""``thyromics validate`` (check a case manifest before a long run) and ``thyromics manifest``
(scan a DICOM folder tree into one).

Imports nothing heavy at module level (``thyromics --help`` stays instant).
"""

from __future__ import annotations

from pathlib import Path

import typer

from thyromics.layout import MANIFEST

__all__ = ["validate", "manifest"]


def validate(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv).", show_default=False),
    read: bool = typer.Option(False, "--read", help="Also open every image and mask (catches "
                              "corrupt and truncated files, and image/mask grids that differ)."),
    geometry_tolerance: float = typer.Option(1e-3, "--geometry-tolerance", help="With --read: "
                                             "largest allowed image/mask difference in "
                                             "spacing, origin and direction."),
    roi: str = typer.Option(None, "--roi", help="With --read: RTSTRUCT structure / SEG or "
                            "Slicer segment name for rows whose 'roi' cell is empty."),
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
    problems = [p for p in validate_readable(rows, geometry_tolerance=geometry_tolerance,
                                             roi=roi)
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


def manifest(
    folder: Path = typer.Argument(..., help="A folder tree of DICOM files (a PACS export).",
                                  show_default=False),
    output: Path = typer.Option(Path(MANIFEST.name("cases")), "-o", "--out", "--output",
                                help="The case manifest to write."),
    roi_pattern: str = typer.Option("*", "--roi-pattern", help="Keep RTSTRUCT ROIs / SEG "
                                    "segments whose name matches this shell pattern "
                                    "(case-insensitive), e.g. 'GTV*' or '*nodule*'."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing manifest."),
) -> None:
    """Scan a DICOM folder tree into a case manifest: one row per RTSTRUCT ROI / SEG segment.

    Each structure set is matched to its image series (the series it references, or the
    one of its frame of reference nearest to it in the tree). Columns: case_id,
    patient_id, study_uid, series_uid, image, mask, roi, label (empty: fill in the
    outcome). Then run `thyromics validate --read` and `thyromics extract` on it.
    """
    from thyromics.errors import InputError
    from thyromics.io.scan import scan_dicom, write_scan

    if output.exists() and not force:
        typer.echo(f"error: {output} exists; pass --force to overwrite it.", err=True)
        raise typer.Exit(2)
    try:
        result = scan_dicom(folder, roi_pattern=roi_pattern)
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    for p in result.problems:
        typer.echo(f"warning: {p}", err=True)
    if result.skipped_rois:
        shown = ", ".join(result.skipped_rois[:10])
        more = f" ... ({len(result.skipped_rois)} in all)" if len(result.skipped_rois) > 10 else ""
        typer.echo(f"skipped {len(result.skipped_rois)} structure(s) not matching "
                   f"{roi_pattern!r}: {shown}{more}", err=True)
    if not result.rows:
        typer.echo(f"error: no RTSTRUCT ROI or SEG segment matching {roi_pattern!r} with an "
                   f"image series was found under {folder} ({result.n_files} DICOM files, "
                   f"{result.n_series} image series).", err=True)
        raise typer.Exit(1)
    path = write_scan(result, output)
    patients = len({r["patient_id"] for r in result.rows})
    typer.echo(f"{len(result.rows)} case(s) of {patients} patient(s) from {result.n_files} "
               f"DICOM files ({result.n_series} image series) -> {path}")
    typer.echo("Next: fill the label column, then `thyromics validate --read` and "
               "`thyromics extract` on it.")
