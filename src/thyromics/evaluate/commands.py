"""``thyromics evaluate``: metrics of predictions against the truth.

Imports nothing heavy at module level so ``thyromics --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["evaluate"]


def evaluate(
    pred: Path = typer.Argument(..., help="Predictions table (CSV/TSV/Parquet), one row per case."),
    truth: str = typer.Option(..., "--truth", help="Binary outcome column (0/1)."),
    score: list[str] = typer.Option(..., "--score", help="Score column (repeat for several)."),
    direction: str = typer.Option("higher", "--direction",
                                  help="higher (higher score = positive; warns when AUC < 0.5), lower "
                                       "(lower = positive), or auto (pROC's rule, with a warning)."),
    validation: bool = typer.Option(False, "--validation/--development",
                                    help="The predictions are of cases the model was not fitted on "
                                         "(Hosmer-Lemeshow df = groups, not groups - 2)."),
    threshold: str = typer.Option("youden", "--threshold",
                                  help="youden | a number | sensitivity=0.9 | specificity=0.9."),
    threshold_from: Optional[Path] = typer.Option(  # noqa: UP007 - typer needs Optional
        None, "--threshold-from",
        help="Take thresholds from an evaluation JSON, or choose them on another predictions table."),
    subgroup: Optional[str] = typer.Option(None, "--subgroup", help="Column whose values define subgroups."),  # noqa: UP007
    bootstrap: Optional[int] = typer.Option(None, "--bootstrap",  # noqa: UP007
                                            help="Stratified bootstrap resamples for the AUC CI (default DeLong)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every bootstrap."),
    output: Path = typer.Option(..., "-o", "--out", "--output", help="Write the metrics JSON here."),
) -> None:
    """AUC (DeLong CI), threshold, metrics with CIs, calibration and DeLong comparisons."""
    import json

    from rich.console import Console

    from thyromics.errors import ThyromicsError
    from thyromics.evaluate._display import print_result
    from thyromics.evaluate.api import evaluate_file

    try:
        result = evaluate_file(pred, truth=truth, scores=list(score), threshold=threshold,
                               threshold_from=threshold_from, subgroup=subgroup, bootstrap=bootstrap, seed=seed,
                               direction=direction,
                               calibration_sample="validation" if validation else "development")
    except ThyromicsError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from e
    text = json.dumps(result, indent=2, allow_nan=False)
    console = Console()
    with console.capture() as shown:  # render everything before writing: no partial output
        print_result(result, console)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(shown.get(), nl=False)
    typer.echo(f"wrote {output}")
