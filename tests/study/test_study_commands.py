"""`thyromics run` on a study YAML: clear errors, warnings collected in a log."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from thyromics.cli import app


def test_run_refuses_a_bad_study_file(tmp_path):
    (tmp_path / "s.yaml").write_text("cases: x.csv\nmodel:\n  modls: [lr]\n")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "model.modls" in res.output


def test_warnings_are_collected_in_a_log(tmp_path):
    import warnings

    from thyromics.study.commands import _collect_warnings

    with _collect_warnings(tmp_path):
        warnings.warn("something odd", UserWarning)
    assert "something odd" in (tmp_path / "warnings.log").read_text()


@pytest.mark.slow
def test_run_without_a_split_column_cross_validates_every_case(tmp_path):
    """A manifest with no split column (DDTI, LIDC): every case is training data for the
    cross-validation; the study must not stop at the model step."""
    import pandas as pd

    from thyromics.study.synthetic import SyntheticSettings, make_cohort

    manifest = make_cohort(tmp_path / "data", "us", SyntheticSettings(n_patients=24))
    pd.read_csv(manifest).drop(columns=["split"]).to_csv(manifest, index=False)
    (tmp_path / "s.yaml").write_text(
        f"cases: {manifest}\nextract:\n  preset: us\nmodel:\n  models: [lr]\n"
        "  blocks: [radiomics]\n  cv: 3\n  importance: []\ndeep:\n  enabled: false\n"
        "report: false\n")
    res = CliRunner().invoke(app, ["run", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    comp = pd.read_csv(next((tmp_path / "out").rglob("comparison.csv")))
    assert comp["cohort"].tolist() == ["cv"]
    assert comp["n"].iloc[0] == len(pd.read_csv(manifest))
