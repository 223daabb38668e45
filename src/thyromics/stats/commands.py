"""CLI commands of the stats stage: ``thyromics table1`` and ``thyromics logistic``.

Thin wrappers: they parse options, call :func:`thyromics.stats.table1.table1` or
:mod:`thyromics.stats.logistic`, print the result with rich and write it. Nothing heavy is
imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

__all__ = ["table1", "logistic"]


def _split(values: Optional[list[str]]) -> Optional[list[str]]:
    """Accept both ``--vars a --vars b`` and ``--vars a,b``."""
    if values is None:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _print_frame(frame, title: str, caption: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=caption or None, show_lines=False)
    for c in frame.columns:
        table.add_column(str(c), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*["" if v is None or (isinstance(v, float) and v != v)
                        else (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row])
    Console(width=max(120, 14 * len(frame.columns))).print(table)


def table1(
    data: Path = typer.Argument(..., help="Table with one row per subject (.csv, .tsv, .parquet, .xlsx)."),
    group: str = typer.Option(..., "--group", "-g", help="Column compared (e.g. the outcome)."),
    by: Optional[str] = typer.Option(None, "--by", help="Stratify by this column (e.g. cohort)."),
    vars: Optional[list[str]] = typer.Option(None, "--vars", "-v",
                                             help="Variables (repeat or comma-separate)."),
    categorical: Optional[list[str]] = typer.Option(None, "--categorical",
                                                    help="Force these variables categorical."),
    continuous: Optional[list[str]] = typer.Option(None, "--continuous",
                                                   help="Force these variables continuous."),
    nonnormal: Optional[list[str]] = typer.Option(
        None, "--nonnormal", help="Summarise these as median [IQR] with a rank test; the "
        "others follow the Shapiro-Wilk rule."),
    decimals: int = typer.Option(1, "--decimals", help="Decimals of summaries."),
    output: Optional[Path] = typer.Option(None, "-o", "--out", "--output",
                                          help="Write .html, .md or .csv (by extension)."),
) -> None:
    """Table 1: the variables by group, with the test used and its p-value."""
    from thyromics.errors import InputError
    from thyromics.io.tables import read_table
    from thyromics.stats.table1 import table1 as make_table1

    try:
        frame = read_table(data, what="the data table")
        t = make_table1(frame, group=group, by=by, variables=_split(vars),
                        categorical=_split(categorical), continuous=_split(continuous),
                        nonnormal=_split(nonnormal) or "auto", decimals=decimals)
        if output is not None:
            t.write(output)
    except InputError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(code=2) from e
    shown = t.frame.copy()
    shown.loc[shown["level"].ne("") & ~shown["level"].str.startswith(("mean", "median")),
              "variable"] = ""  # level rows: show the variable name once
    _print_frame(shown, f"Table 1 by {group}" + (f" within {by}" if by else ""), t.footnote())
    if output is not None:
        typer.echo(f"written {output}")


def logistic(
    data: Path = typer.Argument(..., help="Table with one row per subject (.csv, .tsv, .parquet, .xlsx)."),
    outcome: str = typer.Option(..., "--outcome", "-y", help="Binary 0/1 outcome column."),
    predictors: list[str] = typer.Option(..., "--predictor", "-x",
                                         help="Predictor (repeat or comma-separate)."),
    categorical: Optional[list[str]] = typer.Option(None, "--categorical",
                                                    help="Numeric columns to treat as "
                                                    "categorical."),
    reference: Optional[list[str]] = typer.Option(None, "--reference",
                                                  help="Reference level as COLUMN=LEVEL."),
    multivariable: bool = typer.Option(False, "--multivariable/--univariable",
                                       help="One model with all predictors, or one each."),
    ci: str = typer.Option("wald", "--ci", help="Confidence intervals: wald (R confint.default) "
                           "or profile (profile likelihood, R confint)."),
    firth: bool = typer.Option(False, "--firth", help="Firth's penalised likelihood (finite "
                               "estimates under separation; R brglm2), Wald intervals."),
    output: Optional[Path] = typer.Option(None, "-o", "--out", "--output",
                                          help="Write the table as .csv (or .md / .html)."),
) -> None:
    """Logistic regression: odds ratios with 95% CIs (Wald or profile) and p-values."""
    import warnings

    from thyromics.errors import InputError
    from thyromics.io.tables import read_table
    from thyromics.stats import logistic as lg

    try:
        refs: dict[str, str] = {}
        for item in _split(reference) or []:
            if "=" not in item:
                raise InputError(f"--reference {item!r}: expected COLUMN=LEVEL")
            k, v = item.split("=", 1)
            refs[k.strip()] = v.strip()
        frame = read_table(data, what="the data table")
        preds = _split(predictors) or []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lg.SeparationWarning)  # reported below
            if multivariable:
                res = lg.multivariable(frame, outcome, preds, categorical=_split(categorical),
                                       reference=refs, ci=ci, firth=firth)
                table = res.table
                caption = (f"n = {res.n}, events = {res.events}, dropped (missing) = "
                           f"{res.n_dropped}, AIC = {res.aic:.2f}; {res.method}, "
                           f"{'profile-likelihood' if res.ci == 'profile' else 'Wald'} 95% CIs")
                if res.separation is not None:
                    caption += (" (at the last iteration: no finite MLE)\n"
                                + res.separation.message)
            else:
                table = lg.univariable(frame, outcome, preds, categorical=_split(categorical),
                                       reference=refs, ci=ci, firth=firth)
                notes = [n for n in dict.fromkeys(table["note"]) if n]
                caption = "\n".join(notes)
        if output is not None:
            ext = output.suffix.lower()
            if ext == ".csv":
                table.to_csv(output, index=False)
            elif ext in (".md", ".markdown"):
                from thyromics.stats._render import frame_to_markdown

                output.write_text(frame_to_markdown(table) + "\n\n" + caption + "\n")
            elif ext in (".html", ".htm"):
                output.write_text(table.to_html(index=False, na_rep="") + f"<p>{caption}</p>\n")
            else:
                raise InputError(f"cannot write {output}: expected .csv, .md or .html")
    except InputError as e:
        typer.echo(f"Error: {e}", err=True)
        raise typer.Exit(code=2) from e
    shown = table.drop(columns=[c for c in ("note", "variable", "coef", "se")
                                if c in table.columns])
    _print_frame(shown, "Multivariable logistic regression" if multivariable
                 else "Univariable logistic regression", caption)
    if output is not None:
        typer.echo(f"written {output}")
