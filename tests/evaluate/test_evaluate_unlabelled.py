"""Unlabelled rows in a predictions file are left out and counted, not fatal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.evaluate.api import evaluate_file
from thyromics.evaluate.roc import auc


def test_unlabelled_rows_excluded(tmp_path):
    frame = pd.DataFrame({"y": [0, 1, 0, 1, np.nan, 1, 0, np.nan],
                          "s": [0.1, 0.8, 0.4, 0.35, 0.9, 0.7, 0.2, 0.1]})
    frame.to_csv(tmp_path / "p.csv", index=False)
    out = evaluate_file(tmp_path / "p.csv", truth="y", scores=["s"])
    assert out["n_unlabelled_excluded"] == 2
    known = frame.dropna()
    assert out["scores"]["s"]["n"] == 6
    assert out["scores"]["s"]["auc"] == pytest.approx(auc(known.y.to_numpy(), known.s.to_numpy()))
