"""Benchmark: the native engine against PyRadiomics, in one run.

For each data set (LIDC and DDTI manifests in ../shared/data, PyRadiomics' golden cases)
and feature set (``original``: the preset's original image only; ``full``: the preset,
e.g. 1,316 CT columns from original + LoG 1-5 + wavelet):

- single process, in this process, case by case: seconds per case of
  ``extract_features(engine="native")``, of PyRadiomics' own
  ``RadiomicsFeatureExtractor.execute`` on the same prepared image and mask, and of
  ``extract_features(engine="pyradiomics")`` (PyRadiomics plus our checks); the ratio
  PyRadiomics / native; the worst relative difference, per feature family, between the
  native and the PyRadiomics engine over every column of every case (and the number of
  columns compared, NaN in both counted as equal);
- ``--jobs J`` (default 2): ``extract_cohort`` with the native engine against the
  ``pyradiomics`` command line with the same parameter file (wall time of the whole job).

- with ``--pictologics-python PATH`` (optional: an interpreter, Python 3.12 or later, that
  has pictologics), LIDC only: pictologics' seconds per case on the same voxels (the cases
  written as NIfTI and loaded before the clock starts), one thread, the same image set
  with IBSI 1 features (see ``_pictologics_worker.py`` for its settings), and the ratio
  pictologics / native.

The native engine's first call in a process loads its compiled kernels from numba's
cache (compiles them once per machine); that time is shown on its own and not counted.

    python benchmarks/engine.py [--datasets lidc,ddti,golden] [--limit N] [--sets original,full]
                                [--jobs 2] [--no-cli] [--pictologics-python PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _measure import run_measured
from extract import DATA, DATASETS, _prepare

BIN = Path(sys.executable).parent
FAMILIES = ("shape", "shape2D", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _load(manifest: Path, label: int | None = None) -> list[tuple[str, object, object]]:
    from thyromics.io import load_case
    from thyromics.io.manifest import read_manifest

    out = []
    for case in read_manifest(manifest, check_files=False).cases:
        try:
            image, mask = load_case(case, label=label)
        except Exception as e:  # noqa: BLE001 - an unreadable / empty case is left out
            print(f"  skipped {case.case_id}: {e}", file=sys.stderr)
            continue
        out.append((case.case_id, image, mask))
    return out


def _golden() -> list[tuple[str, object, object, object]]:
    """PyRadiomics' golden cases with the settings of their baseline CSVs."""
    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path[:0] = [str(tests), str(tests / "features")]
    from test_features_golden import CASES, CLASSES, _baseline, _read, _settings

    base = DATA / "pyradiomics"
    table = _baseline(base, "glcm")
    return [(c, _read(base / f"{c}_image.nrrd"), _read(base / f"{c}_label.nrrd"),
             _settings(table, c, list(CLASSES))) for c in CASES]


def _variant(settings, which: str):
    if which == "original":
        return settings.replace(log_sigmas=(), wavelet=False, image_types=())
    return settings


def _family(column: str) -> str:
    return column.split("_")[1] if column.count("_") >= 2 else "other"


