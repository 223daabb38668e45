"""The Examples sections of each stage's public API run as written (doctest)."""

from __future__ import annotations

import doctest
import importlib
import warnings

import pytest

#: Modules whose public functions carry runnable Examples, one or more per stage.
MODULES = (
    "thyromics.preprocess.resample",
    "thyromics.preprocess.lesions",
    "thyromics.preprocess.crop",
    "thyromics.features.engine",
    "thyromics.features.catalogue",
    "thyromics.evaluate.roc",
    "thyromics.evaluate.thresholds",
    "thyromics.stats.table1",
    "thyromics.review.icc",
    "thyromics.models.api",
)


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. a sample-size warning of a 60-case example
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS
                                 | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.attempted > 0, f"{name} has no Examples"
    assert result.failed == 0
