"""Deep-learning benchmark on the shared real data (CPU by default; a GPU when present).

Runs a few epochs of
  1. a 2D lesion classifier on DDTI (labelled cases, crops resized to --size),
  2. the 2D CBAM attention U-Net on DDTI (all cases with a non-empty mask),
  3. the 3D SE-ResNet of the lung-metastasis seed on LIDC 32 x 48 x 48 patches,
and prints seconds per epoch, the best validation AUC / Dice and the sample counts.

    .venv/bin/python benchmarks/dl.py --epochs 3 --size 128   # ~25 min on 2 shared cores
    .venv/bin/python benchmarks/dl.py --epochs 2 --limit 120 --only classify

Data are read in place from ../shared/data (THYROMICS_SHARED_DATA overrides).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _manifest(src: Path, out: Path, limit: int | None, labelled: bool, seed: int = 0) -> Path:
    """A copy of ``src/cases.csv`` with absolute paths, optionally a seeded, class-balanced subset."""
    import pandas as pd

    df = pd.read_csv(src / "cases.csv", dtype=str)
    if labelled:
        df = df[df["label"].notna()]
    if limit and len(df) > limit:
        if labelled:  # keep both classes: up to half of the limit from the minority
            parts = [g.sample(n=min(len(g), limit // 2), random_state=seed) for _, g in df.groupby("label")]
            df = pd.concat(parts)
        else:
            df = df.sample(n=limit, random_state=seed)
    cols = [c for c in ("case_id", "patient_id", "image", "mask", "label") if c in df.columns]
    df = df[cols].copy()
    for c in ("image", "mask"):
        df[c] = [str(src / p) for p in df[c]]
    path = out / f"{src.name}_{limit or 'all'}.csv"
    df.to_csv(path, index=False)
    return path


def bench_classifier(tmp: Path, args: argparse.Namespace) -> dict:
    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.settings import DataSettings, TrainSettings
    from thyromics.deep.train import split_train_val, train_classifier

    man = _manifest(DATA / "ddti", tmp, args.limit, labelled=True)
    s = TrainSettings(network=args.network, epochs=args.epochs, batch_size=16, learning_rate=1e-4,
                      patience=args.epochs, data=DataSettings(size_2d=(args.size, args.size)), seed=0)
    t0 = time.perf_counter()
    samples = build_samples(read_cases(man), s.data, require_label=True)
    tr, va = split_train_val(samples, s.val_fraction, s.seed)
    prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = train_classifier(samples.subset(tr), samples.subset(va), s, tmp / "cls", progress=True)
    per_epoch = (time.perf_counter() - t1) / len(res.history)
    return {"task": f"DDTI 2D {args.network} {args.size}px", "train/val": f"{len(tr)}/{len(va)}",
            "prep_s": prep, "s_per_epoch": per_epoch, "epochs": len(res.history),
            "metric": f"val AUC {res.best_auc:.3f}"}


def bench_segmenter(tmp: Path, args: argparse.Namespace) -> dict:
    from thyromics.deep._io import read_cases
    from thyromics.deep.segment import _grouped_split, segmentation_samples, train_segmenter
    from thyromics.deep.settings import SegmentSettings

    man = _manifest(DATA / "ddti", tmp, args.limit, labelled=False)
    s = SegmentSettings(network="cbam_unet", network_options={"channels": (8, 16, 32, 64, 128)},
                        size_2d=(args.seg_size, args.seg_size), epochs=args.epochs, batch_size=8,
                        learning_rate=1e-3, patience=args.epochs, seed=0)
    t0 = time.perf_counter()
    x, y, ids, pids, errors = segmentation_samples(read_cases(man), s)
    tr, va = _grouped_split(pids, [None] * len(pids), s.val_fraction, s.seed)
    prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = train_segmenter((x[tr], y[tr]), (x[va], y[va]), s, tmp / "seg", progress=True)
    per_epoch = (time.perf_counter() - t1) / len(res.history)
    return {"task": f"DDTI 2D cbam_unet {args.seg_size}px", "train/val": f"{len(tr)}/{len(va)}",
            "prep_s": prep, "s_per_epoch": per_epoch, "epochs": len(res.history),
            "metric": f"val Dice {res.best_dice:.3f} ({len(errors)} skipped)"}


def bench_se_resnet(tmp: Path, args: argparse.Namespace) -> dict:
    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.settings import AugmentSettings, DataSettings, TrainSettings
    from thyromics.deep.train import split_train_val, train_classifier

    import torch

    man = _manifest(DATA / "lidc", tmp, args.lidc_limit, labelled=True)
    width = args.se_width if args.se_width is not None else (1.0 if torch.cuda.is_available() else 0.25)
    chans = tuple(max(4, int(c * width)) for c in (64, 128, 256, 512))
    s = TrainSettings(network="se_resnet", epochs=args.epochs, batch_size=16, learning_rate=1e-4,
                      network_options={"stem_channels": chans[0], "channels": chans},
                      patience=args.epochs, seed=0,
                      data=DataSettings(spatial_dims=3, window=(-1000.0, 400.0), max_lesions_per_patient=5),
                      augment=AugmentSettings(rotate_deg=10.0))
    t0 = time.perf_counter()
    samples = build_samples(read_cases(man), s.data, require_label=True)
    tr, va = split_train_val(samples, s.val_fraction, s.seed)
    prep = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = train_classifier(samples.subset(tr), samples.subset(va), s, tmp / "se", progress=True)
    per_epoch = (time.perf_counter() - t1) / len(res.history)
    return {"task": f"LIDC 3D se_resnet x{width:g} 32x48x48", "train/val": f"{len(tr)}/{len(va)}", "prep_s": prep,
            "s_per_epoch": per_epoch, "epochs": len(res.history), "metric": f"val AUC {res.best_auc:.3f}"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="cases per benchmark (seeded, class-balanced)")
    p.add_argument("--network", default="densenet121")
    p.add_argument("--size", type=int, default=96, help="2D classifier input size")
    p.add_argument("--seg-size", type=int, default=128, help="2D segmenter input size")
    p.add_argument("--lidc-limit", type=int, default=200, help="LIDC nodules for the SE-ResNet run")
    p.add_argument("--se-width", type=float, default=None,
                   help="SE-ResNet width multiplier (default 1 on a GPU, 0.25 on CPU: the seed's full "
                        "width costs about 80 GMAC per patch and training step, minutes per batch on CPU)")
    p.add_argument("--only", choices=["classify", "segment", "se_resnet"], action="append")
    args = p.parse_args()
    import torch

    if not DATA.exists():
        raise SystemExit(f"shared data not found at {DATA}")
    runs = {"classify": bench_classifier, "segment": bench_segmenter, "se_resnet": bench_se_resnet}
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.only or list(runs):
            rows.append(runs[name](Path(d), args))
    device = "cuda" if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    print(f"\ndevice: {device}, torch {torch.__version__}")
    print(f"{'task':34} {'train/val':>9} {'prep s':>7} {'s/epoch':>8} {'epochs':>6}  metric")
    for r in rows:
        print(f"{r['task']:34} {r['train/val']:>9} {r['prep_s']:7.1f} {r['s_per_epoch']:8.1f} "
              f"{r['epochs']:6d}  {r['metric']}")


if __name__ == "__main__":
    main()