def _in_process(cases, settings_of) -> dict:
    """Per-case seconds of the three ways, and the worst relative difference per family."""
    import SimpleITK as sitk  # noqa: F401

    from thyromics.features._prepare import prepare
    from thyromics.features.engine import (
        _captured_radiomics_log,
        _extractor,
        _lesion,
        _params_for,
        _squeeze,
        extract_features,
    )

    t_nat = t_pyr = t_ours_pyr = 0.0
    worst: dict[str, float] = {}
    compared: dict[str, int] = {}
    first = None
    n = 0
    for case in cases:
        cid, image, mask = case[:3]
        settings = settings_of(case).replace(engine="pyradiomics")  # the reference
        native = settings.replace(engine="native")
        if first is None:  # load the compiled kernels once (not counted)
            t0 = time.perf_counter()
            extract_features(image, mask, native, case_id=cid)
            first = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            b = extract_features(image, mask, native, case_id=cid)
            t1 = time.perf_counter()
            a = extract_features(image, mask, settings, case_id=cid)
            t2 = time.perf_counter()
        except Exception as e:  # noqa: BLE001 - both engines refuse the same cases
            print(f"  {cid}: {e}", file=sys.stderr)
            continue
        img, msk = _squeeze(image), _squeeze(mask)
        lesion, _ = _lesion(msk, settings, cid)
        prep = prepare(img, img.with_array(lesion.astype(np.uint8)), settings, warn=False)
        params = _params_for(settings, img.ndim)
        ex = _extractor(json.dumps(params, sort_keys=True))
        si, sm = prep.image.to_sitk(), prep.mask.to_sitk()
        with _captured_radiomics_log():
            t3 = time.perf_counter()
            ex.execute(si, sm, label=1)
            t4 = time.perf_counter()
        t_nat += t1 - t0
        t_ours_pyr += t2 - t1
        t_pyr += t4 - t3
        n += 1
        for c, ref in a.values.items():
            got = b.values.get(c, np.nan)
            fam = _family(c)
            compared[fam] = compared.get(fam, 0) + 1
            if (np.isnan(ref) and np.isnan(got)) or ref == got:
                d = 0.0
            elif np.isnan(ref) or np.isnan(got):
                d = np.inf
            else:
                d = abs(got - ref) / max(abs(ref), 1e-300)
            worst[fam] = max(worst.get(fam, 0.0), d)
    return {"n": n, "native": t_nat / max(n, 1), "pyradiomics": t_pyr / max(n, 1),
            "thyromics_pyradiomics": t_ours_pyr / max(n, 1), "first_call": first or 0.0,
            "worst": worst, "compared": compared}


def _jobs(manifest: Path, params: Path, batch: Path, settings, jobs: int, work: Path,
          tag: str) -> tuple[float, float]:
    from thyromics.features.extract import extract_cohort

    t0 = time.perf_counter()
    extract_cohort(manifest, settings.replace(engine="native"), work / f"{tag}_native.parquet",
                   jobs=jobs, cache_dir=work / f"{tag}_cache")
    t_native = time.perf_counter() - t0
    cmd = [str(BIN / "pyradiomics"), str(batch), "-p", str(params), "-o",
           str(work / f"{tag}_pyradiomics.csv"), "-f", "csv", "--jobs", str(jobs)]
    t_cli, _, _ = run_measured(cmd)
    return t_native, t_cli


def _native_without_mcc(cases, settings) -> float:
    """Native seconds per case with the GLCM's MCC left out (IBSI 1 has no MCC, so neither
    has pictologics; it is one eigen-solve per GLCM)."""
    from thyromics.features.engine import extract_features
    from thyromics.features.maps._glcm import GLCM_ORDER
    from thyromics.features.native._extract import DEPRECATED

    keep = [f for f in GLCM_ORDER if f != "MCC" and f"glcm_{f}" not in DEPRECATED]
    bare = settings.replace(engine="native", feature_subsets={
        **settings.feature_subsets, "glcm": keep})
    extract_features(cases[0][1], cases[0][2], bare, case_id=cases[0][0])
    t0 = time.perf_counter()
    for cid, image, mask in cases:
        extract_features(image, mask, bare, case_id=cid)
    return (time.perf_counter() - t0) / len(cases)


