"""Benchmark: the cost of ``thyromics robustness`` (cases x perturbations per second).

On the first N LIDC cases (../shared/data/lidc), the ``ntvc`` chain (noise, translation,
volume adaptation, contour randomisation) repeated R times, the ``ct`` preset: the
whole stage (perturbation, extraction, ICC, figure) on 2 local processes and on a Dask
LocalCluster with 2 single-thread workers, each from an empty cache, for the PyRadiomics
engine and, when it is installed, the native engine (``engine: native``). Prints a
Markdown table; throughput = cases x repetitions / wall time.

    python benchmarks/robustness.py [--limit 40] [--repetitions 10] [--no-dask] [--engines pyradiomics,native]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _manifest(limit: int, folder: Path) -> Path:
    frame = pd.read_csv(DATA / "lidc" / "cases.csv").head(limit).copy()
    for col in ("image", "mask"):
        frame[col] = [str((DATA / "lidc" / p).resolve()) for p in frame[col]]
    path = folder / "cases.csv"
    frame[["case_id", "patient_id", "image", "mask", "label"]].to_csv(path, index=False)
    return path


def _settings(engine: str):
    from thyromics.features.presets import get_preset

    settings = get_preset("ct")
    if "engine" not in type(settings).model_fields:
        return settings if engine == "pyradiomics" else None
    return settings.replace(engine=engine)  # explicit: the default engine is native


def _run(manifest: Path, settings, chain, out: Path, *, jobs: int = 2,
         scheduler: str | None = None) -> tuple[float, object]:
    from thyromics.robustness.run import run_robustness

    t0 = time.perf_counter()
    res = run_robustness(manifest, settings, chain, out, jobs=jobs, scheduler=scheduler)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--repetitions", type=int, default=10)
    ap.add_argument("--engines", default="pyradiomics,native")
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    if not (DATA / "lidc" / "cases.csv").exists():
        sys.exit(f"LIDC not found under {DATA}")
    from thyromics.robustness.settings import get_chain

    chain = get_chain("ntvc", repetitions=args.repetitions)
    rows = []
    with tempfile.TemporaryDirectory(prefix="thyromics-bench-robust-") as tmp:
        tmp = Path(tmp)
        manifest = _manifest(args.limit, tmp)
        for engine in args.engines.split(","):
            settings = _settings(engine)
            if settings is None:
                print(f"engine {engine!r} is not available here; skipped", file=sys.stderr)
                continue
            n = args.limit * chain.repetitions
            t_local, res = _run(manifest, settings, chain, tmp / f"{engine}_local")
            row = {"engine": engine, "cases": res.n_cases, "repetitions": chain.repetitions,
                   "features": res.n_features, "stable": res.n_stable,
                   "2 processes (s)": round(t_local, 1),
                   "cases x perturbations / s (2 processes)": round(n / t_local, 2)}
            if not args.no_dask:
                from distributed import LocalCluster

                with LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
                    t_dask, _ = _run(manifest, settings, chain, tmp / f"{engine}_dask",
                                     scheduler=cluster.scheduler_address)
                row["Dask 2 workers (s)"] = round(t_dask, 1)
                row["cases x perturbations / s (Dask)"] = round(n / t_dask, 2)
            rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
