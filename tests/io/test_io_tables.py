"""The one table reader: every ending, every error (the file named), and its callers alike."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from thyromics.errors import InputError
from thyromics.io import read_table
from thyromics.io.tables import TABLE_ENDINGS, table_format

FRAME = pd.DataFrame({"patient_id": ["007", "008", "009", "010"], "label": [0, 1, 0, 1],
                      "score": [0.1, 0.9, 0.6, 0.4]})


def _write(path, frame=FRAME):
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    elif name.endswith(".xlsx"):
        frame.to_excel(path, index=False)
    else:
        sep = "\t" if name.endswith((".tsv", ".tsv.gz", ".txt")) else ","
        frame.to_csv(path, sep=sep, index=False)  # .gz: compressed by pandas
    return path


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.txt", "T.CSV", "t.csv.gz", "t.tsv.gz",
                                  "t.parquet", "t.pq", "t.xlsx"])
def test_each_ending_reads_the_same_table(tmp_path, name):
    if name.endswith(".xlsx"):
        pytest.importorskip("openpyxl")
    got = read_table(_write(tmp_path / name))
    assert list(got.columns) == list(FRAME.columns)
    assert got["label"].tolist() == [0, 1, 0, 1]
    assert got["score"].tolist() == pytest.approx([0.1, 0.9, 0.6, 0.4])


def test_gz_is_really_compressed(tmp_path):
    path = _write(tmp_path / "t.csv.gz")
    assert gzip.open(path, "rt").readline().startswith("patient_id,label")


def test_txt_with_commas_is_comma_separated(tmp_path):
    path = tmp_path / "t.txt"
    FRAME.to_csv(path, index=False)
    assert list(read_table(path).columns) == list(FRAME.columns)


def test_text_keeps_cells_as_written(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("variable,value\nage,1.000\nsex,\n")
    got = read_table(path, text=True)
    assert got["value"].tolist() == ["1.000", ""]
    ids = read_table(_write(tmp_path / "ids.csv"), text=["patient_id"])
    assert ids["patient_id"].tolist() == ["007", "008", "009", "010"]
    assert ids["label"].dtype.kind == "i"  # the other columns still typed


def test_header_only_is_an_empty_table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("case_id,error\n")
    got = read_table(path)
    assert got.empty and list(got.columns) == ["case_id", "error"]


def test_table_format():
    assert table_format("a/b.CSV.GZ") == "csv" and table_format("x.tsv") == "tsv"
    assert table_format("x.json") is None and table_format(".csv") is None
    assert {".csv", ".tsv", ".txt", ".parquet", ".xlsx", ".csv.gz"} <= set(TABLE_ENDINGS)


def _raises(path, match, **kw):
    with pytest.raises(InputError, match=match) as e:
        read_table(path, what="the test table", **kw)
    assert str(path) in str(e.value) and "the test table" in str(e.value)
    return str(e.value)


def test_missing_file(tmp_path):
    msg = _raises(tmp_path / "nope.csv", "not found", hint="Make it with `thyromics extract`")
    assert msg.endswith("Make it with `thyromics extract`.")


def test_folder(tmp_path):
    _raises(tmp_path, "is a folder")


@pytest.mark.parametrize("name, found", [("t.json", "'.json'"), ("t", "'no ending'"),
                                         ("t.csv.bz2", "'.bz2'")])
def test_unknown_ending(tmp_path, name, found):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    msg = _raises(path, "unknown ending")
    assert found in msg and ".csv, .csv.gz, .tsv" in msg


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet", "t.xlsx"])
def test_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    _raises(path, "is empty")


def test_blank_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\n\n")
    _raises(path, "is empty")


@pytest.mark.parametrize("name, kind", [("t.parquet", "Parquet"), ("t.xlsx", "Excel")])
def test_unreadable_binary(tmp_path, name, kind):
    if name.endswith(".xlsx"):
        pytest.importorskip("openpyxl")
    path = tmp_path / name
    path.write_text("this is not a binary table\n")
    _raises(path, f"cannot be read as .*{kind}")


def test_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("name,ville\nx,Saint-\xc9tienne\n".encode("cp1252"))
    _raises(path, "not UTF-8")


def test_ragged_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n1,2,3,4\n")
    _raises(path, "cannot be read as CSV")


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.xlsx"])
def test_duplicate_columns(tmp_path, name):
    if name.endswith(".xlsx"):
        pytest.importorskip("openpyxl")
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    msg = _raises(_write(tmp_path / name, frame), "more than once")
    assert "'a'" in msg and "'b'" not in msg


def test_a_real_dotted_name_is_not_a_duplicate(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,a.1\n1,2\n")
    assert list(read_table(path).columns) == ["a", "a.1"]


# -- the readers that now go through read_table behave alike ---------------------------------

def _evaluate(path):
    from thyromics.evaluate.api import evaluate_file

    return evaluate_file(path, truth="label", scores=["score"])


def _associate(path):
    from thyromics.pathology.run_associate import read_table as read_pathology

    return read_pathology(path, "the imaging table")


def _features(path):
    from thyromics.models.api import read_feature_table

    return read_feature_table(path)


def _stats(path):
    from thyromics.stats import commands

    app = typer.Typer()
    app.command("table1")(commands.table1)
    app.command("logistic")(commands.logistic)
    res = CliRunner().invoke(app, ["logistic", str(path), "-y", "label", "-x", "score"])
    if res.exit_code == 2 and "Error:" in res.output:
        raise InputError(res.output)
    assert res.exit_code == 0, res.output
    return res


READERS = {"evaluate": _evaluate, "associate": _associate, "features": _features,
           "stats": _stats}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("name", ["t.tsv", "t.txt", "t.csv.gz", "t.parquet", "t.xlsx"])
def test_every_reader_accepts_every_ending(tmp_path, reader, name):
    if name.endswith(".xlsx"):
        pytest.importorskip("openpyxl")
    READERS[reader](_write(tmp_path / name))


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", ["missing", "ending", "empty", "duplicate"])
def test_every_reader_refuses_alike(tmp_path, reader, case):
    path = tmp_path / ("t.json" if case == "ending" else "t.csv")
    if case == "ending":
        _write(path)
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "duplicate":
        _write(path, FRAME.assign(extra=1).rename(columns={"extra": "score"}))
    match = {"missing": "not found", "ending": "unknown ending", "empty": "is empty",
             "duplicate": "more than once"}[case]
    with pytest.raises(InputError, match=match) as e:
        READERS[reader](path)
    assert str(path) in " ".join(str(e.value).split())  # rich may wrap the CLI's line


def test_associate_keeps_ids_as_text(tmp_path):
    got = _associate(_write(tmp_path / "t.tsv"))
    assert got["patient_id"].tolist() == ["007", "008", "009", "010"]


def test_report_names_the_step_that_writes_a_broken_table(tmp_path):
    from thyromics.layout import MODEL
    from thyromics.report._study import Study

    study = Study(tmp_path)
    rel = MODEL.rel("comparison", block="radiomics")
    assert study.table(rel) is None  # absent: the section says "not run"
    path = MODEL.path(tmp_path, "comparison", block="radiomics")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    with pytest.raises(InputError, match="is empty") as e:
        study.table(rel)
    assert str(path) in str(e.value) and f"`{MODEL.command}`" in str(e.value)
