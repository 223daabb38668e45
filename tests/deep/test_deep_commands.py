"""The dl / segment commands: no heavy imports, and a tiny run through the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest
from _helpers import png_cohort
from conftest import need_module  # noqa: E402


def test_commands_module_imports_nothing_heavy():
    code = ("import sys, thyromics.deep.commands as c; "
            "heavy = [m for m in ('torch', 'monai', 'numpy', 'pandas', 'SimpleITK') if m in sys.modules]; "
            "assert not heavy, heavy; assert c.dl_app and c.segment_app")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture()
def synthetic_manifest(tmp_path):
    """16 PNG images (bright vs dark square lesions) of 8 patients, with masks."""
    return png_cohort(tmp_path)


def test_dl_train_predict_embed_through_the_cli(synthetic_manifest, tmp_path):
    need_module("torch")
    import pandas as pd
    from typer.testing import CliRunner

    from thyromics.deep.commands import dl_app

    runner = CliRunner()
    out = tmp_path / "model"
    r = runner.invoke(dl_app, ["train", str(synthetic_manifest), "--out", str(out), "--network", "cnn",
                               "--network-options", '{"channels": [4, 8]}', "--size", "16", "--epochs", "3",
                               "--batch-size", "4", "--lr", "0.01", "--val-fraction", "0.25", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "validation AUC" in r.output
    r = runner.invoke(dl_app, ["predict", str(out), str(synthetic_manifest), "--out", str(tmp_path / "p.csv"),
                               "--no-progress"])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 16
    r = runner.invoke(dl_app, ["embed", str(out), str(synthetic_manifest), "--out", str(tmp_path / "f.parquet"),
                               "--no-progress"])
    assert r.exit_code == 0, r.output
    feats = pd.read_parquet(tmp_path / "f.parquet")
    assert feats.columns[0] == "case_id" and feats.columns[1] == "deep_pca_1"
    r = runner.invoke(dl_app, ["train", str(synthetic_manifest), "--network", "densnet", "--out",
                               str(tmp_path / "x"), "--no-progress"])
    assert r.exit_code != 0 and "densenet121" in str(r.exception)


def test_write_table_writes_the_table_and_the_skipped_cases_beside_it(tmp_path):
    import pandas as pd

    from thyromics.deep.commands import _write_table

    df = pd.DataFrame({"case_id": ["a", "b"], "probability": [0.25, 0.5]})
    _write_table(df, [("c", "the mask is empty")], tmp_path / "new" / "p.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "new" / "p.csv"), df)
    assert (tmp_path / "new" / "errors.csv").read_text().splitlines() == [
        "case_id,reason", "c,the mask is empty"]
    _write_table(df, [], tmp_path / "f.parquet", parquet=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "f.parquet"), df)
    assert not (tmp_path / "errors.csv").exists()  # no skipped case, no errors table


def test_say_trained_reports_the_best_epoch_its_score_and_the_model_file(tmp_path, capsys):
    from thyromics.deep.commands import _say_trained
    from thyromics.layout import DEEP_MODEL

    _say_trained(7, "Dice", 0.81251, tmp_path)
    assert capsys.readouterr().out == (f"best epoch 7: validation Dice 0.813; model in "
                                       f"{DEEP_MODEL.at(tmp_path, 'model')}\n")
