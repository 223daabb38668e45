"""Benchmark: a whole LIDC study, end to end, serial against parallel against Dask.

The study a new user would run on ../shared/data/lidc: the ``ct`` preset, Table 1 of the
radiologists' ratings, ten classifiers x two blocks (radiomics; radiomics + the ratings),
5-fold patient-grouped CV with the registry's inner tuning, permutation importance and
VIMP, then the report. It runs three times from empty folders: ``--jobs 1``,
``--jobs 2`` and on a Dask LocalCluster of 2 single-thread workers. Prints wall time per
stage and the model stage's scaling efficiency (t1 / (2 t2)), and checks that the three
studies wrote the same files (run records and caches aside).

    python benchmarks/study.py [--limit N] [--models lr,rf,...] [--no-dask] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))
RATINGS = ["Calcification_value", "InternalStructure_value", "Lobulation_value",
           "Margin_value", "Sphericity_value", "Spiculation_value", "Subtlety_value",
           "Texture_value"]
TEN = ["lr", "svm", "knn", "mlp", "rf", "extratrees", "xgboost", "lightgbm", "rfq",
       "balanced_rf"]
#: Files that record how a run went (time, jobs), not what it computed.
RUN_RECORDS = {"provenance.json", "features.provenance.json", "warnings.log", "run.json",
               "study.json", "report.html", "reporting_checklist.md",
               "reporting_checklist.csv", "model.json", ".done.json"}


def _manifest(limit: int | None, folder: Path) -> Path:
    frame = pd.read_csv(DATA / "lidc" / "cases.csv")
    frame = frame.head(limit).copy() if limit else frame.copy()
    for col in ("image", "mask"):
        frame[col] = [str((DATA / "lidc" / p).resolve()) for p in frame[col]]
    path = folder / "cases.csv"
    frame[["case_id", "patient_id", "image", "mask", "label", *RATINGS]].to_csv(path, index=False)
    return path


def _study(folder: Path, manifest: Path, models: list[str], jobs: int,
           scheduler: str | None) -> Path:
    path = folder / "study.yaml"
    where = {"jobs": jobs, **({"scheduler": scheduler} if scheduler else {})}
    path.write_text(yaml.safe_dump({
        "name": "LIDC benchmark study", "cases": str(manifest), "seed": 0,
        "extract": {"preset": "ct", **where},
        "table1": {"variables": RATINGS, "by_cohort": False},
        "model": {"models": models, "blocks": ["radiomics", "radiomics+clinical"], "cv": 5,
                  "importance": ["permutation", "vimp"], **where},
    }, sort_keys=False))
    return path


def _run(study: Path, out: Path) -> dict[str, float]:
    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study

    lines: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    run_study(load_study(study), out, log=lambda m: lines.append((time.perf_counter(), m)))
    stages = {}
    for t, msg in lines:
        m = re.match(r"\[(\w+)\] done in ([\d.]+) s", msg)
        if m:
            stages[m.group(1)] = float(m.group(2))
    starts = [t for t, msg in lines if msg.startswith("[report] building")]
    if starts:
        stages["report"] = time.perf_counter() - starts[0]
    stages["total"] = time.perf_counter() - t0
    return stages


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in RUN_RECORDS
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and "figures" not in p.parts and p.suffix not in (".png", ".log")
            and not p.name.startswith("provenance_")}  # the report's copy of the run records


def _cv_rows(models: Path) -> None:
    """The cv rows: metrics at the per-fold (nested) thresholds against the pooled rule."""
    import json

    print("\ncv rows: Youden's J = sensitivity + specificity - 1 at the nested (per-fold) "
          "thresholds against the pooled out-of-fold rule (optimistic)\n")
    print("| model | cv AUC | sens nested | spec nested | J nested | sens pooled | "
          "spec pooled | J pooled |")
    print("|---|---|---|---|---|---|---|---|")
    for block in sorted(p for p in models.iterdir() if (p / "evaluation.json").is_file()):
        scores = json.loads((block / "evaluation.json").read_text())["cv"]["scores"]
        for mid, s in scores.items():
            pooled = s.get("pooled_oof") or {}
            se, sp = s["sensitivity"]["value"], s["specificity"]["value"]
            pse = (pooled.get("sensitivity") or {}).get("value", float("nan"))
            psp = (pooled.get("specificity") or {}).get("value", float("nan"))
            print(f"| {mid}@{block.name} | {s['auc']:.3f} | {se:.3f} | {sp:.3f} | {se + sp - 1:.3f} | "
                  f"{pse:.3f} | {psp:.3f} | {pse + psp - 1:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="First N LIDC nodules (default all).")
    ap.add_argument("--models", default=",".join(TEN))
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--no-serial", action="store_true",
                    help="Skip the --jobs 1 run (then jobs 2 is the reference).")
    ap.add_argument("--out", type=Path, default=None, help="Keep the studies here.")
    args = ap.parse_args()
    if not (DATA / "lidc" / "cases.csv").exists():
        sys.exit(f"no LIDC data at {DATA / 'lidc'}")
    models = [m for m in args.models.split(",") if m]
    root = args.out or Path(tempfile.mkdtemp(prefix="thyromics-bench-study-"))
    root.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(args.limit, root)
    runs: dict[str, dict[str, float]] = {}
    for name, jobs in (("jobs 1", 1), ("jobs 2", 2)):
        if args.no_serial and jobs == 1:
            continue
        folder = root / name.replace(" ", "")
        folder.mkdir(exist_ok=True)
        runs[name] = _run(_study(folder, manifest, models, jobs, None), folder / "out")
    if not args.no_dask:
        import distributed

        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            folder = root / "dask"
            folder.mkdir(exist_ok=True)
            runs["Dask 2 workers"] = _run(_study(folder, manifest, models, 2,
                                                 cluster.scheduler_address), folder / "out")
    digests = {name: _digests(root / name.replace(" ", "").replace("Dask2workers", "dask") / "out")
               for name in runs}
    ref = digests[next(iter(runs))]
    same = {name: d == ref for name, d in digests.items()}
    stages = [s for s in ("extract", "table1", "model", "report", "total")
              if any(s in r for r in runs.values())]
    n = len(pd.read_csv(manifest))
    print(f"LIDC study: {n} nodules, {len(models)} classifiers x 2 blocks, 5-fold CV "
          f"(nested thresholds, inner tuning); wall seconds per stage\n")
    print("| run | " + " | ".join(stages) + f" | same files as {next(iter(runs))} |")
    print("|---|" + "---|" * (len(stages) + 1))
    for name, r in runs.items():
        print(f"| {name} | " + " | ".join(f"{r.get(s, float('nan')):.0f}" for s in stages)
              + f" | {'yes' if same[name] else 'NO'} |")
    t1, t2 = runs.get("jobs 1", {}).get("model"), runs["jobs 2"].get("model")
    if t1 and t2:
        print(f"\nmodel stage: speed-up {t1 / t2:.2f} on 2 processes, scaling efficiency "
              f"{t1 / (2 * t2):.2f}; files compared: {len(ref)}")
    _cv_rows(root / next(iter(runs)).replace(" ", "") / "out" / "models")
    if not all(same.values()):
        diff = sorted(k for name, d in digests.items() for k in set(d) | set(ref)
                      if d.get(k) != ref.get(k))
        print("files that differ: " + ", ".join(diff[:20]))
        sys.exit(1)


if __name__ == "__main__":
    main()
