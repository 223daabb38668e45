"""Real data (LIDC-IDRI semantic ratings): the guard catches the label copies, and
grouped cross-validation runs on the radiologists' ratings as a clinical block."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from thyromics.models.api import fit_and_compare
from thyromics.models.cv import LIDC_LABEL_PATTERNS, LeakageWarning, leakage_guard
from thyromics.models.pipeline import PipelineSettings

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def lidc_table(lidc_dir) -> pd.DataFrame:
    from thyromics.io.manifest import read_manifest

    m = read_manifest(lidc_dir / "cases.csv", check_files=False)
    clin = m.clinical_frame()
    keep = ["diameter_mm"] + [c for c in clin.columns if c.endswith("_value")
                              and not c.startswith("Diagnosis")]  # Malignancy_value kept on purpose
    table = clin[keep].reset_index()
    table["patient_id"] = [c.patient_id for c in m.cases]
    table["label"] = [c.label for c in m.cases]
    return table


def test_guard_warns_on_malignancy_rating(lidc_table) -> None:
    y = lidc_table["label"].to_numpy()
    with pytest.warns(LeakageWarning, match="Malignancy_value"):
        flagged = leakage_guard(lidc_table.drop(columns=["case_id", "patient_id", "label"]), y)
    assert "Malignancy_value" in set(flagged.column)
    assert "diameter_mm" not in set(flagged.column)


@pytest.mark.slow
def test_lr_and_rf_with_grouped_cv_on_semantic_ratings(lidc_table) -> None:
    settings = PipelineSettings(exclude=LIDC_LABEL_PATTERNS, n_estimators=60, tune=False,
                                selector="none")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.simplefilter("error", LeakageWarning)  # excluded: no leak left to warn about
        res = fit_and_compare(lidc_table, label="label", group="patient_id",
                              blocks=["clinical"], models=["lr", "rf"], cv=5, seed=0,
                              settings=settings, importance=())
    assert res.excluded == ["Malignancy_value"]
    assert "Malignancy_value" not in res.models["lr"].columns
    cv = res.comparison[res.comparison.cohort == "cv"].set_index("model")
    # the ratings (size, spiculation, lobulation ...) carry real but imperfect signal
    assert ((cv.auc > 0.75) & (cv.auc < 0.97)).all(), cv.auc
    assert (cv.n == len(lidc_table)).all()
    pred = res.predictions[res.predictions.cohort == "cv"]
    assert (pred.groupby(["model", "patient_id"]).fold.nunique() == 1).all()


def test_manifest_clinical_columns_join_on_case_id(lidc_dir, lidc_table) -> None:
    from thyromics.errors import InputError
    from thyromics.models.api import join_clinical

    base = lidc_table[["case_id", "patient_id", "label"]].iloc[::-1].reset_index(drop=True)
    joined = join_clinical(base, lidc_dir / "cases.csv")
    raw = pd.read_csv(lidc_dir / "cases.csv").set_index("case_id")
    assert len(joined) == len(base)
    assert (joined.set_index("case_id")["Margin"] == raw.loc[joined.case_id, "Margin"]).all()
    bad = base.assign(case_id=base.case_id + "_x").head(3)
    with pytest.raises(InputError, match="not in"):
        join_clinical(bad, lidc_dir / "cases.csv")
