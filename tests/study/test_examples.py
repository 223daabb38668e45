"""The example study files stay valid as the settings evolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from thyromics.features.presets import get_preset
from thyromics.models.registry import get_classifier
from thyromics.study.config import load_study

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_study_is_valid(path):
    cfg = load_study(path)
    get_preset(cfg.extract.preset)
    for name in cfg.model.models:
        get_classifier(name)
    if any("deep" in b for b in cfg.model.blocks):
        assert cfg.deep.enabled


def test_there_are_examples():
    assert len(EXAMPLES) >= 3
