"""The threshold rule is ``threshold`` in the settings, the study YAML and the CLI; files
written before the rename call it ``threshold_rule`` and still read the same."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from report_study import copy_study, report_study  # noqa: F401  (fixture)
from thyromics.layout import EXTRACT, MODEL, SAVED_MODEL
from thyromics.models.persist import load_model, predict_table
from thyromics.models.pipeline import PipelineSettings, saved_threshold


def test_the_setting_and_its_old_name():
    assert PipelineSettings().threshold == "youden"
    assert PipelineSettings(threshold="constrained").threshold == "constrained"
    assert PipelineSettings.model_validate({"threshold_rule": "constrained"}).threshold == \
        "constrained"
    dumped = PipelineSettings(threshold="constrained").model_dump(mode="json")
    assert dumped["threshold"] == "constrained" and "threshold_rule" not in dumped
    with pytest.raises(ValidationError, match="threshold_rule"):  # both names: refused
        PipelineSettings.model_validate({"threshold": "youden", "threshold_rule": "constrained"})
    assert saved_threshold({"threshold_rule": "constrained"}) == "constrained"
    assert saved_threshold({"threshold": "youden", "threshold_rule": "constrained"}) == "youden"
    assert saved_threshold({}) is None


def _as_old(path: Path) -> dict:
    """Rewrite a JSON file's settings as an older version wrote them; returns the new ones."""
    meta = json.loads(path.read_text())
    new = meta["settings"]
    meta["settings"] = {("threshold_rule" if k == "threshold" else k): v for k, v in new.items()}
    path.write_text(json.dumps(meta))
    return new


def test_old_run_json_and_saved_model_read_the_same_rule(report_study, tmp_path):  # noqa: F811
    from thyromics.models.api import read_feature_table
    from thyromics.report._checklist_answers import Facts, metrics
    from thyromics.report._study import Study

    old = copy_study(report_study, tmp_path / "old")
    runs = [p for p in old.glob(MODEL.rel("run", block="*"))
            if "settings" in json.loads(p.read_text())]  # the network block has none
    assert runs
    for run in runs:
        assert _as_old(run)["threshold"] == "youden"  # the study's rule (the default)
    assert "(youden)" in metrics(Facts(Study(report_study)))
    assert "(youden)" in metrics(Facts(Study(old)))

    saved = next(report_study.glob(SAVED_MODEL.rel("meta", block="*", model_id="*"))).parent
    copy = old / saved.relative_to(report_study)
    new = _as_old(SAVED_MODEL.at(copy, "meta"))
    _, meta = load_model(copy)
    assert "threshold_rule" in meta["settings"] and saved_threshold(meta["settings"]) == "youden"
    assert PipelineSettings.model_validate(meta["settings"]) == PipelineSettings.model_validate(new)
    table = read_feature_table(EXTRACT.path(report_study, "features"))
    assert predict_table(copy, table).equals(predict_table(saved, table))
