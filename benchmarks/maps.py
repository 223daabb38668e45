"""Benchmark: thyromics feature maps vs PyRadiomics voxel-based extraction.

Same settings on both sides (kernel radius 1, bin width 25, masked kernel, distances 1,
first-order + GLCM + GLRLM + GLSZM + GLDM + NGTDM; ``--classes`` to time fewer). Cases:
a synthetic 64x64x64 volume whose lesion is a ball (radius ``--ball`` voxels; PyRadiomics
is skipped on a lesion above 40,000 voxels unless ``--pyrad-crop C`` is given), a centred
C^3 sub-cube of it with ``--pyrad-crop C``, and LIDC nodules read in place from
``../shared/data/lidc``.

Each tool runs in a fresh child process; peak memory is the rise of the child's peak
resident set size during the call. Max relative difference is over all ROI voxels and
features, ``|ours - theirs| / |theirs|`` where ``|theirs| > 1e-9``, excluding the voxels where
PyRadiomics itself failed (its GLCM MCC when an angle has no pair in a kernel); voxels
where exactly one side is NaN are counted and reported. The worst class is named, and
``--per-class`` prints the maximum relative difference of every class.

Run: ``python benchmarks/maps.py [--lidc N] [--ball R] [--pyrad-crop C] [--classes glrlm glszm]``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import multiprocessing as mp
import resource
import time
import warnings
from pathlib import Path

import numpy as np

print = functools.partial(print, flush=True)  # noqa: A001  (progress while it runs)
CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
ROOT = Path(__file__).resolve().parents[1]
LIDC = ROOT.parent / "shared" / "data" / "lidc"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_ours(arr, m, spacing, classes, q):
    from thyromics.features.maps import MapSettings, compute_feature_maps
    from thyromics.io.image import Image

    img, mask = Image(arr, spacing), Image(m, spacing)
    s = MapSettings(features=classes)
    warm = np.zeros((5, 5, 5), np.uint8)
    warm[1:4, 1:4, 1:4] = 1  # load the compiled kernels (cached on disk) on a tiny case
    compute_feature_maps(Image(np.arange(125.0).reshape(5, 5, 5), spacing), Image(warm, spacing), s)
    base = _rss_mb()
    t = time.perf_counter()
    fm = compute_feature_maps(img, mask, s)
    dt = time.perf_counter() - t
    q.put((dt, _rss_mb() - base, {k: v[fm.roi] for k, v in fm.maps.items()}))


def _run_pyrad(arr, m, spacing, batch, classes, q):
    import SimpleITK as sitk
    from radiomics import featureextractor

    from thyromics.features.maps import MapSettings
    from thyromics.io.image import Image

    logging.getLogger("radiomics").setLevel(logging.CRITICAL)
    img, mask = Image(arr, spacing).to_sitk(), Image(m, spacing).to_sitk()
    ex = featureextractor.RadiomicsFeatureExtractor(**MapSettings(features=classes).to_pyradiomics(),
                                                    voxelBatch=batch)
    ex.disableAllFeatures()
    for c in classes:
        ex.enableFeatureClassByName(c)
    base = _rss_mb()
    t = time.perf_counter()
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-empty GLRLM angles
        res = ex.execute(img, mask, voxelBased=True)
    dt = time.perf_counter() - t
    ref = img
    out = {}
    for k, v in res.items():
        if not isinstance(v, sitk.Image):
            continue
        full = np.full(arr.shape, np.nan)
        a = sitk.GetArrayFromImage(v)
        idx = v.TransformPhysicalPointToIndex(ref.TransformIndexToPhysicalPoint((0, 0, 0)))
        o = [-i for i in idx][::-1]
        full[o[0]:o[0] + a.shape[0], o[1]:o[1] + a.shape[1], o[2]:o[2] + a.shape[2]] = a
        out[k.replace("original_", "")] = full[m > 0]
    q.put((dt, _rss_mb() - base, out))


def _child(fn, *args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    while True:
        try:
            res = q.get(timeout=5)
            break
        except Exception:  # queue.Empty: is the child still alive?
            if not p.is_alive():
                raise RuntimeError(f"{fn.__name__} failed in the child process") from None
    p.join()
    return res


def _compare(ours: dict, theirs: dict) -> tuple[float, int, int, dict[str, float]]:
    """Worst relative difference, MCC voxels skipped, NaN mismatches, worst by class."""
    worst, skipped, nan_mismatch = 0.0, 0, 0
    by_class: dict[str, float] = {}
    for k, t in theirs.items():
        o = ours[k]
        if k == "glcm_MCC" and np.all(t == 0):  # PyRadiomics failed on this batch
            skipped += t.size
            continue
        nan_mismatch += int((np.isnan(o) != np.isnan(t)).sum())
        # relative difference where PyRadiomics' value is not a rounding-level zero
        # (e.g. ClusterShade of a symmetric kernel: 5.7e-14 vs 4.3e-14)
        both = ~(np.isnan(o) | np.isnan(t)) & (np.abs(t) > 1e-9)
        rel = np.abs(o[both] - t[both]) / np.abs(t[both])
        w = float(rel.max()) if rel.size else 0.0
        cls = k.split("_", 1)[0]
        by_class[cls] = max(by_class.get(cls, 0.0), w)
        worst = max(worst, w)
    return worst, skipped, nan_mismatch, by_class


def _synthetic(ball: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    rng = np.random.default_rng(42)
    arr = rng.normal(40, 30, (64, 64, 64)).round()
    zz, yy, xx = np.mgrid[:64, :64, :64]
    m = (((zz - 32) ** 2 + (yy - 32) ** 2 + (xx - 32) ** 2) <= ball ** 2).astype(np.uint8)
    arr += 40 * np.sin(xx / 6.0)  # some structure
    return arr, m, (0.8, 0.8, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lidc", type=int, default=3, help="number of LIDC nodules (largest first)")
    ap.add_argument("--ball", type=int, default=31, help="radius of the synthetic lesion (voxels)")
    ap.add_argument("--pyrad-crop", type=int, default=0,
                    help="run PyRadiomics on a centred sub-cube of this size (0: whole lesion)")
    ap.add_argument("--classes", nargs="+", default=list(CLASSES), choices=CLASSES,
                    help="feature classes to map and time (default: all)")
    ap.add_argument("--per-class", action="store_true",
                    help="also print the maximum relative difference of each class")
    args = ap.parse_args()
    classes = tuple(args.classes)
    print(f"classes: {', '.join(classes)}")

    cases = []
    arr, m, sp = _synthetic(args.ball)
    cases.append((f"synthetic 64^3, ball r={args.ball}", arr, m, sp))
    if args.pyrad_crop:
        c = args.pyrad_crop
        lo = 32 - c // 2
        sl = (slice(lo, lo + c),) * 3
        cases.append((f"synthetic sub-cube {c}^3", arr[sl].copy(), m[sl].copy(), sp))
    if LIDC.exists() and args.lidc:
        import pandas as pd
        import SimpleITK as sitk

        df = pd.read_csv(LIDC / "cases.csv")
        sizes = []
        for _, row in df.head(80).iterrows():
            mk = sitk.ReadImage(str(LIDC / row["mask"]))
            sizes.append((int((sitk.GetArrayFromImage(mk) > 0).sum()), row))
        sizes.sort(key=lambda t: -t[0])
        for n, row in sizes[:args.lidc]:
            im = sitk.ReadImage(str(LIDC / row["image"]))
            mk = sitk.ReadImage(str(LIDC / row["mask"]))
            cases.append((f"LIDC {row['case_id']}", sitk.GetArrayFromImage(im).astype(np.float64),
                          (sitk.GetArrayFromImage(mk) > 0).astype(np.uint8), im.GetSpacing()))

    print(f"{'case':34s} {'voxels':>7s} {'ours s':>8s} {'pyrad s':>9s} {'ratio':>7s} "
          f"{'max rel diff':>12s} {'ours MB':>8s} {'pyrad MB':>9s}")
    for name, a, mk, sp in cases:
        nvox = int(mk.sum())
        to, mo, ours = _child(_run_ours, a, mk, sp, classes)
        if nvox > 40000 and not args.pyrad_crop:
            print(f"{name:34s} {nvox:7d} {to:8.2f} {'(skipped: use --pyrad-crop)':>9s}  ours MB {mo:.0f}")
            continue
        tp, mp_, theirs = _child(_run_pyrad, a, mk, sp, 5000, classes)
        worst, skipped, nan_mismatch, by_class = _compare(ours, theirs)
        notes = []
        if skipped:
            notes.append(f"MCC failed in PyRadiomics on {skipped} voxels")
        if nan_mismatch:
            notes.append(f"NaN on one side only: {nan_mismatch} voxel-features")
        if by_class:
            notes.append(f"worst class {max(by_class, key=by_class.get)}")
        print(f"{name:34s} {nvox:7d} {to:8.2f} {tp:9.2f} {tp / to:7.0f} {worst:12.2e} "
              f"{mo:8.0f} {mp_:9.0f}" + (f"  ({'; '.join(notes)})" if notes else ""))
        if args.per_class:
            print("    " + ", ".join(f"{c} {w:.1e}" for c, w in by_class.items()))


if __name__ == "__main__":
    main()
