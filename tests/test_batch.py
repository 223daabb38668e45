"""The shared batch runner: errors-table layout, failures per item, cached records, and
the same files whatever the number of processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest

from report_study import report_study, steps_study  # noqa: F401  (fixtures)
from thyromics import batch
from thyromics.errors import CaseError
from thyromics.layout import DEEP_MODEL, EXTRACT, NUCLEI, ROBUSTNESS, SLIDE_DONE


def _row(key, error):
    return batch.error_row({"slide_id": key, "tile_id": ""}, error, stage="tiles", limit=400)


def flaky(arg: tuple[str, float]) -> dict:
    """Sleeps, then fails for ``b`` (a CaseError) and ``d`` (any exception); ``c`` reports a
    failed tile beside its result."""
    key, sleep = arg
    time.sleep(sleep)
    if key == "b":
        raise CaseError("no tissue\n  on the  slide", case_id=key, file="b.png", stage="tiles")
    if key == "d":
        raise ZeroDivisionError("division by zero")
    tile_errors = [{"slide_id": key, "tile_id": "t1", "stage": "normalise",
                    "error": "too few stained pixels", "file": "t1.png"}] if key == "c" else []
    return {"slide_id": key, "tile_errors": tile_errors}


TASKS = [("a", ("a", 1.0)), ("b", ("b", 0.0)), ("c", ("c", 0.0)), ("d", ("d", 0.0)),
         ("e", ("e", 0.0))]


def _run(out: Path, jobs: int, progress: list | None = None) -> batch.BatchResult:
    done = batch.run_batch(flaky, TASKS, error_row=_row, item_errors=lambda r: r["tile_errors"],
                           jobs=jobs,
                           on_progress=None if progress is None else lambda k, ok: progress.append(k))
    batch.write_errors(NUCLEI, out, done.errors)
    return done


def test_errors_table_has_the_layout_columns_and_name(tmp_path):
    path = batch.write_errors(EXTRACT, tmp_path, [{"case_id": "c1", "stage": "read",
                                                   "error": "missing", "file": "x.nii"}],
                              stem="mine")
    assert path == tmp_path / "mine.errors.csv"
    assert path.read_text().splitlines() == ["case_id,stage,error,file", "c1,read,missing,x.nii"]
    empty = batch.write_errors(NUCLEI, tmp_path, [])
    assert empty.name == "nuclei.errors.csv"
    assert empty.read_text().splitlines() == ["slide_id,tile_id,stage,error,file"]
    skipped = batch.write_errors(DEEP_MODEL, tmp_path, [("c2", "no label")])  # tuples
    assert skipped.read_text().splitlines() == ["case_id,reason", "c2,no label"]
    formula = batch.write_errors(DEEP_MODEL, tmp_path, [("c3", "=1+1")], safe=True)
    assert formula.read_text().splitlines()[1] == "c3,'=1+1"


def test_a_failing_item_does_not_stop_the_batch(tmp_path):
    done = _run(tmp_path, jobs=1)
    assert [k for k, _ in done.results] == ["a", "c", "e"]
    assert done.errors == [
        {"slide_id": "b", "tile_id": "", "stage": "tiles", "error": "no tissue on the slide",
         "file": "b.png"},
        {"slide_id": "c", "tile_id": "t1", "stage": "normalise",
         "error": "too few stained pixels", "file": "t1.png"},
        {"slide_id": "d", "tile_id": "", "stage": "tiles",
         "error": "ZeroDivisionError: division by zero", "file": ""}]


def test_error_rows_keep_or_flatten_the_message():
    long = ValueError("x" * 500)
    assert batch.error_row({"case_id": "c"}, long, stage="extract", limit=20)["error"] == \
        "ValueError: xxxxx..."
    raw = batch.error_row({"case_id": "c"}, CaseError("a\nb", file=None, stage="read"),
                          stage="extract", file="img.nii")
    assert raw == {"case_id": "c", "stage": "read", "error": "a\nb", "file": ""}
    other = batch.error_row({"case_id": "c"}, KeyError("k"), stage="extract", file="img.nii")
    assert other == {"case_id": "c", "stage": "extract", "error": "KeyError: 'k'",
                     "file": "img.nii"}


def test_same_files_with_one_or_two_processes(tmp_path):
    one = _run(tmp_path / "1", jobs=1)
    progress: list[str] = []
    two = _run(tmp_path / "2", jobs=2, progress=progress)
    assert progress[-1] == "a"  # "a" finished last: completion order is not task order
    assert one.results == two.results and one.errors == two.errors
    name = NUCLEI.name("errors")
    assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def counted(arg: tuple[str, str, str]) -> dict:
    """A worker with a done record per item; counts its real runs in ``runs.txt``."""
    out, key_id, setting = arg
    folder = Path(out) / key_id
    key = batch.task_key("1", item=key_id, setting=setting)
    if (hit := batch.prepare_dir(folder, key)) is not None:
        return {**hit, "cached": True}
    with open(Path(out) / "runs.txt", "a") as f:
        f.write(key_id + "\n")
    (folder / "part.txt").write_text(setting)
    return batch.save_record(folder / SLIDE_DONE, {"key": key, "value": f"{key_id}-{setting}"})


def _runs(out: Path) -> list[str]:
    return (out / "runs.txt").read_text().split()


@pytest.mark.parametrize("jobs", [1, 2])
def test_rerun_reuses_done_records(tmp_path, jobs):
    def run(setting: str) -> batch.BatchResult:
        tasks = [(k, (str(tmp_path), k, setting)) for k in ("p", "q")]
        return batch.run_batch(counted, tasks, error_row=_row, jobs=jobs)

    first = run("s1")
    assert sorted(_runs(tmp_path)) == ["p", "q"]
    again = run("s1")
    assert sorted(_runs(tmp_path)) == ["p", "q"]  # nothing recomputed
    assert [r["value"] for _, r in again.results] == ["p-s1", "q-s1"]
    assert all(r.get("cached") for _, r in again.results)
    assert not any(r.get("cached") for _, r in first.results)
    changed = run("s2")  # another setting: another key, the old work is emptied
    assert sorted(_runs(tmp_path)) == ["p", "p", "q", "q"]
    assert [r["value"] for _, r in changed.results] == ["p-s2", "q-s2"]
    assert (tmp_path / "p" / "part.txt").read_text() == "s2"


def test_an_unreadable_done_record_is_recomputed(tmp_path):
    tasks = [("p", (str(tmp_path), "p", "s1"))]
    batch.run_batch(counted, tasks, error_row=_row)
    (tmp_path / "p" / SLIDE_DONE).write_text("{truncated")
    done = batch.run_batch(counted, tasks, error_row=_row)
    assert _runs(tmp_path) == ["p", "p"] and done.errors == []
    assert json.loads((tmp_path / "p" / SLIDE_DONE).read_text())["value"] == "p-s1"


def test_the_study_errors_tables_and_perturbation_columns(report_study, steps_study):  # noqa: F811
    headers = {EXTRACT.path(report_study, "errors"): "case_id,stage,error,file",
               DEEP_MODEL.path(report_study, "errors"): "case_id,reason",
               ROBUSTNESS.path(steps_study, "errors"): "case_id,perturbation,stage,error,file"}
    for path, header in headers.items():
        assert path.read_text().splitlines()[0] == header, path
    long = pd.read_parquet(ROBUSTNESS.path(steps_study, "perturbations"))
    assert list(long.columns[:5]) == ["case_id", "patient_id", "label", "split", "perturbation"]
    assert not ROBUSTNESS.missing_columns("perturbations", long.columns)
