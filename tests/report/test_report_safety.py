"""The report runs no foreign script: Table 1 from its CSV, hash-only script CSP, safe CSVs."""

from __future__ import annotations

import pytest
import base64
import hashlib
import json
import re

import pandas as pd

from thyromics.report.build import build_report
from thyromics.stats.table1 import table1

from report_study import copy_study, report_study  # noqa: F401  (fixture)

ATTACK = "<svg/onload=alert(1)>"


def _csp(html: str) -> str:
    return re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html).group(1)


def _section(html: str, sid: str) -> str:
    start = html.index(f'<section id="{sid}"')
    return html[start:html.index("</section>", start)]


@pytest.mark.slow
def test_table1_html_on_disk_never_reaches_the_report(report_study, tmp_path):  # noqa: F811
    root = copy_study(report_study, tmp_path / "OUT")
    (root / "table1" / "table1.html").write_text(f"<table><tr><td>{ATTACK}</td></tr></table>")
    frame = pd.read_csv(root / "table1" / "table1.csv", dtype=str, keep_default_na=False)
    frame.loc[1, "variable"] = ATTACK  # a variable or a group named like markup: shown as text
    frame = frame.rename(columns={frame.columns[2]: ATTACK})
    frame.to_csv(root / "table1" / "table1.csv", index=False)
    html = build_report(root).read_text()
    assert "<svg" not in html and "onload=alert(1)>" not in html
    assert "&lt;svg/onload=alert(1)&gt;" in _section(html, "table1")


def test_only_an_html_table1_is_not_shown(tmp_path):
    (tmp_path / "table1").mkdir()
    (tmp_path / "table1" / "table1.html").write_text(f"<p>{ATTACK}</p><script>alert(2)</script>")
    html = build_report(tmp_path).read_text()
    sec = _section(html, "table1")
    assert 'data-status="not run"' in sec and "never from an HTML file" in sec
    assert "<svg" not in html and "alert(" not in html


def test_script_policy_allows_exactly_the_report_scripts(report_study):  # noqa: F811
    html = (report_study / "report.html").read_text()  # as `thyromics run` wrote it
    csp = _csp(html)
    script_src = re.search(r"script-src ([^;]*)", csp).group(1).split()
    assert "'unsafe-inline'" not in csp.split("style-src")[0] + " ".join(script_src)
    assert all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]+=*'", s) for s in script_src), script_src
    bodies = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert len(bodies) == len(script_src) == 2
    for attrs, text in bodies:  # what a browser hashes: the exact text between the tags
        assert attrs == ""
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "default-src 'none'" in csp and "base-uri 'none'" in csp


def test_real_table1_from_the_stage_keeps_its_strings_and_footnote(tmp_path, fixtures_dir):
    data = pd.read_csv(fixtures_dir / "stats" / "table1_data.csv")
    t = table1(data, group="outcome", variables=["age", "sex"])
    (tmp_path / "table1").mkdir()
    t.to_csv(tmp_path / "table1" / "table1.csv")
    meta = json.loads((tmp_path / "table1" / "table1.json").read_text())
    assert meta["footnote"] == t.footnote() and meta["settings"]["group"] == "outcome"
    sec = _section(build_report(tmp_path).read_text(), "table1")
    assert 'data-status="ok"' in sec and "<th>outcome = 0</th>" in sec
    assert "<td>1.000</td>" in sec  # the p-value as the stage printed it, not 1.0
    assert "Shapiro-Wilk" in sec  # the footnote


@pytest.mark.slow
def test_report_data_csvs_neutralise_formulas_not_numbers(report_study, tmp_path):  # noqa: F811
    root = copy_study(report_study, tmp_path / "OUT")
    errors = root / "features" / "features.errors.csv"
    frame = pd.read_csv(errors)
    frame.loc[0, "error"] = '=HYPERLINK("http://evil.example","x")'
    frame.loc[1, "case_id"] = "@SUM(1)"
    frame.to_csv(errors, index=False)
    build_report(root)
    data = root / "report_data"
    text = (data / "excluded_cases.csv").read_text()
    assert "'=HYPERLINK" in text and "'@SUM(1)" in text
    assert not re.search(r"(^|,)[=@]", text, re.M)
    delong = pd.read_csv(root / "models" / "radiomics" / "delong.csv")
    negative = next(v for v in delong[["auc_diff", "ci_low", "z"]].to_numpy().ravel() if v < 0)
    text = (data / "delong_radiomics.csv").read_text()
    assert repr(float(negative)) in text and "'-" not in text  # numbers stay numbers
