"""The native engine on PyRadiomics' golden cases (brain1, brain2, breast1).

Two checks per case: the baseline CSVs frozen by PyRadiomics' maintainers (the same
comparison :mod:`test_features_golden` makes for the PyRadiomics engine, with its
tolerances), and the PyRadiomics engine run now on the same settings, column for column,
within 1e-9 relative (a completeness check: every column of one is a column of the other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_features_golden import (  # same folder
    CASES,
    CLASSES,
    _compare,
    _read,
    _settings,
)
from test_native_property import _compare as _compare_engines

from thyromics.features.engine import extract_features


@pytest.fixture(scope="module")
def tables(pyradiomics_dir: Path) -> dict[str, pd.DataFrame]:
    return {c: pd.read_csv(pyradiomics_dir / "baseline" / f"baseline_{c}.csv", index_col=0)
            for c in (*CLASSES, "shape2D")}


@pytest.mark.parametrize("case", CASES)
def test_native_baseline_and_pyradiomics(case: str, pyradiomics_dir: Path,
                                         tables: dict[str, pd.DataFrame]) -> None:
    image = _read(pyradiomics_dir / f"{case}_image.nrrd")
    mask = _read(pyradiomics_dir / f"{case}_label.nrrd")
    settings = _settings(tables["glcm"], case, list(CLASSES))
    for cls in CLASSES:  # one run does all: every class CSV records the same settings
        assert tables[cls].loc["diagnostics_Configuration_Settings", case] == \
            tables["glcm"].loc["diagnostics_Configuration_Settings", case]
    native = extract_features(image, mask, settings.replace(engine="native"), case_id=case)
    assert not native.missing, native.missing
    assert native.diagnostics["thyromics_engine"] == "native"
    problems: list[str] = []
    for cls in CLASSES:
        problems += _compare(native.values, tables[cls], case)
    assert not problems, "\n".join(problems)
    reference = extract_features(image, mask, settings, case_id=case)
    assert list(native.values) == list(reference.values)
    problems = _compare_engines(reference, native)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CASES)
def test_native_baseline_shape2d(case: str, pyradiomics_dir: Path,
                                 tables: dict[str, pd.DataFrame]) -> None:
    column = f"{case}_shape2D"
    table = tables["shape2D"]
    bbox = ast.literal_eval(table.loc["diagnostics_Mask-corrected_BoundingBox", column])
    image = _read(pyradiomics_dir / f"{case}_image.nrrd")
    mask = _read(pyradiomics_dir / f"{case}_label.nrrd")
    one = np.zeros_like(mask.array)
    one[bbox[2]] = mask.array[bbox[2]]
    settings = _settings(table, column, ["shape2D"]).replace(engine="native")
    result = extract_features(image, mask.with_array(one), settings, case_id=case)
    assert any(c.startswith("original_shape2D_") for c in result.values)
    assert not _compare(result.values, table, column)
