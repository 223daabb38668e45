"""The ``thyromics`` command.

Thin: every command lives in ``thyromics.<stage>.commands`` as a typed function that
only parses arguments and imports its heavy libraries inside the function body, so
``thyromics --help`` stays instant. This module only registers them.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app"]

app = typer.Typer(
    name="thyromics",
    help="Thyroid-cancer imaging studies: images -> radiomics and deep features -> "
    "honest models, statistics, figures and an HTML report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (command name, module, function). Modules must import nothing heavy at top level.
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "thyromics.study.commands", "demo"),
    ("extract", "thyromics.features.commands", "extract"),
    ("validate", "thyromics.io.commands", "validate"),
    ("manifest", "thyromics.io.commands", "manifest"),
    ("table1", "thyromics.stats.commands", "table1"),
    ("logistic", "thyromics.stats.commands", "logistic"),
    ("evaluate", "thyromics.evaluate.commands", "evaluate"),
    ("model", "thyromics.models.commands", "model"),
    ("predict", "thyromics.models.commands", "predict"),
    ("run", "thyromics.study.commands", "run"),
    ("report", "thyromics.report.commands", "report"),
    ("habitats", "thyromics.features.ith.commands", "habitats"),
    ("associate", "thyromics.pathology.commands", "associate"),
    ("review", "thyromics.review.commands", "review"),
    ("agreement", "thyromics.review.commands", "agreement"),
    ("robustness", "thyromics.robustness.commands", "robustness"),
]

# Sub-applications (``thyromics dl train`` ...): (name, module, attribute).
GROUPS: list[tuple[str, str, str]] = [
    ("dl", "thyromics.deep.commands", "dl_app"),
    ("segment", "thyromics.deep.commands", "segment_app"),
    ("pathology", "thyromics.pathology.commands", "pathology_app"),
]


def _is_own(error: ModuleNotFoundError, module: str) -> bool:
    """True when the missing module is the command module itself (or its package)."""
    return bool(error.name) and (module == error.name or module.startswith(error.name + "."))


def _register() -> None:
    for name, module, func in COMMANDS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:  # stage not built yet
            if not _is_own(e, module):
                raise
            continue
        if hasattr(mod, func):
            app.command(name)(getattr(mod, func))
    for name, module, attr in GROUPS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if not _is_own(e, module):
                raise
            continue
        if hasattr(mod, attr):
            app.add_typer(getattr(mod, attr), name=name)


@app.callback()
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        from thyromics import __version__

        typer.echo(__version__)
        raise typer.Exit()


_register()

if __name__ == "__main__":  # pragma: no cover
    app()
