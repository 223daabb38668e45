"""The model stage's optimism-corrected bootstrap (issue 14 §2; Harrell; rms::validate).

(a) The stage's path (``fit_and_compare`` -> bootstrap refits of the final model's pipeline
as tasks -> ``optimism.csv``) gives ``rms::validate(lrm, B = 60)``'s numbers on the R
fixture, fed with the bootstrap samples R drew (numpy cannot redraw R's ``sample``). The
registry's ``lr`` is L2-penalised; rms' ``lrm`` is not, so the test swaps in an
unpenalised logistic regression for ``lr``. (b) jobs = 1, jobs = 2 and the cache give
byte-identical files; (c) B = 0 writes nothing; (d) the report prints the table from it.
"""

from __future__ import annotations

import json
import warnings
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from thyromics.evaluate.optimism import bootstrap_indices
from thyromics.models import registry
from thyromics.models._optimism import OPTIMISM_CSV, optimism_validation, write_optimism
from thyromics.models.api import fit_and_compare, run_model_stage
from thyromics.models.pipeline import PipelineSettings

#: No filter or selection: every column reaches the classifier, as in rms' lrm(y ~ x1..x4).
PLAIN = PipelineSettings(tune=False, selector="none", correlation_threshold=None,
                         near_zero_variance=False)


def _mle_lr(seed: int, n_jobs: int, n_trees: int):
    return LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=1000)


@pytest.fixture
def unpenalised_lr(monkeypatch):
    table = dict(registry.CLASSIFIERS)
    table["lr"] = registry.ClassifierSpec("lr", "unpenalised logistic regression", _mle_lr)
    monkeypatch.setattr(registry, "CLASSIFIERS", MappingProxyType(table))


