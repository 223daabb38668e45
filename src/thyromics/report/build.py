"""Build the study report: one self-contained, printable, offline HTML file.

Figures are embedded as base64 PNG, styles and the two small test scripts are inline,
and a Content-Security-Policy forbids any network load, so the file can be mailed,
archived or printed as it is. Scripts run only if their text has one of the hashes the
policy lists (``script-src 'sha256-...'``, no ``'unsafe-inline'``): markup that reached
the page from a study file could not run even if it escaped the escaping. The data of
every figure and table is written beside it as ``report_data/<name>.csv`` (text cells
that a spreadsheet would run as a formula start with ``'``, see
:mod:`thyromics.csvsafe`), and the reporting checklist as ``reporting_checklist.csv``
and ``.md`` (:mod:`thyromics.report.checklist`).
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from datetime import datetime, timezone
from pathlib import Path

from markupsafe import Markup, escape

from thyromics.csvsafe import safe_frame
from thyromics.errors import InputError, ThyromicsWarning
from thyromics.layout import REPORT, STUDY
from thyromics.report._html import Section
from thyromics.report._study import Study
from thyromics.report.sections import SECTIONS

__all__ = ["build_report", "build_sections", "DATA_DIR", "REPORT_NAME", "SCRIPTS"]

#: Default file name of the report inside the study folder.
REPORT_NAME: str = REPORT.name("report")
#: Folder (beside the report) that receives the figures' and tables' data.
DATA_DIR: str = str(Path(REPORT.name("data", name="")).parent)
#: The report's inline scripts (files in ``templates/``), in page order.
SCRIPTS: tuple[str, ...] = ("report_errors.js", "report_check.js")


def build_sections(study: Study) -> list[Section]:
    """Every section of :data:`~thyromics.report.sections.SECTIONS`, in order.

    A section whose inputs are present but unreadable is not allowed to take the report
    down: it is shown with the error and the fix, and a
    :class:`~thyromics.errors.ThyromicsWarning` is issued.
    """
    out = []
    for sec_id, title, builder in SECTIONS:
        try:
            sec = builder(study)
        except Exception as e:  # one broken input must not stop the whole report
            sec = Section(sec_id, title, error=True)
            sec.add(Markup(f'<p class="section-error"><strong>Could not build this section:</strong> '
                           f"{escape(type(e).__name__)}: {escape(str(e))}</p>"))
            warnings.warn(f"report section {sec_id!r} ({title}) failed: {type(e).__name__}: {e}",
                          ThyromicsWarning, stacklevel=2)
        out.append(sec)
    return out


def _template():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("thyromics.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template("report.html")


def _scripts() -> tuple[list[Markup], Markup]:
    """The inline scripts and the ``script-src`` sources that allow exactly them."""
    from importlib import resources

    folder = resources.files("thyromics.report") / "templates"
    # LF only: a browser hashes the text after turning CRLF into LF (a Windows checkout)
    texts = [(folder / name).read_text(encoding="utf-8").replace("\r\n", "\n") for name in SCRIPTS]
    hashes = [base64.b64encode(hashlib.sha256(t.encode("utf-8")).digest()).decode("ascii")
              for t in texts]
    return [Markup(t) for t in texts], Markup(" ".join(f"'sha256-{h}'" for h in hashes))


def _write_checklist(sections: list[Section], folder: Path, title: str) -> None:
    """``reporting_checklist.csv`` and ``.md`` beside the report (when the section built)."""
    from thyromics.report.checklist import CHECKLIST_CSV, CHECKLIST_MD, checklist_markdown

    rows = next((s.tables["checklist"] for s in sections if "checklist" in s.tables), None)
    for name in (CHECKLIST_CSV, CHECKLIST_MD):
        (folder / name).unlink(missing_ok=True)  # never a stale checklist beside a new report
    if rows is not None:
        safe_frame(rows).to_csv(folder / CHECKLIST_CSV, index=False)
        (folder / CHECKLIST_MD).write_text(checklist_markdown(rows, title), encoding="utf-8")


def build_report(study_dir: Path, *, output: Path | None = None, title: str | None = None) -> Path:
    """Write the HTML report of a study folder.

    Parameters
    ----------
    study_dir : Path
        The study's output folder (``OUT`` of ``thyromics run``). Every input is
        optional: a section whose input is missing says "not run".
    output : Path, optional
        The report file; default ``study_dir / "report.html"``. The figures' data go to
        ``report_data/`` beside it.
    title : str, optional
        Heading of the report; default from ``study.json``'s ``name``.

    Returns
    -------
    Path
        The report file.

    Raises
    ------
    InputError
        If ``study_dir`` is not a folder.
    """
    from thyromics import __version__

    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise InputError(f"study folder {study_dir} not found (expected the output folder of "
                         "`thyromics run`); check the path.")
    study = Study(study_dir)
    output = Path(output) if output is not None else study_dir / REPORT_NAME
    if title is None:
        try:
            meta = study.json(STUDY.rel("study")) or {}
        except InputError:
            meta = {}  # the provenance section reports the broken file
        name = meta.get("name") if isinstance(meta, dict) else None
        title = f"{name}: study report" if name else "thyromics study report"

    sections = build_sections(study)
    data_dir = output.parent / DATA_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    for sec in sections:
        for fig in sec.figures:
            safe_frame(fig.data).to_csv(REPORT.at(output.parent, "data", name=fig.name),
                                        index=False)
        for name, table in sec.tables.items():
            safe_frame(table).to_csv(REPORT.at(output.parent, "data", name=name), index=False)
    _write_checklist(sections, output.parent, title)

    scripts, script_src = _scripts()
    html = _template().render(
        title=title, sections=sections, version=__version__, study_dir=str(study_dir.resolve()),
        scripts=scripts, script_src=script_src,
        generated=datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return output
