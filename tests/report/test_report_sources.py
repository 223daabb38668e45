"""Every number in a report table equals the stage output it names as its source.

The report is built by the real stages (see ``report_study``). Each table of the page
names its source file (``data-source``) or the files it is computed from
(``data-derived``). For a sourced table, the test reads that file itself and checks
that every row of the table's data (``report_data/<name>.csv``) is a row of the source,
and that every number printed in the HTML row is a number of that row, rounded as
printed. Computed tables are recomputed by hand in ``test_report_build``.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report_study import report_study, steps_study  # noqa: F401  (fixtures)
from thyromics.csvsafe import restore_frame

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class _Tables(HTMLParser):
    """Collects each ``div.table-wrap``: its attributes, header and the text of every cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._row: list[tuple[str, str]] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and "table-wrap" in (a.get("class") or ""):
            self.tables.append({"attrs": a, "header": [], "rows": []})
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            self._tag = tag

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append((self._tag, "".join(self._cell).strip()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            t = self.tables[-1]
            if not t["header"] and all(k == "th" for k, _ in self._row):
                t["header"] = [c for _, c in self._row]
            else:
                t["rows"].append([c for _, c in self._row])
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_tables(html: str) -> list[dict]:
    p = _Tables()
    p.feed(html)
    return p.tables


def _flatten(node: object, prefix: str = "") -> dict[str, str]:
    """JSON as the report's key/value tables give it (written here again, independently)."""
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(node, list):
        if any(isinstance(v, (dict, list)) for v in node):
            return {prefix: json.dumps(node)}
        return {prefix: ", ".join(map(str, node))}
    return {prefix: "" if node is None else str(node)}


def _read(path: Path, text: bool) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if text:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.read_csv(path)


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return str(a) == str(b)
    if pd.isna(a) and pd.isna(b):
        return True
    try:
        return bool(math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12))
    except (TypeError, ValueError):
        return False


def _printed_matches(token: str, values: list) -> bool:
    """``token`` (as printed) is one of ``values`` rounded to the digits it shows."""
    d = Decimal(token)
    half = Decimal(5) * Decimal(10) ** (d.as_tuple().exponent - 1)
    for v in values:
        if isinstance(v, str):
            if token in NUMBER.findall(v):
                return True
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(f) and abs(Decimal(repr(f)) - d) <= half * Decimal("1.000001"):
            return True
    return False


@pytest.fixture(scope="module")
def page(report_study):  # noqa: F811
    html = (report_study / "report.html").read_text(encoding="utf-8")
    return report_study, parse_tables(html)


def test_every_table_names_where_its_numbers_come_from(page):
    _, tables = page
    assert len(tables) > 10
    for t in tables:
        a = t["attrs"]
        assert ("data-source" in a) != ("data-derived" in a), a
        assert a.get("data-name"), a


def check_table(root: Path, t: dict) -> int:
    """Check one sourced table; returns how many printed numbers were compared."""
    source = t["attrs"]["data-source"]
    name = t["attrs"]["data-name"]
    path, _, key = source.partition("#")
    text = path.startswith("table1/")
    data = restore_frame(_read(root / "report_data" / f"{name}.csv", text))
    if key:  # a part of a JSON file: key / value rows
        flat = _flatten(json.loads((root / path).read_text())[key])
        pairs = {str(r[0]): ("" if pd.isna(r[1]) else str(r[1])) for r in data.itertuples(index=False)}
        assert pairs == flat, (name, source)
    else:
        src = _read(root / path, text)
        common = [c for c in data.columns if c in src.columns]
        assert common, (name, list(data.columns))
        for i, row in data.iterrows():
            hit = np.logical_and.reduce([[_same(v, row[c]) for v in src[c]] for c in common])
            assert hit.any(), f"{name} row {i} is not a row of {source}: {row.to_dict()}"
    assert len(t["rows"]) == min(len(data), 200), name
    checked = 0
    for i, cells in enumerate(t["rows"]):
        values = list(data.iloc[i].to_numpy())
        for cell in cells:
            for token in NUMBER.findall(cell):
                assert _printed_matches(token, values), (name, i, cell, token)
                checked += 1
    return checked


def test_every_sourced_number_equals_its_source(page):
    root, tables = page
    sourced = [t for t in tables if t["attrs"].get("data-source")]
    names = {t["attrs"]["data-name"] for t in sourced}
    assert {"comparison_radiomics", "delong_radiomics", "subgroups_radiomics", "table1",
            "excluded_cases", "provenance_versions", "provenance_settings"} <= names
    assert sum(check_table(root, t) for t in sourced) > 200


def test_the_walk_catches_a_changed_number(page):
    """One AUC printed 0.001 off (or more, where that is another number of the row) fails."""
    root, tables = page
    t = next(t for t in tables if t["attrs"].get("data-name") == "comparison_radiomics")
    col = t["header"].index("AUC (95% CI)")
    printed = NUMBER.findall(t["rows"][0][col])[0]
    data = pd.read_csv(root / "report_data" / "comparison_radiomics.csv")
    values = list(data.iloc[0].to_numpy())
    wrong = next(w for k in range(1, 50) if not _printed_matches(w := f"{float(printed) + k / 1000:.3f}", values))
    rows = [list(r) for r in t["rows"]]
    rows[0][col] = rows[0][col].replace(printed, wrong, 1)
    with pytest.raises(AssertionError):
        check_table(root, {**t, "rows": rows})


#: The steps study's block folder and its tables that come from the robustness stage and
#: the models' robust / ComBat steps.
STEPS_BLOCK = "radiomics_clinical"
STEP_TABLES = {f"robust_{STEPS_BLOCK}", f"harmonization_auc_{STEPS_BLOCK}",
               "robustness_least_stable", f"comparison_{STEPS_BLOCK}"}


@pytest.fixture(scope="module")
def steps_page(steps_study):  # noqa: F811
    html = (steps_study / "report.html").read_text(encoding="utf-8")
    return steps_study, parse_tables(html)


def test_step_tables_equal_their_sources(steps_page):
    root, tables = steps_page
    for t in tables:
        assert ("data-source" in t["attrs"]) != ("data-derived" in t["attrs"]), t["attrs"]
    sourced = [t for t in tables if t["attrs"].get("data-source")]
    assert STEP_TABLES <= {t["attrs"]["data-name"] for t in sourced}
    assert "robustness_stable" in {t["attrs"].get("data-name") for t in tables
                                   if t["attrs"].get("data-derived") == "robustness/icc.csv"}
    assert sum(check_table(root, t) for t in sourced) > 100


@pytest.mark.parametrize("name,column", [(f"harmonization_auc_{STEPS_BLOCK}", "AUC without ComBat (95% CI)"),
                                         (f"robust_{STEPS_BLOCK}", "removed")])
def test_the_walk_catches_a_changed_step_number(steps_page, name, column):
    root, tables = steps_page
    t = next(t for t in tables if t["attrs"].get("data-name") == name)
    col = t["header"].index(column)
    printed = NUMBER.findall(t["rows"][0][col])[0]
    values = list(pd.read_csv(root / "report_data" / f"{name}.csv").iloc[0].to_numpy())
    digits = len(printed.partition(".")[2])
    step = 10.0 ** -digits
    wrong = next(w for k in range(1, 50) if not _printed_matches(
        w := f"{float(printed) + k * step:.{digits}f}", values))
    rows = [list(r) for r in t["rows"]]
    rows[0][col] = rows[0][col].replace(printed, wrong, 1)
    with pytest.raises(AssertionError):
        check_table(root, {**t, "rows": rows})

