"""The table1 / logistic commands end to end, on the fixtures and the real manifests.

R references for LIDC / DDTI: tests/fixtures/stats/real_ref.json (make_fixtures.R).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from thyromics.stats import commands
from thyromics.stats.table1 import format_p, table1

app = typer.Typer()
app.command("table1")(commands.table1)
app.command("logistic")(commands.logistic)
runner = CliRunner()


@pytest.fixture(scope="module")
def real_ref(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "stats" / "real_ref.json").read_text())


def _head_p(frame: pd.DataFrame, var: str) -> str:
    rows = frame[(frame["variable"] == var)]
    return rows.iloc[0]["p"]


def test_commands_module_is_light():
    code = ("import sys, thyromics.stats.commands; "
            "print(any(m in sys.modules for m in ('pandas', 'numpy', 'scipy', 'statsmodels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_table1_command_lidc(lidc_dir, real_ref, tmp_path):
    out = tmp_path / "t1.csv"
    res = runner.invoke(app, ["table1", str(lidc_dir / "cases.csv"), "--group", "label",
                              "--vars", "diameter_mm,Texture,Calcification",
                              "--vars", "Subtlety_value", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "Table 1 by label" in res.output and "Mann-Whitney" in res.output
    t = pd.read_csv(out, dtype=str, keep_default_na=False)
    r = real_ref["lidc"]
    assert _head_p(t, "diameter_mm") == format_p(r["diameter_mm"]["wilcox_p"])
    assert _head_p(t, "Texture") == format_p(r["Texture"]["fisher_p"]) == "0.008"
    assert t.loc[t["variable"] == "Texture", "test"].iloc[0] == "Fisher exact"
    assert t.loc[t["variable"] == "Subtlety_value", "test"].iloc[0] == "chi-square"
    counts = np.array(r["Calcification"]["counts"])
    row = t[(t["variable"] == "Calcification") & (t["level"] == "Solid")].iloc[0]
    i = r["Calcification"]["levels"].index("Solid")
    assert row["label = 0"].split()[0] == str(counts[i, 0]) and row["label = 1"].split()[0] == str(counts[i, 1])


def test_table1_api_lidc_ddti_pvalues_match_r(lidc_dir, ddti_dir, real_ref):
    lidc = pd.read_csv(lidc_dir / "cases.csv")
    t = table1(lidc, group="label",
               variables=["diameter_mm", "Texture", "Calcification", "Subtlety_value"])
    p = t.tests.set_index("variable")["p"]
    r = real_ref["lidc"]
    assert p["diameter_mm"] == pytest.approx(r["diameter_mm"]["wilcox_p"], rel=1e-6)
    assert p["Texture"] == pytest.approx(r["Texture"]["fisher_p"], rel=1e-6)
    assert p["Calcification"] == pytest.approx(r["Calcification"]["fisher_p"], rel=1e-6)
    assert p["Subtlety_value"] == pytest.approx(r["Subtlety_value"]["chisq_p"], rel=1e-6)
    ddti = pd.read_csv(ddti_dir / "cases.csv", dtype={"tirads": str})
    t = table1(ddti, group="label", variables=["tirads"])
    assert t.tests["p"].item() == pytest.approx(real_ref["ddti"]["tirads"]["fisher_p"], rel=1e-6)
    assert any("170 rows with missing 'label'" in n for n in t.notes)


def test_table1_command_ddti_html_and_md(ddti_dir, tmp_path):
    for ext in ("html", "md"):
        out = tmp_path / f"t1.{ext}"
        res = runner.invoke(app, ["table1", str(ddti_dir / "cases.csv"), "-g", "label",
                                  "--vars", "tirads", "-o", str(out)])
        assert res.exit_code == 0, res.output
        text = out.read_text()
        assert "Fisher" in text and "4a" in text


def test_table1_command_by_cohort(fixtures_dir, tmp_path):
    out = tmp_path / "t1.html"
    res = runner.invoke(app, ["table1", str(fixtures_dir / "stats" / "table1_data.csv"),
                              "--group", "outcome", "--by", "cohort", "--vars", "age,stage",
                              "--nonnormal", "age", "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "cohort = external" in html and "median [IQR]" in html


def test_table1_command_bad_column(fixtures_dir):
    res = runner.invoke(app, ["table1", str(fixtures_dir / "stats" / "table1_data.csv"),
                              "--group", "outcom"])
    assert res.exit_code == 2
    assert "Did you mean 'outcome'" in res.output


def test_logistic_command_matches_r(fixtures_dir, tmp_path):
    ref = json.loads((fixtures_dir / "stats" / "logistic_ref.json").read_text())
    out = tmp_path / "mv.csv"
    res = runner.invoke(app, ["logistic", str(fixtures_dir / "stats" / "logistic_data.csv"),
                              "--outcome", "y", "-x", "x1,x2", "-x", "cat3", "-x", "bin",
                              "--multivariable", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "AIC" in res.output
    t = pd.read_csv(out)
    assert t["OR"].to_numpy() == pytest.approx(ref["multivariable"]["OR"], rel=1e-6)
    assert t["ci_high"].to_numpy() == pytest.approx(ref["multivariable"]["ci_high"], rel=1e-6)
    res = runner.invoke(app, ["logistic", str(fixtures_dir / "stats" / "logistic_data.csv"),
                              "-y", "y", "-x", "cat3", "--reference", "cat3=low",
                              "-o", str(tmp_path / "uv.md")])
    assert res.exit_code == 0, res.output
    assert "cat3[high]" in (tmp_path / "uv.md").read_text()


def test_logistic_command_reports_separation(fixtures_dir):
    res = runner.invoke(app, ["logistic", str(fixtures_dir / "stats" / "separation_data.csv"),
                              "-y", "y_q", "-x", "noise,grp", "--multivariable"])
    assert res.exit_code == 0, res.output
    assert "Quasi-complete separation" in res.output and "Firth" in res.output
