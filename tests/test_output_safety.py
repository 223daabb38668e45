"""Stage outputs: an unwritable folder is refused before the work, and a second run
writing the same outputs is refused instead of mixing two runs' tables."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.models.api import run_model_stage
from thyromics.models.pipeline import PipelineSettings
from thyromics.provenance import output_lock


def _table(path):
    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    frame = pd.DataFrame({"case_id": [f"c{i}" for i in range(40)], "patient_id": range(40),
                          "label": y, "original_firstorder_x": rng.normal(size=40) + y})
    frame.to_csv(path, index=False)
    return path


def test_model_stage_refuses_an_unwritable_folder_before_fitting(tmp_path, monkeypatch):
    from thyromics.models import api

    def never(*_a, **_k):
        raise AssertionError("fitted before the output folder was checked")

    monkeypatch.setattr(api, "fit_and_compare", never)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"cannot write to the model output folder .*file"):
        run_model_stage(_table(tmp_path / "f.csv"), models=["lr"], out_dir=blocker / "out")


def test_model_stage_refuses_a_second_run_into_its_folder(tmp_path):
    out = tmp_path / "out"
    with output_lock(out / "run.json"):
        with pytest.raises(InputError, match=rf"another thyromics run \(pid {os.getpid()}\)"):
            run_model_stage(_table(tmp_path / "f.csv"), models=["lr"], out_dir=out,
                            settings=PipelineSettings(tune=False), importance=())


def test_study_runner_refuses_a_second_run_into_its_folder(tmp_path):
    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study
    from thyromics.study.synthetic import SyntheticSettings, make_cohort

    manifest = make_cohort(tmp_path / "data", "us", SyntheticSettings(n_patients=4, seed=0))
    (tmp_path / "study.yaml").write_text(f"cases: {manifest}\n")
    with output_lock(tmp_path / "out" / "study"):
        with pytest.raises(InputError, match="another thyromics run"):
            run_study(load_study(tmp_path / "study.yaml"), tmp_path / "out", log=lambda _m: None)
