"""docs/reliability.md stays true: every test it names exists, and every test of the
scenario files is named there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
SCENARIO_FILES = ("features/test_extract_reliability.py", "test_parallel_faults.py", "test_determinism.py",
                  "io/test_io_integrity.py", "models/test_models_inputs.py", "evaluate/test_evaluate_inputs.py",
                  "review/test_review_safety.py", "report/test_report_safety.py", "test_output_safety.py")


def _tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def _named() -> set[tuple[str, str]]:
    return set(re.findall(r"`tests/((?:\w+/)?test_\w+\.py)::(test_\w+)`", DOC.read_text(encoding="utf-8")))


def test_every_test_named_in_the_table_exists():
    missing = [f"{f}::{t}" for f, t in sorted(_named()) if t not in _tests(ROOT / "tests" / f)]
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"


def test_every_scenario_test_is_in_the_table():
    named = _named()
    absent = [f"{f}::{t}" for f in SCENARIO_FILES for t in sorted(_tests(ROOT / "tests" / f))
              if (f, t) not in named]
    assert not absent, f"scenario tests missing from docs/reliability.md: {absent}"


def test_every_row_names_a_test():
    rows = [ln for ln in DOC.read_text(encoding="utf-8").splitlines()
            if ln.startswith("| ") and not ln.startswith("| fault") and "---" not in ln]
    assert rows and all(re.search(r"`tests/(?:\w+/)?test_\w+\.py::test_\w+`", ln) for ln in rows)
