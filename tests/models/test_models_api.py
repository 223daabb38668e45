"""The model stage end to end: outputs on disk, saved models, predict, the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from thyromics.errors import InputError
from thyromics.models.api import fit_and_compare, run_model_stage
from thyromics.models.blocks import block_columns, resolve_block_sets
from thyromics.models.cv import LeakageWarning
from thyromics.models.persist import IncompatibleModelError, load_model, predict_table
from thyromics.models.pipeline import PipelineSettings

FAST = PipelineSettings(n_estimators=30, tune=False, selector="univariate", k_best=5)


def _table(n: int = 150, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"original_glcm_f{i}" for i in range(10)])
    df["original_shape_Volume"] = rng.normal(size=n)
    df["case_id"] = [f"c{i}" for i in range(n)]
    df["patient_id"] = [f"p{i // 2}" for i in range(n)]
    df["age"] = rng.normal(60, 10, n)
    df["sex"] = rng.choice(["m", "f"], n)
    df["label"] = (df["original_glcm_f0"] + 0.05 * (df["age"] - 60) + rng.normal(size=n) > 0).astype(int)
    df["split"] = np.where(np.arange(n) // 2 % 5 == 0, "external", "train")
    return df


def test_blocks_split_radiomics_and_clinical() -> None:
    df = _table()
    b = block_columns(df, reserved=["label", "split"])
    assert b["clinical"] == ["age", "sex"]
    assert len(b["radiomics"]) == 11 and b["deep"] == []
    sets = resolve_block_sets(["radiomics+clinical"], b)
    assert sets["radiomics+clinical"][-2:] == ["age", "sex"]
    with pytest.raises(InputError, match="Did you mean 'clinical'"):
        resolve_block_sets(["clinicl"], b)
    with pytest.raises(InputError, match="no columns"):
        resolve_block_sets(["deep"], b)


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    path = out / "features.parquet"
    _table().to_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_model_stage(path, label="label", group="patient_id", split="split",
                              blocks=["radiomics", "radiomics+clinical"], models=["lr", "rfq"],
                              cv=3, seed=0, settings=FAST, out_dir=out / "OUT")
    return path, out / "OUT", res


@pytest.mark.slow  # shares a ~10 s study run (module fixture)
def test_stage_writes_the_tables(stage) -> None:
    _, out, res = stage
    comp = pd.read_csv(out / "comparison.csv")
    assert list(comp.columns[:13]) == ["model", "cohort", "n", "auc", "auc_ci_low", "auc_ci_high",
                                       "accuracy", "sensitivity", "specificity", "ppv", "npv",
                                       "f1", "threshold"]
    assert len(comp) == 4 * 2  # 2 models x 2 block sets x (cv, external)
    assert set(comp.cohort) == {"cv", "external"}
    assert (comp.auc_ci_low <= comp.auc).all() and (comp.auc <= comp.auc_ci_high).all()
    pred = pd.read_parquet(out / "predictions.parquet")
    assert {"case_id", "patient_id", "model", "cohort", "fold", "repeat", "y_true",
            "score"} <= set(pred.columns)
    delong = pd.read_csv(out / "delong.csv")
    assert len(delong) == 3 * 2 and delong.model_a.nunique() == 1
    best = comp[comp.cohort == "cv"].sort_values("auc").model_id.iloc[-1]
    assert delong.model_a.iloc[0] == best
    for kind in ("permutation", "vimp", "shap"):
        assert len(pd.read_csv(out / f"importance_{kind}.csv"))
    run = json.loads((out / "run.json").read_text())
    assert run["args"]["models"] == ["lr", "rfq"] and "features_sha256" in run["input"]


@pytest.mark.slow  # shares a ~10 s study run (module fixture)
def test_auc_in_table_matches_predictions(stage) -> None:
    _, out, _ = stage
    comp = pd.read_csv(out / "comparison.csv").set_index(["model_id", "cohort"])
    pred = pd.read_parquet(out / "predictions.parquet")
    for (mid, cohort), part in pred.groupby(["model_id", "cohort"]):
        per_case = part.groupby("case_id").agg(y=("y_true", "first"), s=("score", "mean"))
        col = "auc_pooled" if cohort == "cv" else "auc"  # cv "auc": mean of the fold AUCs
        assert comp.loc[(mid, cohort), col] == pytest.approx(roc_auc_score(per_case.y, per_case.s))
        assert comp.loc[(mid, cohort), "n"] == len(per_case)


@pytest.mark.slow  # shares a ~10 s study run (module fixture)
def test_saved_model_predicts_like_the_study(stage) -> None:
    path, out, res = stage
    mid = "rfq@radiomics+clinical"
    table = pd.read_parquet(path)
    ext = table[table.split == "external"]
    got = predict_table(out / "models" / mid, ext)
    pred = pd.read_parquet(out / "predictions.parquet")
    want = pred[(pred.model_id == mid) & (pred.cohort == "external")].set_index("case_id").score
    assert got.set_index("case_id").score.to_numpy() == pytest.approx(want[got.case_id].to_numpy())
    meta = json.loads((out / "models" / mid / "model.json").read_text())
    assert meta["threshold"] == res.thresholds[mid]
    assert meta["categorical_columns"] == ["sex"]
    assert (got.prediction == (got.score >= meta["threshold"])).all()
    with pytest.raises(InputError, match="lacks 1 column"):
        predict_table(out / "models" / mid, ext.drop(columns=["age"]))


@pytest.mark.slow  # shares a ~10 s study run (module fixture)
def test_incompatible_version_is_refused(stage, tmp_path) -> None:
    _, out, _ = stage
    src = out / "models" / "lr@radiomics"
    dst = tmp_path / "old"
    dst.mkdir()
    (dst / "model.joblib").write_bytes((src / "model.joblib").read_bytes())
    meta = json.loads((src / "model.json").read_text())
    meta["thyromics_version"] = "9.3.0"
    (dst / "model.json").write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModelError, match="thyromics 9.3.0"):
        load_model(dst)


def test_leakage_guard_names_the_label_copy_and_exclude_removes_it() -> None:
    df = _table()
    df["Malignancy_value"] = df["label"] * 4 + 1
    kw = dict(label="label", group="patient_id", blocks=["clinical"], models=["lr"], cv=3,
              importance=())
    with pytest.warns(LeakageWarning, match="Malignancy_value"):
        fit_and_compare(df, settings=FAST, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakageWarning)
        res = fit_and_compare(df, settings=FAST.model_copy(update={"exclude": ("malignancy*",)}), **kw)
    assert res.excluded == ["Malignancy_value"]


def test_patient_in_two_cohorts_is_an_error() -> None:
    df = _table()
    df.loc[2, "split"] = "external"  # patient p1 (rows 2, 3) now in both cohorts
    with pytest.raises(InputError, match="p1"):
        fit_and_compare(df, label="label", group="patient_id", split="split", models=["lr"],
                        settings=FAST, importance=())


def test_cli_model_and_predict(tmp_path) -> None:
    from thyromics.cli import app

    path = tmp_path / "f.csv"
    _table(n=90).to_csv(path, index=False)
    r = CliRunner().invoke(app, ["model", str(path), "--label", "label", "--models", "lr",
                                 "--cv", "3", "--no-tune", "--importance", "",
                                 "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "comparison.csv").exists()
    r = CliRunner().invoke(app, ["predict", str(tmp_path / "out" / "models" / "lr"), str(path),
                                 "-o", str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "p.csv")) == 90
    r = CliRunner().invoke(app, ["model", str(path), "--models", "rqf", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "rfq" in r.output


def test_guard_separation_rule_and_auc_against_sklearn() -> None:
    from thyromics.models.cv import leakage_guard, univariate_auc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 200)
    X = pd.DataFrame({"feat_a": y + 0.01 * rng.normal(size=200),     # separates: AUC 1
                      "feat_b": -y + 0.5 * rng.normal(size=200),     # strong, reversed
                      "feat_c": rng.integers(0, 3, 200).astype(float)})  # ties
    auc = univariate_auc(X, y)
    for c in X.columns:
        assert auc[c] == pytest.approx(roc_auc_score(y, X[c]))
    with pytest.warns(LeakageWarning, match="feat_a"):
        flagged = leakage_guard(X, y, threshold=0.95)
    assert flagged.column.tolist() == ["feat_a"]
    assert leakage_guard(X, y, threshold=0.6, warn=False).column.tolist()[:2] == ["feat_a", "feat_b"]


def test_constant_scores_give_an_infinite_threshold_not_a_crash():
    from thyromics.models.api import _threshold_value

    assert _threshold_value(None) == float("inf") and _threshold_value(0.25) == 0.25


def test_join_tables_adds_a_deep_block(tmp_path):
    import warnings

    import pandas as pd
    import pytest

    from thyromics.errors import InputError
    from thyromics.models.api import join_tables
    from thyromics.models.blocks import block_columns

    table = pd.DataFrame({"case_id": ["a", "b", "c"], "label": [0, 1, 0],
                          "original_glcm_Contrast": [1.0, 2.0, 3.0]})
    pd.DataFrame({"case_id": ["a", "c"], "deep_pca_1": [0.1, 0.3]}).to_parquet(tmp_path / "d.parquet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = join_tables(table, [tmp_path / "d.parquet"])
    assert any("optimistic" in str(w.message) for w in caught)
    assert out["deep_pca_1"].tolist()[0] == 0.1 and pd.isna(out["deep_pca_1"][1])
    assert block_columns(out, reserved=["label"])["deep"] == ["deep_pca_1"]
    pd.DataFrame({"case_id": ["x"], "deep_pca_2": [1.0]}).to_parquet(tmp_path / "e.parquet")
    with pytest.raises(InputError, match="none of its case_id"):
        join_tables(table, [tmp_path / "e.parquet"])


def test_constrained_threshold_is_chosen_on_cv_and_carried():
    from thyromics.evaluate.thresholds import constrained

    settings = FAST.model_copy(update={"threshold": "constrained"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_and_compare(_table(), label="label", group="patient_id", split="split",
                              blocks=["radiomics"], models=["lr"], cv=3, seed=0,
                              settings=settings, importance=())
    cv = res.predictions[res.predictions.cohort == "cv"]
    oof = cv.groupby("case_id").agg(y=("y_true", "first"), s=("score", "mean"))
    expected = constrained(oof.y.to_numpy(), oof.s.to_numpy())
    thresholds = res.comparison.set_index("cohort").threshold
    assert res.thresholds["lr"] == pytest.approx(expected)  # the cv row uses per-fold ones
    assert thresholds["external"] == pytest.approx(expected)
