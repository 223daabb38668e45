"""The study YAML is validated once, with every problem named."""

from __future__ import annotations

import pytest

from thyromics.errors import InputError
from thyromics.study.config import load_study, study_reference


def test_valid_study_resolves_paths(tmp_path):
    (tmp_path / "s.yaml").write_text("name: x\ncases: data/cases.csv\nmodel:\n  models: [lr]\n")
    cfg = load_study(tmp_path / "s.yaml")
    assert cfg.cases == (tmp_path / "data" / "cases.csv").resolve()
    assert cfg.model.models == ["lr"] and cfg.model.cv == 5


def test_unknown_and_missing_keys_are_named(tmp_path):
    (tmp_path / "s.yaml").write_text("nmae: x\nmodel:\n  cv: 1\n")
    with pytest.raises(InputError) as e:
        load_study(tmp_path / "s.yaml")
    msg = str(e.value)
    assert "nmae" in msg and "cases" in msg and "model.cv" in msg


def test_reference_lists_every_key():
    ref = study_reference()
    for key in ("`cases`", "`extract.preset`", "`model.models`", "`table1.by_cohort`"):
        assert key in ref


def test_engine_convention_and_the_old_selection_key(tmp_path):
    (tmp_path / "s.yaml").write_text("name: x\ncases: c.csv\nextract:\n  engine: pyradiomics\n"
                                     "model:\n  selection: none\n")
    cfg = load_study(tmp_path / "s.yaml")
    assert cfg.extract.engine == "pyradiomics" and cfg.model.selector == "none"
    (tmp_path / "s.yaml").write_text("name: x\ncases: c.csv\nextract:\n  engine: pyradiomics\n"
                                     "  convention: ibsi\n")
    with pytest.raises(InputError, match="needs extract.engine 'native'"):
        load_study(tmp_path / "s.yaml")
