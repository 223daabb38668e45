"""Determinism tier: the same inputs and seed give byte-identical outputs in fresh
processes, whatever --jobs, a Dask cluster or a rerun."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from _helpers import png_cohort
from conftest import need_module  # noqa: E402

pytestmark = pytest.mark.slow

THYROMICS = [sys.executable, "-c", "from thyromics.cli import app; app()"]
PARAMS = """\
imageType: {Original: {}}
featureClass: {firstorder: , glcm: , shape: }
setting: {binWidth: 25, resampledPixelSpacing: [1, 1, 1], interpolator: sitkBSpline}
"""
#: Files whose job is to record how a run went (time, --jobs), not what it computed.
RUN_RECORDS = {"provenance.json", "features.provenance.json", "warnings.log", "run.json"}
#: Keys of a saved model's metadata that record the run, not the model.
RUN_KEYS = ("fit_seconds", "n_jobs", "created")


def _cli(*args: str, cwd: Path) -> None:
    r = subprocess.run([*THYROMICS, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def _content(p: Path) -> bytes:
    if p.name != "model.json":
        return p.read_bytes()
    text = p.read_text()
    for key in RUN_KEYS:
        text = re.sub(rf'"{key}": [^,\n]*,?', "", text)
    return text.encode()


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(_content(p)).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in RUN_RECORDS
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)}


@pytest.fixture(scope="module")
def ct_manifest(tmp_path_factory) -> Path:
    """Six CT-like cases, two of them crops of 2 slices (the B-spline fault's trigger)."""
    root = tmp_path_factory.mktemp("det")
    rows = []
    for i, nz in enumerate((2, 5, 2, 7, 6, 4)):
        rng = np.random.default_rng(i)
        arr = rng.integers(-900, 300, (nz, 28, 28)).astype(np.int16)
        mask = np.zeros(arr.shape, np.uint8)
        mask[:, 8:18 + i, 9:19] = 1
        for a, name in ((arr, f"i{i}.nii.gz"), (mask, f"m{i}.nii.gz")):
            img = sitk.GetImageFromArray(a)
            img.SetSpacing((0.7, 0.7, 2.5))
            sitk.WriteImage(img, str(root / name))
        rows.append({"case_id": f"c{i}", "patient_id": f"p{i}", "image": f"i{i}.nii.gz",
                     "mask": f"m{i}.nii.gz", "label": i % 2})
    pd.DataFrame(rows).to_csv(root / "cases.csv", index=False)
    (root / "params.yaml").write_text(PARAMS)
    return root / "cases.csv"


def test_extraction_is_byte_identical_across_jobs_dask_and_reruns(ct_manifest, tmp_path):
    distributed = need_module("distributed")
    root = ct_manifest.parent
    common = [str(ct_manifest), "--params", str(root / "params.yaml"), "--csv"]
    runs = {"jobs1": ["--jobs", "1"], "jobs1_again": ["--jobs", "1"], "jobs2": ["--jobs", "2"]}
    for name, extra in runs.items():
        _cli("extract", *common, "-o", str(tmp_path / name / "features.parquet"), *extra, cwd=root)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        _cli("extract", *common, "-o", str(tmp_path / "dask" / "features.parquet"),
             "--scheduler", cluster.scheduler_address, cwd=root)
    digests = {name: _digests(tmp_path / name) for name in [*runs, "dask"]}
    assert {"features.parquet", "features.csv", "features.errors.csv"} <= set(digests["jobs1"])
    for name, d in digests.items():
        assert d == digests["jobs1"], f"{name} differs from jobs1"
    table = pd.read_csv(tmp_path / "jobs1" / "features.csv")
    # a cubic B-spline rings on noise (a few hundred HU here); heap garbage was +-32767
    assert len(table) == 6 and table["original_firstorder_Maximum"].max() < 1000
    assert table["original_firstorder_Minimum"].min() > -1600


def test_heterogeneity_block_is_byte_identical_across_jobs(ct_manifest, tmp_path):
    root = ct_manifest.parent
    for jobs in ("1", "2"):
        _cli("extract", str(ct_manifest), "--preset", "ct", "--ith", "--jobs", jobs,
             "-o", str(tmp_path / jobs / "features.parquet"), cwd=root)
    assert _digests(tmp_path / "1") == _digests(tmp_path / "2")


def _model_table(path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 80
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 6)) + y[:, None] * np.array([1.0, 0.5, 0, 0, 0, 0])
    frame = pd.DataFrame(x, columns=[f"original_firstorder_f{j}" for j in range(6)])
    frame.insert(0, "case_id", [f"c{i}" for i in range(n)])
    frame.insert(1, "patient_id", [f"p{i // 2}" for i in range(n)])
    frame.insert(2, "label", y)
    frame.to_csv(path, index=False)


def test_model_stage_is_byte_identical_across_jobs_dask_and_reruns(tmp_path):
    """--jobs (fits in processes), --n-jobs (threads in estimators), a Dask cluster, a fresh
    run without the fit cache and a rerun served from it: the same files."""
    import distributed

    _model_table(tmp_path / "f.csv")
    common = ["model", str(tmp_path / "f.csv"), "--models", "lr,rf", "--cv", "3", "--seed", "3",
              "--no-progress"]
    runs = {"a": ["--jobs", "1", "--n-jobs", "1"], "b": ["--jobs", "2", "--n-jobs", "2"],
            "c": ["--jobs", "1", "--no-cache"]}
    for name, extra in runs.items():
        _cli(*common, *extra, "-o", str(tmp_path / name), cwd=tmp_path)
    a = _digests(tmp_path / "a")
    fits = sorted((tmp_path / "a" / ".fits").glob("*.pkl"))
    assert len(fits) == 2 * (3 + 1) and not (tmp_path / "c" / ".fits").exists()
    stamps = [p.stat().st_mtime_ns for p in fits]
    _cli(*common, "--jobs", "2", "-o", str(tmp_path / "a"), cwd=tmp_path)  # from the cache
    assert [p.stat().st_mtime_ns for p in fits] == stamps
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        _cli(*common, "--no-cache", "--scheduler", cluster.scheduler_address,
             "-o", str(tmp_path / "dask"), cwd=tmp_path)
    assert any(k.endswith(".csv") for k in a)
    for name in ("a", "b", "c", "dask"):
        assert _digests(tmp_path / name) == a, f"{name} differs from the first run"


def test_dl_train_on_cpu_is_identical_with_a_seed(tmp_path):
    manifest = png_cohort(tmp_path, n=12)
    for name in ("a", "b"):
        _cli("dl", "train", str(manifest), "--out", str(tmp_path / name),
             "--network", "cnn", "--network-options", '{"channels": [4, 8]}', "--size", "16",
             "--epochs", "2", "--batch-size", "4", "--seed", "5", "--device", "cpu",
             "--no-progress", cwd=tmp_path)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a and a == b, sorted(k for k in a if a[k] != b.get(k))
