"""The study YAML's `robustness:` and `harmonize:` blocks and what they hand the model stage."""

from __future__ import annotations

import pytest

from thyromics.errors import InputError
from thyromics.study.config import load_study
from thyromics.study.runner import StudyPaths, _step_settings


def _write(tmp_path, text):
    (tmp_path / "cases.csv").write_text("case_id,image,mask\n")
    path = tmp_path / "study.yaml"
    path.write_text("cases: cases.csv\n" + text)
    return path


def test_blocks_load_and_become_pipeline_settings(tmp_path):
    cfg = load_study(_write(tmp_path, """
robustness:
  enabled: true
  chain: rnvc
  repetitions: 20
  rotation_angles: [-10, 10]
  icc: [icc1, icc3]
  threshold: 0.85
harmonize:
  column: centre
  covariates: [age]
  reference: A
  unseen: reference
"""))
    assert cfg.robustness.chain == "rnvc" and cfg.robustness.rotation_angles == [-10, 10]
    s = _step_settings(cfg, StudyPaths(tmp_path / "out"))
    assert s["robust"] == str(tmp_path / "out" / "robustness") and s["robust_threshold"] == 0.85
    assert s["robust_icc"] == "icc1"
    assert s["harmonize"] == "centre" and s["harmonize_covariates"] == ("age",)
    assert s["harmonize_unseen"] == "reference"
    from thyromics.models.pipeline import PipelineSettings

    PipelineSettings(**s)  # valid together
    assert _step_settings(load_study(_write(tmp_path, "")), StudyPaths(tmp_path)) == {}


@pytest.mark.parametrize("text,match", [
    ("robustness:\n  chian: ntvc\n", "chian"),
    ("robustness:\n  icc: [icc4]\n", "icc"),
    ("harmonize:\n  unseen: reference\n  column: centre\n", "reference"),
    ("harmonize:\n  covariates: [age]\n", "column"),
])
def test_bad_blocks_are_refused(tmp_path, text, match):
    with pytest.raises(InputError, match=match):
        load_study(_write(tmp_path, text))
