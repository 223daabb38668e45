"""Benchmark: the full classifier zoo on real data (LIDC and DDTI), with its run time.

For each data set: the feature table (extracted once with ``thyromics extract --jobs 2``
and a cache, or given with ``--features NAME=PATH``), then ``thyromics model`` with all
ten classifiers, patient-grouped 5-fold CV, for each block set. Prints, per data set
and block set, the out-of-fold comparison (AUC with DeLong 95% CI and the metrics at
the carried Youden threshold) and the wall time of the whole zoo on this machine.

    python benchmarks/models.py [--datasets lidc,ddti] [--work DIR] [--features lidc=F.parquet]

LIDC: radiomics (ct preset), then radiomics + the radiologists' semantic ratings
(``*_value`` columns and ``diameter_mm``) as the clinical block; ``Malignancy*`` and
``Diagnosis*`` are the label itself and are excluded, as are identifiers and
coordinates. DDTI: radiomics (us preset); the label comes from TI-RADS, so ``tirads``
is excluded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = Path(sys.executable).parent
ZOO = "lr,svm,knn,mlp,rf,extratrees,xgboost,lightgbm,rfq,balanced_rf"
LIDC_TEXT = ["Calcification", "InternalStructure", "Lobulation", "Margin", "Sphericity",
             "Spiculation", "Subtlety", "Texture"]
DATASETS = {
    "lidc": {"manifest": "lidc/cases.csv", "preset": "ct",
             "blocks": "radiomics,radiomics+clinical",
             "exclude": ["Malignancy*", "Diagnosis*", "seriesuid", "coord*", "bbox*",
                         "nodule_id", "len_mal_details", *LIDC_TEXT]},
    "ddti": {"manifest": "ddti/cases.csv", "preset": "us", "blocks": "radiomics",
             "exclude": ["tirads"]},
}


def _features(name: str, work: Path, given: dict[str, Path]) -> Path:
    if name in given:
        return given[name]
    spec = DATASETS[name]
    out = work / f"{name}_features.parquet"
    if not out.exists():
        subprocess.run([str(BIN / "thyromics"), "extract", str(DATA / spec["manifest"]),
                        "--preset", spec["preset"], "--jobs", "2", "--cache",
                        str(work / f"cache_{name}"), "-o", str(out)], check=True)
    return out


def _model(name: str, features: Path, work: Path) -> tuple[pd.DataFrame, float]:
    spec = DATASETS[name]
    out = work / f"{name}_models"
    cmd = [str(BIN / "thyromics"), "model", str(features), "--label", "label", "--group",
           "patient_id", "--models", ZOO, "--blocks", spec["blocks"], "--cv", "5",
           "--seed", "0", "--n-jobs", "2", "--importance", "permutation,vimp", "-o", str(out)]
    for pattern in spec["exclude"]:
        cmd += ["--exclude", pattern]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return pd.read_csv(out / "comparison.csv"), time.perf_counter() - t0


def _table(comp: pd.DataFrame) -> str:
    cv = comp[comp.cohort == "cv"].sort_values("auc", ascending=False)
    lines = ["| model | n | AUC (95% CI) | accuracy | sensitivity | specificity | PPV | NPV | F1 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in cv.itertuples():
        lines.append(f"| {r.model_id} | {r.n} | {r.auc:.3f} ({r.auc_ci_low:.3f}-{r.auc_ci_high:.3f}) "
                     f"| {r.accuracy:.3f} | {r.sensitivity:.3f} | {r.specificity:.3f} "
                     f"| {r.ppv:.3f} | {r.npv:.3f} | {r.f1:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="lidc,ddti")
    ap.add_argument("--work", type=Path, default=Path("/tmp/thyromics-bench-models"))
    ap.add_argument("--features", action="append", default=[],
                    help="NAME=PATH of an existing feature table (skips extraction)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    given = {k: Path(v) for k, v in (f.split("=", 1) for f in args.features)}
    for name in args.datasets.split(","):
        feats = _features(name, args.work, given)
        table = pd.read_parquet(feats, columns=["case_id", "patient_id", "label"])
        comp, seconds = _model(name, feats, args.work)
        print(f"\n### {name.upper()}: {len(table)} lesions, {table.patient_id.nunique()} patients, "
              f"{int(table.label.sum())} positive; 10 classifiers x "
              f"{DATASETS[name]['blocks']}: {seconds / 60:.1f} min on this machine\n")
        print(_table(comp))


if __name__ == "__main__":
    main()
