"""`predict` on raw cases extracts them with the model's own settings and gives the same
scores as predicting from the feature table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.features.extract import extract_cohort
from thyromics.features.presets import get_preset
from thyromics.models.api import read_feature_table, run_model_stage
from thyromics.models.persist import predict_table
from thyromics.models.pipeline import PipelineSettings
from thyromics.models.predict import is_manifest, predict_cases
from thyromics.study.synthetic import SyntheticSettings, make_cohort


@pytest.mark.slow
def test_predict_from_manifest_equals_predict_from_table(tmp_path):
    manifest = make_cohort(tmp_path / "data", "us", SyntheticSettings(n_patients=16, seed=2))
    settings = get_preset("us").replace(log_sigmas=(), wavelet=False)
    features = tmp_path / "features.parquet"
    extract_cohort(manifest, settings, features, jobs=1)
    run_model_stage(features, label="label", group="patient_id", split="split",
                    blocks=["radiomics", "clinical"], models=["lr"], cv=3, seed=0,
                    settings=PipelineSettings(tune=False, selector="univariate", k_best=5),
                    out_dir=tmp_path / "models", importance=())
    model_dir = next((tmp_path / "models" / "models").iterdir())
    frame = pd.read_csv(manifest)
    new = frame[frame.split == "external"].copy()
    for col in ("image", "mask"):
        new[col] = [str(manifest.parent / p) for p in new[col]]
    new_csv = tmp_path / "new_cases.csv"
    new.to_csv(new_csv, index=False)
    assert is_manifest(new_csv) and not is_manifest(features)

    from_raw, errors = predict_cases(model_dir, new_csv, work_dir=tmp_path / "pred", jobs=1)
    table = read_feature_table(features)
    from_table = predict_table(model_dir, table[table.split == "external"])
    assert errors == []
    assert list(from_raw.case_id) == list(from_table.case_id)
    np.testing.assert_allclose(from_raw.score, from_table.score, rtol=1e-12)
    assert (from_raw.threshold == from_table.threshold.iloc[0]).all()
