"""Benchmark: ``thyromics extract`` against the ``pyradiomics`` command line, and on Dask.

In one run, for each data set (the full LIDC and DDTI manifests in ../shared/data by
default): our ``extract --jobs 2`` and ``pyradiomics BATCH.csv -p PARAMS --jobs 2`` with
the same parameter file; the wall-time ratio, the largest absolute and relative
difference of the features over the cases both extracted, the peak memory of each
process tree; then the same job on a Dask LocalCluster with 1 and 2 workers (scaling
efficiency = t1 / (2 * t2)). Prints a Markdown table.

    python benchmarks/extract.py [--limit N] [--datasets lidc,ddti] [--no-dask]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _measure import run_measured  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = Path(sys.executable).parent
DATASETS = {"lidc": ("lidc/cases.csv", "ct", None), "ddti": ("ddti/cases.csv", "us", 255)}


def _readable_by_sitk(path: Path, folder: Path) -> str:
    """SimpleITK (hence the pyradiomics command line) cannot read GIF: DDTI's GIF masks
    are converted to PNG once, and both tools are given the same PNG."""
    if path.suffix.lower() != ".gif":
        return str(path)
    from PIL import Image as PILImage

    folder.mkdir(parents=True, exist_ok=True)
    out = folder / (path.stem + ".png")
    PILImage.open(path).convert("L").save(out)
    return str(out)


def _prepare(name: str, limit: int | None, work: Path) -> tuple[Path, Path, Path]:
    from thyromics.features.presets import get_preset

    rel, preset, ref_label = DATASETS[name]
    frame = pd.read_csv(DATA / rel)
    if limit:
        frame = frame.head(limit)
    for col in ("image", "mask"):
        frame[col] = [str((DATA / rel).parent / p) for p in frame[col]]
    frame["mask"] = [_readable_by_sitk(Path(p), work / f"{name}_masks") for p in frame["mask"]]
    manifest = work / f"{name}_cases.csv"
    frame.to_csv(manifest, index=False)
    params = get_preset(preset).to_pyradiomics_params()
    if name == "ddti":  # true 2D images: both tools compute natively in 2D (no force2D)
        params["setting"] = {**params.get("setting", {}), "force2D": False}
    params_path = work / f"{name}_params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    # PyRadiomics reads 0/255 masks only with label 255; our reader binarises them.
    ref_params = dict(params, setting={**params.get("setting", {}), **({"label": ref_label} if ref_label else {})})
    ref_params_path = work / f"{name}_params_ref.yaml"
    ref_params_path.write_text(yaml.safe_dump(ref_params))
    batch = work / f"{name}_batch.csv"
    frame.rename(columns={"image": "Image", "mask": "Mask"})[["case_id", "Image", "Mask"]].to_csv(batch, index=False)
    return manifest, params_path, batch


def _compare(ours: Path, ref: Path) -> tuple[int, int, float, float]:
    """Cases and feature columns both tools produced, and their largest differences."""
    from thyromics.features.extract import read_features

    a = read_features(ours)[0].drop_duplicates("case_id").set_index("case_id")
    b = pd.read_csv(ref)
    b = b[[c for c in b.columns if not c.startswith("diagnostics")]]
    b = b.drop_duplicates("case_id").set_index("case_id")
    cases = a.index.intersection(b.index)
    cols = [c for c in b.columns if c in a.columns and c not in ("Image", "Mask")]
    x = a.loc[cases, cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    y = b.loc[cases, cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    diff = np.abs(x - y)[ok]
    rel = diff / np.maximum(np.abs(y[ok]), 1e-12)
    return len(cases), len(cols), float(diff.max(initial=0)), float(rel.max(initial=0))


def _dask(manifest: Path, params: Path, out: Path, workers: int) -> float:
    from distributed import LocalCluster

    from thyromics.features.extract import extract_cohort
    from thyromics.features.settings import ExtractionSettings

    settings = ExtractionSettings.from_params_file(params)
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster:
        t0 = time.perf_counter()
        extract_cohort(manifest, settings, out, scheduler=cluster.scheduler_address,
                       cache_dir=out.parent / f"cache_dask{workers}")
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="first N cases of each manifest")
    ap.add_argument("--datasets", default="lidc,ddti")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep our feature tables here (e.g. to model them afterwards)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.datasets.split(","):
            manifest, params, batch = _prepare(name, args.limit, work)
            ref_params = params.with_name(params.stem + "_ref.yaml")
            n = len(pd.read_csv(manifest))
            t_ours, m_ours, _ = run_measured([str(BIN / "thyromics"), "extract", str(manifest),
                                              "--params", str(params), "-o", str(work / f"{name}_ours.parquet"),
                                              "--jobs", "2", "--cache", str(work / f"{name}_cache")])
            t_ref, m_ref, _ = run_measured([str(BIN / "pyradiomics"), str(batch), "-p", str(ref_params),
                                            "-o", str(work / f"{name}_ref.csv"), "-f", "csv", "--jobs", "2"])
            n_cmp, n_cols, dmax, rmax = _compare(work / f"{name}_ours.parquet", work / f"{name}_ref.csv")
            row = {"data": name, "cases": n, "compared": n_cmp, "columns": n_cols,
                   "ours_s": t_ours, "pyradiomics_s": t_ref,
                   "ratio": t_ours / t_ref, "max_abs_diff": dmax, "max_rel_diff": rmax,
                   "ours_peak_MB": m_ours, "pyradiomics_peak_MB": m_ref}
            if not args.no_dask:
                t1 = _dask(manifest, params, work / f"{name}_d1.parquet", 1)
                t2 = _dask(manifest, params, work / f"{name}_d2.parquet", 2)
                row.update({"dask1_s": t1, "dask2_s": t2, "scaling_eff": t1 / (2 * t2)})
            rows.append(row)
            print(pd.DataFrame([row]).to_markdown(index=False, floatfmt=".3g"), flush=True)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for suffix in (".parquet", ".errors.csv", ".provenance.json"):
                    src = work / f"{name}_ours{suffix}"
                    if src.exists():
                        shutil.copy(src, args.keep / f"{name}_features{suffix}")
    print("\nAll data sets:")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    main()