def _pictologics(python: str, cases, settings, which: str, work: Path) -> dict | None:
    """Seconds per case of pictologics on the same cases (``_pictologics_worker.py``)."""
    import subprocess

    import SimpleITK as sitk

    folder = work / f"pictologics_{which}"
    folder.mkdir()
    job_cases, low = [], 0.0
    for cid, image, mask in cases:
        img, msk = image.to_sitk(), mask.to_sitk()
        paths = {k: str(folder / f"{cid}_{k}.nii.gz") for k in ("image", "mask")}
        sitk.WriteImage(img, paths["image"])
        sitk.WriteImage(sitk.Cast(msk != 0, sitk.sitkUInt8), paths["mask"])
        low = min(low, float(np.min(image.array)))
        job_cases.append(paths)
    width = settings.bin_width or 25.0
    job = {"cases": job_cases, "set": which, "sigmas": list(settings.log_sigmas),
           "bin_width": width, "min_val": float(np.floor(low / width) * width)}
    (folder / "job.json").write_text(json.dumps(job))
    run = subprocess.run([python, "-P", str(Path(__file__).with_name("_pictologics_worker.py")),
                          str(folder / "job.json")], capture_output=True, text=True)
    if run.returncode != 0:
        print(f"  pictologics failed: {run.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="lidc,ddti,golden")
    ap.add_argument("--sets", default="original,full")
    ap.add_argument("--limit", type=int, default=None, help="first N cases of each manifest")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-cli", action="store_true", help="skip the --jobs rows")
    ap.add_argument("--pictologics-python", default=None,
                    help="an interpreter with pictologics: time it on LIDC too")
    args = ap.parse_args()
    from thyromics.features.presets import get_preset

    rows, fam_rows, pict_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in args.datasets.split(","):
            for which in args.sets.split(","):
                if name == "golden":
                    cases = _golden()
                    label = "PyRadiomics golden (baseline settings)"
                    row = _in_process(cases, lambda c, w=which: _variant(c[3], w))
                    t_jobs = None
                else:
                    sub = work / f"{name}_{which}"
                    sub.mkdir()
                    manifest, params, batch = _prepare(name, args.limit, sub)
                    settings = _variant(get_preset(DATASETS[name][1]), which)
                    # the command line's parameter file: this feature set; DDTI in true 2D
                    # and with label 255 (PyRadiomics reads the 0/255 masks as they are)
                    p = settings.to_pyradiomics_params()
                    if name == "ddti":
                        p["setting"]["force2D"] = False
                    p["setting"]["label"] = DATASETS[name][2] or 1
                    params.write_text(yaml.safe_dump(p))
                    cases = _load(manifest)
                    label = f"{name.upper()} ({DATASETS[name][1]} preset)"
                    row = _in_process(cases, lambda c, s=settings: s)
                    t_jobs = None if args.no_cli else _jobs(manifest, params, batch, settings,
                                                            args.jobs, sub, which)
                    if args.pictologics_python and name == "lidc":
                        pict = _pictologics(args.pictologics_python, cases, settings, which, sub)
                        if pict:
                            pict_rows.append((label, which, row["native"],
                                              _native_without_mcc(cases, settings), pict))
                cols = sum(row["compared"].values()) // max(row["n"], 1)
                rows.append((label, which, row["n"], cols, row, t_jobs))
                fam_rows.append((label, which, row["worst"]))
    print(f"| data | images | cases | columns | native s/case | PyRadiomics s/case | ratio | "
          f"thyromics+PyRadiomics s/case | native first call s | native --jobs {args.jobs} s | "
          f"pyradiomics CLI --jobs {args.jobs} s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, which, n, cols, r, tj in rows:
        jobs = (f"{tj[0]:.1f} | {tj[1]:.1f} | {tj[1] / tj[0]:.1f}x" if tj else "– | – | –")
        print(f"| {label} | {which} | {n} | {cols} | {r['native']:.4f} | {r['pyradiomics']:.4f} | "
              f"{r['pyradiomics'] / r['native']:.1f}x | {r['thyromics_pyradiomics']:.4f} | "
              f"{r['first_call']:.2f} | {jobs} |")
    if pict_rows:
        print()
        print("| data | images | native s/case | native without MCC s/case | pictologics s/case | "
              "pictologics columns | ratio | ratio without MCC |")
        print("|---|---|---|---|---|---|---|---|")
        for label, which, nat, bare, pict in pict_rows:
            t = pict["seconds"]
            print(f"| {label} | {which} | {nat:.4f} | {bare:.4f} | {t:.4f} | {pict['columns']} | "
                  f"{t / nat:.1f}x | {t / bare:.1f}x |")
    print()
    fams = [f for f in FAMILIES if any(f in w for _, _, w in fam_rows)]
    print("| data | images | " + " | ".join(fams) + " |")
    print("|---|---|" + "---|" * len(fams))
    for label, which, w in fam_rows:
        print(f"| {label} | {which} | " + " | ".join(
            (f"{w[f]:.1e}" if f in w else "–") for f in fams) + " |")


if __name__ == "__main__":
    main()
