"""Bad inputs of `model` and `predict`: text labels, unusable columns in new cases, repeated ids."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.errors import InputError, ThyromicsWarning
from thyromics.models._inputs import used_inputs
from thyromics.models.api import fit_and_compare, run_model_stage
from thyromics.models.persist import load_model, predict_table
from thyromics.models.pipeline import PipelineSettings

FAST = PipelineSettings(n_estimators=30, tune=False, selector="univariate", k_best=3)
MODEL_ARGS = ["--models", "lr", "--cv", "3", "--no-tune", "--selector", "univariate",
              "--importance", ""]


def _table(n: int = 90, seed: int = 0) -> pd.DataFrame:
    """f0 and f1 carry the label; f2..f7 are noise."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"original_glcm_f{i}" for i in range(8)])
    df["case_id"] = [f"c{i}" for i in range(n)]
    df["patient_id"] = [f"p{i}" for i in range(n)]
    signal = 2 * df["original_glcm_f0"] + df["original_glcm_f1"] + rng.normal(size=n)
    df["label"] = (signal > 0).astype(int)
    return df


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved lr model using 3 of the 8 columns, and the table it was trained on."""
    tmp = tmp_path_factory.mktemp("inputs")
    _table().to_csv(tmp / "f.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_model_stage(tmp / "f.csv", label="label", models=["lr"], cv=3, settings=FAST,
                        importance=(), out_dir=tmp / "out")
    return tmp / "out" / "models" / "lr", _table()


def _used(model_dir) -> list[str]:
    pipe, meta = load_model(model_dir)
    return used_inputs(pipe, meta["numeric_columns"], meta["categorical_columns"])


@pytest.mark.parametrize(("value", "found"), [
    (np.nan, "'original_glcm_f0' is empty in all 90 case(s)"),
    ("n.d.", "'original_glcm_f0' holds text where numbers are expected in 90 case(s): 'n.d.'"),
])
def test_predict_refuses_a_used_column_that_is_empty_or_text(saved, tmp_path, value, found):
    model_dir, table = saved
    assert "original_glcm_f0" in _used(model_dir)
    new = table.assign(original_glcm_f0=value)
    new.to_csv(tmp_path / "new.csv", index=False)
    r = CliRunner().invoke(app, ["predict", str(model_dir), str(tmp_path / "new.csv"),
                                 "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 2
    assert found in r.output and "Every case would get the same imputed value" in r.output
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(InputError, match="original_glcm_f0"):  # the API refuses, not only the CLI
        predict_table(model_dir, new)


def test_predict_text_in_some_cases_is_refused_and_empty_cells_are_imputed(saved):
    model_dir, table = saved
    some_text = table.astype({"original_glcm_f1": object})
    some_text.loc[[3, 7], "original_glcm_f1"] = "error"
    with pytest.raises(InputError, match=r"'original_glcm_f1' holds text .* in 2 case\(s\): 'error'"):
        predict_table(model_dir, some_text)
    holes = table.copy()
    holes.loc[[3, 7], "original_glcm_f0"] = np.nan
    out = predict_table(model_dir, holes)
    assert np.isfinite(out.score).all() and out.score.nunique() == len(holes)
    np.testing.assert_allclose(out.score.drop([3, 7]), predict_table(model_dir, table).score.drop([3, 7]))


def test_predict_ignores_empty_columns_the_model_does_not_use(saved):
    model_dir, table = saved
    unused = [c for c in table.columns if c.startswith("original_") and c not in _used(model_dir)]
    assert unused
    out = predict_table(model_dir, table.assign(**{unused[0]: np.nan}))
    assert len(out) == len(table)


def test_predict_warns_on_repeated_case_ids(saved, tmp_path):
    model_dir, table = saved
    pd.concat([table.iloc[:5], table.iloc[:3]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.warns(ThyromicsWarning, match=r"3 case_id value\(s\) appear more than once among the "
                                              r"8 new cases, e\.g\. \['c0', 'c1', 'c2'\]"):
        r = CliRunner().invoke(app, ["predict", str(model_dir), str(tmp_path / "dup.csv"),
                                     "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 8


def test_model_text_labels_need_positive(tmp_path):
    df = _table()
    df["label"] = np.where(df.label == 1, "Malignant", "benign")  # sorts as Malignant < benign
    df.to_csv(tmp_path / "s.csv", index=False)
    run = lambda *extra: CliRunner().invoke(  # noqa: E731
        app, ["model", str(tmp_path / "s.csv"), *MODEL_ARGS, *extra, "-o", str(tmp_path / "out")])
    r = run()
    assert r.exit_code == 2
    assert ("label column 'label': expected binary labels 0/1, found non-numeric values "
            "['Malignant', 'benign']. Name the positive class with --positive LABEL") in r.output
    r = run("--positive", "malignant")
    assert r.exit_code == 2
    assert "positive class 'malignant' is not one of its labels ['Malignant', 'benign']" in r.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = run("--positive", "Malignant")
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "out" / "models" / "lr" / "model.json").read_text())
    assert meta["positive_class"] == "Malignant"
    pred = pd.read_parquet(tmp_path / "out" / "predictions.parquet").drop_duplicates("case_id")
    truth = df.set_index("case_id").loc[pred.case_id, "label"]
    np.testing.assert_array_equal(pred.y_true, (truth == "Malignant").astype(int))


@pytest.mark.parametrize(("labels", "positive", "expected"), [
    ([0, 1], None, 1), ([False, True], None, True), ([1, 2], 2, 2), (["no", "yes"], "yes", "yes")])
def test_model_labels_accepted(labels, positive, expected):
    df = _table()
    df["label"] = np.where(df.label == 1, labels[1], labels[0])
    if isinstance(labels[0], bool):
        df["label"] = df["label"].astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_and_compare(df, label="label", group="patient_id", models=["lr"], cv=3,
                              settings=FAST, importance=(), positive=positive)
    assert res.models["lr"].positive_class == expected
    assert res.comparison.auc.iloc[0] > 0.8  # the positive class is the one the signal points to


def test_model_other_numeric_labels_need_positive():
    df = _table().assign(label=lambda d: d.label + 1)  # 1 / 2
    with pytest.raises(InputError, match=r"found other values \[2\.0\] .* Name the positive class"):
        fit_and_compare(df, label="label", models=["lr"], settings=FAST, importance=())
    with pytest.raises(InputError, match=r"expected exactly two labels, found 3: \[1, 2, 3\]"):
        fit_and_compare(df.assign(label=np.arange(len(df)) % 3 + 1), label="label", models=["lr"],
                        settings=FAST, importance=(), positive=2)
