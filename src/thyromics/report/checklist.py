"""The reporting checklist: what CLEAR, METRICS and TRIPOD+AI ask, answered from the study.

Reporting standards covered (topics, not the full wording of each item):

* CLEAR, CheckList for EvaluAtion of Radiomics research: Kocak B. et al., Insights into
  Imaging 14:75 (2023), 58 items;
* METRICS, METhodological RadiomICs Score: Kocak B. et al., Insights into Imaging 15:8
  (2024);
* TRIPOD+AI: Collins G.S. et al., BMJ 385:e078378 (2024).

Each topic that the pipeline can answer from its own files is answered with the value
read from the stage that wrote it and the report section that shows it. A topic the
study did not run says so (status ``not run``) with what would answer it. Topics only
the authors can answer (ethics, eligibility, the reference standard ...) are listed with
status ``to complete``. Item numbers are not given: they differ between checklist
versions and the topic names the item to look up; the ``checklists`` column says which
of the three standards ask about it.

The topics are listed in :mod:`thyromics.report._checklist_topics` and answered by
:mod:`thyromics.report._checklist_answers`; this module makes the rows, the report section
and the Markdown; the report writes them beside itself as ``reporting_checklist.csv`` and
``reporting_checklist.md``.
"""

from __future__ import annotations

import pandas as pd

from thyromics.layout import REPORT
from thyromics.report._checklist_answers import Facts
from thyromics.report._checklist_topics import AUTHOR_TOPICS, PIPELINE_TOPICS
from thyromics.report._study import Study

__all__ = ["checklist_rows", "checklist_markdown", "CHECKLIST_CSV", "CHECKLIST_MD", "COLUMNS",
           "STATUSES", "REFERENCES"]

#: File names of the checklist written beside the report.
CHECKLIST_CSV: str = REPORT.name("checklist_csv")
CHECKLIST_MD: str = REPORT.name("checklist_md")
#: Columns of the checklist table.
COLUMNS: tuple[str, ...] = REPORT.columns("checklist_csv")
#: ``from the study``: answered from a stage's files; ``not run``: the pipeline can answer
#: it but the study did not run that step; ``to complete``: only the authors can answer.
STATUSES: tuple[str, ...] = ("from the study", "not run", "to complete")
REFERENCES: tuple[str, ...] = (
    "CLEAR: Kocak B, et al. CheckList for EvaluAtion of Radiomics research (CLEAR). "
    "Insights Imaging 2023;14:75.",
    "METRICS: Kocak B, et al. METhodological RadiomICs Score (METRICS). Insights Imaging 2024;15:8.",
    "TRIPOD+AI: Collins GS, et al. TRIPOD+AI statement. BMJ 2024;385:e078378.",
)


def _row(topic: str, checklists: str, answer: str | None, section: str, *,
         missing: str = "") -> dict:
    if answer is None:
        return {"topic": topic, "checklists": checklists, "status": "not run",
                "answer": missing, "section": section}
    return {"topic": topic, "checklists": checklists, "status": "from the study",
            "answer": answer, "section": section}


def checklist_rows(study: Study) -> pd.DataFrame:
    """Every checklist topic with its status, answer and report section (``COLUMNS``)."""
    facts = Facts(study)
    rows = [_row(topic, lists, fn(facts), section, missing=f"Not run: {what}.")
            for topic, lists, fn, section, what in PIPELINE_TOPICS]
    rows += [{"topic": topic, "checklists": lists, "status": "to complete", "answer": what,
              "section": ""} for topic, lists, what in AUTHOR_TOPICS]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def checklist_markdown(rows: pd.DataFrame, title: str) -> str:
    """The checklist as a Markdown document (for a manuscript's supplement)."""
    def cell(text: object) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = [f"# Reporting checklist: {title}", "",
             "Answered from the study's own files by thyromics; rows marked 'to complete' need "
             "the authors. Item numbers are not given: look up the topic in each checklist.", "",
             "| topic | checklists | status | answer | report section |", "|---|---|---|---|---|"]
    lines += [f"| {cell(r.topic)} | {cell(r.checklists)} | {cell(r.status)} | {cell(r.answer)} | "
              f"{('#' + r.section) if r.section else ''} |" for r in rows.itertuples(index=False)]
    lines += ["", "References:", ""] + [f"- {ref}" for ref in REFERENCES]
    return "\n".join(lines) + "\n"


def checklist_section(study: Study):
    """The "Reporting checklist" section: every topic with its answer and a link to its section."""
    from markupsafe import Markup, escape

    from thyromics.report._html import Section, note

    sec = Section("checklist", "Reporting checklist")
    rows = checklist_rows(study)
    sec.tables["checklist"] = rows
    done = rows["status"].eq("from the study")
    if not done.any():
        sec.add(note("No stage output to answer from: run the study first (`thyromics run`)."))
    sec.add(note(f"{int(done.sum())} topics answered from the study's files, "
                 f"{int(rows['status'].eq('not run').sum())} not run, "
                 f"{int(rows['status'].eq('to complete').sum())} to complete by the authors. "
                 "Item numbers are not given: look up each topic in the checklist you submit "
                 "(CLEAR, METRICS, TRIPOD+AI)."))
    head = "".join(f"<th>{escape(c)}</th>" for c in ("topic", "checklists", "status", "answer", "section"))
    body = []
    for r in rows.itertuples(index=False):
        link = (Markup('<a href="#{0}">{0}</a>').format(r.section) if r.section else "")
        cls = escape(r.status.replace(" ", "-"))
        body.append(Markup(f'<tr class="status-{cls}"><td>{escape(r.topic)}</td><td>{escape(r.checklists)}</td>'
                           f"<td>{escape(r.status)}</td><td>{escape(r.answer)}</td><td>{link}</td></tr>"))
    table = Markup(f'<div class="table-wrap" data-derived="study.json, the stage files" data-name="checklist">'
                   f'<table class="data checklist"><thead><tr>{head}</tr></thead><tbody>'
                   + "".join(body) + "</tbody></table></div>")
    sec.add(table, content=bool(done.any()))
    sec.add(Markup('<p class="caption">Also written beside the report as '
                   f"<code>{escape(CHECKLIST_CSV)}</code> and <code>{escape(CHECKLIST_MD)}</code>. "
                   + " ".join(escape(r) for r in REFERENCES) + "</p>"))
    return sec
