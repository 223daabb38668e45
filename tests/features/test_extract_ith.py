"""`extract --ith` adds the heterogeneity block as family `ith` columns."""

from __future__ import annotations

import pandas as pd
import pytest

from thyromics.features.catalogue import catalogue
from thyromics.features.extract import extract_cohort, read_features
from thyromics.features.presets import get_preset
from thyromics.study.synthetic import SyntheticSettings, make_cohort


@pytest.mark.slow
def test_extract_with_ith_block(tmp_path):
    manifest = make_cohort(tmp_path / "d", "ct", SyntheticSettings(n_patients=1, seed=4))
    frame = pd.read_csv(manifest).head(1)
    frame.to_csv(manifest, index=False)
    s = extract_cohort(manifest, get_preset("seed003_ct").replace(label=1), tmp_path / "f.parquet",
                       jobs=1, ith=True)
    assert s.n_ok == 1, s.errors
    table, prov = read_features(tmp_path / "f.parquet")
    cat = catalogue(prov["columns"]["features"])
    ith_cols = cat[cat.family == "ith"].column.tolist()
    assert "ith_ITHscore3D_seed003" in ith_cols
    assert sum(c.startswith("iTED_") for c in ith_cols) == 93
    assert 0 <= table.loc[0, "ith_ITHscore3D_seed003"] <= 1
    assert len(cat[cat.family != "ith"]) == 107 and prov["ith"] is True