def test_stage_optimism_matches_rms_validate(fixtures_dir, tmp_path, unpenalised_lr):
    ref = json.loads((fixtures_dir / "evaluate" / "corners_ref.json").read_text())["validate"]
    d = pd.read_csv(fixtures_dir / "evaluate" / "data" / "optimism.csv")
    idx = pd.read_csv(fixtures_dir / "evaluate" / "data" / "optimism_idx.csv").to_numpy().T - 1
    table = d.rename(columns={f"x{j}": f"original_firstorder_x{j}" for j in range(1, 5)})
    table.insert(0, "case_id", [f"c{i}" for i in range(len(d))])
    table = table.rename(columns={"y": "label"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_and_compare(table, label="label", models=["lr"], cv=3, settings=PLAIN,
                              importance=())
    frame, summary = optimism_validation(res, indices=list(idx))
    write_optimism(frame, summary, tmp_path)
    got = pd.read_csv(tmp_path / OPTIMISM_CSV).set_index("metric")
    assert (got["B"] == 60).all() and (got["n_boot"] == ref["B"]).all()
    assert (got["n_failed"] == 0).all()
    for ours, theirs in (("dxy", "Dxy"), ("intercept", "Intercept"), ("slope", "Slope"),
                         ("brier", "B_brier")):
        for k_ours, k_r in (("apparent", "index.orig"), ("training", "training"),
                            ("test", "test"), ("optimism", "optimism"),
                            ("corrected", "index.corrected")):
            assert got.loc[ours, k_ours] == pytest.approx(ref[theirs][k_r], abs=1e-6), (ours, k_ours)
    assert got.loc["auc", "corrected"] == pytest.approx(
        ref["Dxy"]["index.corrected"] / 2 + 0.5, abs=1e-6)
    assert json.loads((tmp_path / "run.json").read_text())["optimism"]["B"] == 60


def _grouped_table(n_patients: int = 30, seed: int = 2) -> pd.DataFrame:
    """Two lesions per patient, so that patients (not rows) are resampled."""
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.integers(0, 2, n_patients), 2)
    x = rng.normal(size=(2 * n_patients, 4)) + y[:, None] * np.array([1.0, 0.5, 0.0, 0.0])
    t = pd.DataFrame(x, columns=[f"original_firstorder_f{j}" for j in range(4)])
    t.insert(0, "case_id", [f"c{i}" for i in range(2 * n_patients)])
    t.insert(1, "patient_id", [f"p{i // 2}" for i in range(2 * n_patients)])
    t.insert(2, "label", y)
    return t


def _stage(tmp_path, name: str, *, jobs: int, optimism: int, cache: bool = False):
    path = tmp_path / "features.csv"
    if not path.exists():
        _grouped_table().to_csv(path, index=False)
    out = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_model_stage(path, label="label", models=["lr"], cv=3, seed=5,
                              settings=PipelineSettings(tune=False), out_dir=out,
                              importance=(), harmonize_compare=False, jobs=jobs,
                              cache=cache, optimism=optimism)
    return res, out


@pytest.mark.slow
def test_optimism_is_the_same_for_any_jobs_and_from_the_cache(tmp_path):
    res1, one = _stage(tmp_path, "one", jobs=1, optimism=4)
    _, two = _stage(tmp_path, "two", jobs=2, optimism=4, cache=True)
    _, again = _stage(tmp_path, "two", jobs=2, optimism=4, cache=True)  # served by the cache
    first = (one / OPTIMISM_CSV).read_bytes()
    assert first == (two / OPTIMISM_CSV).read_bytes() == (again / OPTIMISM_CSV).read_bytes()
    tab = pd.read_csv(one / OPTIMISM_CSV)
    assert list(tab["metric"]) == ["auc", "dxy", "intercept", "slope", "brier"]
    assert (tab["resampled"] == "patients").all() and (tab["B"] == 4).all()
    assert np.allclose(tab["corrected"], tab["apparent"] - tab["optimism"])
    run = json.loads((one / "run.json").read_text())["optimism"]
    assert run["B"] == 4 and run["seed"] == 5 and "default_rng" in run["seed_rule"]
    assert set(run["models"]) == {"lr"} and res1.optimism is not None
    # the samples are whole patients, drawn with the study seed
    g = res1.context.groups
    for s in bootstrap_indices(len(g), 4, 5, g):
        counts = pd.Series(g[s]).value_counts()
        assert (counts % 2 == 0).all()


def test_optimism_zero_writes_nothing(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / OPTIMISM_CSV).write_text("stale\n")  # from an earlier run with B > 0
    res, out = _stage(tmp_path, "m", jobs=1, optimism=0)
    assert not (out / OPTIMISM_CSV).exists() and res.optimism is None
    assert "optimism" not in json.loads((out / "run.json").read_text())


def test_report_prints_the_optimism_table(tmp_path):
    from test_report_sources import check_table, parse_tables

    from thyromics.report.build import build_report

    study = tmp_path / "OUT"
    _stage(tmp_path, "OUT/models/radiomics", jobs=1, optimism=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_report(study)
    html = (study / "report.html").read_text(encoding="utf-8")
    tables = {t["attrs"]["data-name"]: t for t in parse_tables(html)}
    t = tables["optimism_radiomics"]
    assert t["attrs"]["data-source"] == "models/radiomics/optimism.csv"
    assert len(t["rows"]) == 5 and "Calibration slope" in html
    assert check_table(study, t) >= 15
    assert "optimism-corrected bootstrap" in html and "B = 3" in html  # the checklist's answer


class _RefusesRepeats(LogisticRegression):
    """A logistic regression whose fit fails on data with repeated rows (every bootstrap)."""

    def fit(self, X, y, sample_weight=None):
        if len(np.unique(np.asarray(X), axis=0)) < len(X):
            raise ValueError("repeated rows")
        return super().fit(X, y, sample_weight)


def test_failed_refits_are_counted_and_named(monkeypatch):
    table = dict(registry.CLASSIFIERS)
    table["lr"] = registry.ClassifierSpec("lr", "refuses repeated rows",
                                         lambda *_: _RefusesRepeats())
    monkeypatch.setattr(registry, "CLASSIFIERS", MappingProxyType(table))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_and_compare(_grouped_table(), label="label", group="patient_id",
                              models=["lr"], cv=3, settings=PLAIN, importance=())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame, summary = optimism_validation(res, 2)
    said = " | ".join(str(w.message) for w in caught)
    assert "2 refit(s) failed" in said and "2 of 2 samples skipped" in said
    assert (frame["n_failed"] == 2).all() and (frame["n_boot"] == 0).all()
    assert frame["corrected"].isna().all() and frame["apparent"].notna().all()
    assert [f["b"] for f in summary["failures"]] == [1, 2]
    assert "repeated rows" in summary["failures"][0]["error"]
