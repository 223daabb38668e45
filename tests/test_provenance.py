"""Atomic writes leave the old file intact when writing fails; hashes follow content."""

from __future__ import annotations

import hashlib

import pytest

from thyromics.provenance import atomic_write, atomic_write_json, path_sha256, settings_hash


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")

    def broken(p):
        p.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # no temp file left


def test_hashes(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    assert path_sha256(f) == hashlib.sha256(b"abc").hexdigest()
    folder = tmp_path / "series"
    folder.mkdir()
    (folder / "1.dcm").write_bytes(b"x")
    h1 = path_sha256(folder)
    (folder / "1.dcm").write_bytes(b"y")
    assert path_sha256(folder) != h1
    assert settings_hash({"a": 1, "b": 2}) == settings_hash({"b": 2, "a": 1})
    atomic_write_json(tmp_path / "p.json", {"x": 1})
    assert (tmp_path / "p.json").read_text().strip().startswith("{")


def test_versions_one_lookup():
    from thyromics.provenance import library_versions, package_versions

    got = library_versions(["pandas", "no-such-distribution-xyz"])
    assert isinstance(got["pandas"], str) and got["no-such-distribution-xyz"] is None
    both = package_versions(("pandas", "no-such-distribution-xyz"))
    assert both["pandas"] == got["pandas"] and both["no-such-distribution-xyz"] == "not installed"
    assert {"python", "platform"} <= set(both)


def test_saved_model_provenance_keeps_its_shape():
    """``model.json``'s ``libraries``: every modelling library, its version or None."""
    from thyromics.models import persist
    from thyromics.models.pipeline import PipelineSettings

    prov = persist.provenance(PipelineSettings())
    assert set(prov) == {"thyromics_version", "python", "libraries", "settings"}
    assert list(prov["libraries"]) == list(persist.MODEL_LIBRARIES)
    assert all(v is None or isinstance(v, str) for v in prov["libraries"].values())
    assert isinstance(prov["libraries"]["pandas"], str)
    from thyromics import provenance  # one hasher: the saved model's hash is provenance's

    assert persist.file_sha256 is provenance.file_sha256 and "file_sha256" not in persist.__all__
