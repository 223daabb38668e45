"""`thyromics run` on a study YAML: clear errors, warnings collected in a log."""

from __future__ import annotations

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
