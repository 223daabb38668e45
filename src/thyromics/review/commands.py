"""``thyromics review`` and ``thyromics agreement``: thin faces of the review package."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["review", "agreement"]


def review(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv)."),
    proposed: str = typer.Option("mask", "--proposed", help="Column of the proposed masks (or FILE.csv:COLUMN)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Column of reference masks, or FILE.csv:COLUMN (e.g. another reader's review/NAME/cases.csv:reviewed_mask): Dice, IoU and HD95 are shown."),
    reader: Optional[str] = typer.Option(None, "--reader", help="Reader name (default: the login name); each reader has a separate folder."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", "--output", help="Review folder (default: review/ beside the manifest); the reader's files go to OUT/READER/."),
    root: Optional[Path] = typer.Option(None, "--root", help="Study folder: files outside it are refused (default: the manifest's folder)."),
    label: Optional[int] = typer.Option(None, "--label", help="Lesion value in multi-label masks."),
    roi: Optional[str] = typer.Option(None, "--roi", help="RTSTRUCT structure / DICOM SEG or Slicer segment name (case-insensitive) for cases whose 'roi' cell is empty."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Default loopback: only this computer can connect; any other address needs the access token printed in the URL."),
    allow_host: Optional[list[str]] = typer.Option(None, "--allow-host", help="Another name the server is reached by (a DNS alias), for the Host check; repeatable."),
    port: int = typer.Option(8765, "--port", help="Port (0: any free port)."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a web browser."),
    save_as: str = typer.Option("auto", "--save-as", help="Corrected masks: auto (the proposal's format; DICOM SEG for RTSTRUCT/SEG proposals) or seg (always DICOM SEG on the image's series: opens in 3D Slicer, OHIF, PACS)."),
) -> None:
    """Review, correct and accept lesion masks in a local web page."""
    import getpass

    from thyromics.errors import ThyromicsError
    from thyromics.review.server import is_loopback, make_server
    from thyromics.review.state import ReaderState, check_reader
    from thyromics.review.cases import load_study

    try:
        study = load_study(cases, proposed=proposed, reference=reference, root=root, label=label,
                           roi=roi)
        name = reader or check_reader("".join(ch if ch.isalnum() or ch in "_.-" else "_"
                                              for ch in getpass.getuser()) or "reader")
        state = ReaderState(study, out or study.manifest.parent / "review", name, save_as=save_as)
        httpd, url = make_server(state, host, port, allowed_hosts=tuple(allow_host or ()))
    except (ThyromicsError, OSError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    counts = state.counts()
    done = len(study) - counts["to review"]
    typer.echo(f"Reviewing {len(study)} cases of {study.manifest} as reader {state.reader!r}; "
               f"{done} already decided (resuming).")
    typer.echo(f"  decisions and corrected masks: {state.folder}")
    if is_loopback(host):
        typer.echo(f"  bound to {host} (loopback): only this computer can connect.")
    else:
        typer.secho(f"warning: bound to {host}: anyone who has the address below, token "
                    "included, can read the images and change the decisions (there are no "
                    "accounts; the connection is not encrypted). Share it only on a trusted "
                    "network.", fg="yellow", err=True)
    typer.echo(f"Open {url}   (Ctrl+C stops the server; every decision is already saved)")
    if not no_browser:
        import webbrowser

        webbrowser.open(url)
    import signal

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # `kill` stops it as cleanly as Ctrl+C
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped.")
    finally:
        httpd.server_close()


def agreement(
    cases: Path = typer.Argument(..., help="The case manifest (cases.csv)."),
    masks: list[str] = typer.Option(..., "--masks", help="Two or more mask columns; a column of another CSV as FILE.csv:COLUMN (joined on case_id), e.g. a reader's review/NAME/cases.csv:reviewed_mask."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Output folder."),
    preset: str = typer.Option("auto", "--preset", help="Radiomics preset for the feature ICC (auto: us for 2D, ct for 3D)."),
    original_only: bool = typer.Option(False, "--original-only", help="Feature ICC on the original image only (no LoG / wavelet: much faster)."),
    no_features: bool = typer.Option(False, "--no-features", help="Skip the feature-level ICC."),
    icc_threshold: float = typer.Option(0.75, "--icc-threshold", help="Features with ICC(2,1) below this are listed as not reproducible."),
    group: Optional[str] = typer.Option(None, "--group", help="Manifest column whose groups are compared (Mann-Whitney / Kruskal-Wallis on Dice)."),
    label: Optional[int] = typer.Option(None, "--label", help="Lesion value in multi-label masks."),
    roi: Optional[str] = typer.Option(None, "--roi", help="RTSTRUCT structure / DICOM SEG or Slicer segment name (case-insensitive) for cases whose 'roi' cell is empty; applied to the masks that name structures only."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Cases in parallel in local worker processes (0 = all cores)."),
) -> None:
    """Agreement between readers' masks (or proposal vs correction): Dice, volumes, feature ICC."""
    from thyromics.errors import ThyromicsError
    from thyromics.parallel import default_jobs
    from thyromics.progress import case_progress
    from thyromics.review.run_agreement import run_agreement

    try:
        from thyromics.io import read_manifest

        n = len(read_manifest(cases, check_files=False))
        typer.echo(f"Agreement of {', '.join(masks)} on {n} cases ...")
        with case_progress(n, "agreement") as tick:
            result = run_agreement(cases, masks, output, preset=None if no_features else preset,
                                   original_only=original_only, icc_threshold=icc_threshold,
                                   group=group, label=label, on_case=tick,
                                   jobs=jobs or default_jobs(), roi=roi)
    except ThyromicsError as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(2) from e
    for line in result.lines():
        typer.echo(line)
    if result.n_ok == 0:
        raise typer.Exit(1)
