"""Markdown and HTML rendering of :class:`thyromics.stats.table1.Table1`."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from thyromics.stats.table1 import Table1

__all__ = ["footnote", "footnote_parts", "split_column", "to_markdown", "to_html",
           "frame_to_markdown", "FIXED", "NS"]

_SEP = " | "

_TEST_TEXT = {
    "Student t-test": "Student's t-test (equal variances: Levene test, median centre, p ≥ 0.05)",
    "Welch t-test": "Welch's t-test (unequal variances: Levene test, median centre, p < 0.05)",
    "Mann-Whitney U": "Mann-Whitney U test (normal approximation with continuity and tie "
                      "correction)",
    "Mann-Whitney U (exact)": "Mann-Whitney U test, exact (both groups < 50 values, no ties)",
    "one-way ANOVA": "one-way analysis of variance (equal variances: Levene test, median "
                     "centre, p ≥ 0.05)",
    "Welch ANOVA": "Welch's one-way analysis of variance (unequal variances: Levene test, "
                   "median centre, p < 0.05)",
    "Kruskal-Wallis": "Kruskal-Wallis test",
    "chi-square (Yates)": "Pearson's chi-square test with Yates' continuity correction (2 x 2)",
    "chi-square": "Pearson's chi-square test",
    "Fisher exact": "Fisher's exact test (any expected count < {minexp:g})",
    "Fisher exact (Monte Carlo)": "Fisher's exact test by Monte Carlo, 100 000 resamples, "
                                  "seed {seed} (any expected count < {minexp:g}; table larger "
                                  "than 2 x c or too wide to enumerate)",
}

#: Fixed columns of a Table 1; group columns are ``"<group> = <level>"`` (and, when
#: stratified, ``"<by> = <stratum> | ..."``), so no group level can take their place.
FIXED = ("variable", "level", "Overall", "p", "test", "Missing")
NS = " = "


def footnote_parts(t: Table1) -> list[str]:
    """The footnote's sentences: summaries, normality rule, every test used, notes."""
    s = t.settings
    parts = [
        "Continuous variables: mean ± SD when the Shapiro-Wilk test did not reject "
        f"normality (p ≥ {s.alpha_normality:g}) in any group, otherwise median [Q1, Q3]"
        + (" (variables named by the user as non-normal: median [Q1, Q3])"
           if getattr(s, "nonnormal", ()) else "") + ". "
        "Categorical variables: n (%) of non-missing values.",
    ]
    used = [x for x in dict.fromkeys(t.tests["test"].tolist()) if x in _TEST_TEXT]
    if used:
        parts.append("p-values: " + "; ".join(
            f"{name}: " + _TEST_TEXT[name].format(minexp=s.min_expected_for_chi2, seed=s.seed)
            for name in used) + ".")
    if "not tested" in t.tests["test"].tolist():
        parts.append("'not tested': fewer than two groups had values.")
    parts.extend(t.notes)
    return parts


def footnote(t: Table1) -> str:
    """The footnote as one paragraph (:func:`footnote_parts` joined)."""
    return " ".join(footnote_parts(t))


def split_column(c: str, group: str, by: str | None) -> tuple[str | None, str]:
    """``(spanning header or None, column header)`` of a Table 1 column name."""
    if c in FIXED:
        return None, c
    if by is not None and _SEP in c and c.startswith(f"{by}{NS}"):
        stratum, sub = c.split(_SEP, 1)
        return stratum, sub
    if c.startswith(f"{group}{NS}"):
        return group, c[len(group) + len(NS):]
    return None, c


def _md_cell(x: object) -> str:
    return str(x).replace("|", "\\|")


def frame_to_markdown(f) -> str:
    """Any DataFrame as a GitHub Markdown table (floats with 4 significant digits)."""
    def cell(v: object) -> str:
        if isinstance(v, float):
            return "" if v != v else f"{v:.4g}"
        return _md_cell(v)

    lines = ["| " + " | ".join(_md_cell(c) for c in f.columns) + " |",
             "|" + "|".join("---" for _ in f.columns) + "|"]
    for row in f.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def to_markdown(t: Table1) -> str:
    """GitHub Markdown: header, separator, rows; the footnote below."""
    return frame_to_markdown(t.frame) + "\n\n" + footnote(t) + "\n"


_CSS = """
body { font-family: "Helvetica Neue", Arial, sans-serif; margin: 2em; color: #111; }
table { border-collapse: collapse; font-size: 10pt; }
caption { text-align: left; font-weight: bold; font-size: 12pt; margin-bottom: .5em; }
th, td { padding: 3px 10px; text-align: center; white-space: nowrap; }
td.var, td.lvl { text-align: left; }
td.lvl { padding-left: 2em; }
thead tr:first-child th { border-top: 2px solid #000; }
thead tr:last-child th { border-bottom: 1px solid #000; }
tbody tr:last-child td { border-bottom: 2px solid #000; }
tr.nrow td { font-style: italic; }
p.foot { font-size: 9pt; max-width: 60em; }
@media print { body { margin: 0; } }
"""


def to_html(t: Table1, title: str = "Table 1") -> str:
    """A standalone page: a three-rule (booktabs-like) table and its footnote."""
    f = t.frame
    cols = list(f.columns)
    esc = html.escape
    s = t.settings
    spans = [split_column(c, s.group, s.by) for c in cols[2:]]
    top = ['<th rowspan="2" colspan="2"></th>']
    bottom = []
    i = 0
    while i < len(spans):
        label, sub = spans[i]
        if label is None:
            top.append(f'<th rowspan="2">{esc(sub)}</th>')
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j][0] == label:
            bottom.append(f"<th>{esc(spans[j][1])}</th>")
            j += 1
        top.append(f'<th colspan="{j - i}">{esc(label)}</th>')
        i = j
    thead = "<tr>" + "".join(top) + "</tr><tr>" + "".join(bottom) + "</tr>"
    body = []
    for row in f.itertuples(index=False):
        values = list(row)
        var, lvl = values[0], values[1]
        is_level = bool(lvl) and not lvl.startswith(("mean", "median"))
        cls = ' class="nrow"' if var == "n" else ""
        first = (f'<td class="lvl" colspan="2">{esc(str(lvl))}</td>' if is_level
                 else f'<td class="var">{esc(str(var))}</td><td class="var">{esc(str(lvl))}</td>')
        body.append(f"<tr{cls}>" + first
                    + "".join(f"<td>{esc(str(v))}</td>" for v in values[2:]) + "</tr>")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
        f"<table><caption>{esc(title)}</caption><thead>{thead}</thead>\n<tbody>\n"
        + "\n".join(body) + "\n</tbody></table>\n"
        f'<p class="foot">{esc(footnote(t))}</p>\n</body></html>\n'
    )
