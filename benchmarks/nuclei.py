"""Nucleus segmentation and morphometry against hand-drawn outlines (MoNuSeg tiles).

For every tile of ``../shared/data/pathology/monuseg`` (1000 x 1000 H&E at 40x, one
ImageScope XML polygon per nucleus): the polygons are rasterised (``skimage.draw.polygon``)
into the reference instance map, then

1. ``before``: the classical segmenter as the product ran it on these files before
   issue 20 (the TIFF has no trusted resolution, so radius 4 px and min-area 10 px);
2. ``classical``: ``thyromics pathology tiles -> nuclei -> features`` with the manifest's
   ``mpp`` taken from the XML (``MicronsPerPixel``), product defaults (radius 3 um,
   4-1000 um^2), on the raw tiles and on Macenko-normalised tiles;
3. ``external``: the reference instance map given as an external segmenter's label TIFF
   (``--segmenter external``): counts and areas must equal the reference's;

and for each: Dice, detection precision / recall / F1 (IoU > 0.5), aggregated Jaccard
index and count error per tile and their mean; then, over the nuclei matched at IoU > 0.5,
the per-nucleus features of the segmented nuclei against the same features of the
reference outlines (median relative error of area and perimeter; median absolute
difference of circularity, eccentricity and solidity; Spearman rho of area).

Run: ``.venv/bin/python benchmarks/nuclei.py`` (about a minute). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("THYROMICS_SHARED_DATA", ROOT.parent / "shared" / "data")) / "pathology" / "monuseg"
FEATURES = ("area", "perimeter", "circularity", "eccentricity", "solidity")


def load(folder: Path):
    import tifffile

    from thyromics.pathology.nucleus_metrics import rasterise, read_imagescope_xml

    tiles = []
    for tif in sorted(folder.glob("*.tif")):
        img = tifffile.imread(tif)
        polys, mpp = read_imagescope_xml(tif.with_suffix(".xml"))
        tiles.append((tif.stem[:12], tif, img, rasterise(polys, img.shape[:2]), mpp))
    return tiles


def feature_agreement(truth, pred, img, mpp) -> dict[str, float]:
    """Features of matched nuclei (IoU > 0.5): segmented vs reference outline."""
    from scipy.stats import spearmanr

    from thyromics.pathology.morphometry import nucleus_features
    from thyromics.pathology.nucleus_metrics import overlaps
    from thyromics.pathology.settings import FeatureSettings

    s = FeatureSettings()
    ti, pi, inter, union = overlaps(truth, pred)
    keep = inter / union > 0.5
    ft = nucleus_features(truth, {}, img, mpp=mpp, settings=s).set_index("nucleus")
    fp = nucleus_features(pred, {}, img, mpp=mpp, settings=s).set_index("nucleus")
    a, b = ft.loc[ti[keep]], fp.loc[pi[keep]]
    out = {"n_matched": int(keep.sum())}
    for f in ("area", "perimeter"):
        out[f"{f}_rel_err"] = float(np.median(np.abs(b[f].to_numpy() / a[f].to_numpy() - 1)))
        out[f"{f}_bias"] = float(np.median(b[f].to_numpy() / a[f].to_numpy() - 1))
    for f in ("circularity", "eccentricity", "solidity"):
        out[f"{f}_abs_diff"] = float(np.median(np.abs(b[f].to_numpy() - a[f].to_numpy())))
    out["area_spearman"] = float(spearmanr(a["area"], b["area"])[0]) if len(a) > 2 else float("nan")
    return out


def run_pipeline(tiles, work: Path, method: str, segmenter: str) -> dict[str, np.ndarray]:
    """The product's stages on the tiles (one 1000-px tile each); the instance map per tile."""
    import tifffile

    from thyromics.pathology.stages import run_features, run_normalise, run_nuclei, run_tiles
    from thyromics.pathology.settings import NucleiSettings, StainSettings, TileSettings

    rows = []
    for name, tif, img, truth, mpp in tiles:
        row = {"slide_id": name, "patient_id": name, "path": str(tif), "mpp": mpp}
        if segmenter == "external":
            tifffile.imwrite(work / f"{name}_labels.tif", truth.astype(np.uint16))
            row["nuclei"] = str(work / f"{name}_labels.tif")
        rows.append(row)
    slides = work / "slides.csv"
    pd.DataFrame(rows).to_csv(slides, index=False)
    out = work / "out"
    run_tiles(slides, out, TileSettings(min_tissue=0))
    run_normalise(slides, out, StainSettings(method=method, n_reference_tiles=4))
    s = run_nuclei(slides, out, NucleiSettings(segmenter=segmenter))
    run_features(slides, out)
    maps = {}
    for r in s.records:
        (t,) = r["tiles"]
        with np.load(t["path"]) as z:
            maps[r["slide_id"]] = (z["inst_map"], t["n_dropped_small"], t["n_dropped_large"])
    nuclei = pd.read_parquet(out / "nuclei_features.parquet")
    return maps, nuclei


def table(rows: list[dict], cols: list[str]) -> str:
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = ""
    for r in rows:
        cells = [r.get(c, "") for c in cols]
        body += "| " + " | ".join("-" if isinstance(v, float) and np.isnan(v) else f"{v:.3f}" if isinstance(v, float)
                                  else str(v) for v in cells) + " |\n"
    return head + body


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"no MoNuSeg tiles at {args.data}; see ../shared/data/README.md", file=sys.stderr)
        return 1
    from thyromics.pathology.nucleus_metrics import score
    from thyromics.pathology.segment import classical_nuclei

    tiles = load(args.data)
    seg_rows, feat_rows = [], []

    def add(method: str, name: str, truth, pred, img, mpp, seconds: float, extra=None):
        sc = score(truth, pred).to_dict()
        seg_rows.append({"method": method, "tile": name, **sc, "s": seconds, **(extra or {})})
        feat_rows.append({"method": method, "tile": name, **feature_agreement(truth, pred, img, mpp)})

    for name, _, img, truth, mpp in tiles:
        t0 = time.perf_counter()
        pred = classical_nuclei(img, radius_px=4.0, min_area=10)
        add("before (radius 4 px, >= 10 px)", name, truth, pred, img, mpp, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        for method, segm, label in (("none", "classical", "classical, raw tiles"),
                                    ("macenko", "classical", "classical, Macenko tiles"),
                                    ("none", "external", "external = reference labels")):
            work = Path(tmp) / f"{method}_{segm}"
            work.mkdir()
            t0 = time.perf_counter()
            maps, nuclei = run_pipeline(tiles, work, method, segm)
            sec = (time.perf_counter() - t0) / len(tiles)
            for name, _, img, truth, mpp in tiles:
                inst, small, large = maps[name]
                n_table = int((nuclei["slide_id"] == name).sum())
                add(label, name, truth, inst, img, mpp, sec,
                    {"dropped <4um2": small, "dropped >1000um2": large, "feature rows": n_table})
    cols = ["method", "tile", "n_reference", "n_predicted", "count_error", "dice", "aji", "precision",
            "recall", "f1"]
    seg = pd.DataFrame(seg_rows)
    print("## Segmentation per tile\n")
    print(table(seg_rows, cols + ["dropped <4um2", "dropped >1000um2", "feature rows"]))
    print("## Segmentation mean over tiles\n")
    mean = seg.groupby("method", sort=False)[cols[2:]].mean().reset_index()
    print(table(mean.to_dict("records"), ["method"] + cols[2:]))
    print("## Per-nucleus features of matched nuclei vs the outlines (per tile)\n")
    fcols = ["method", "tile", "n_matched", "area_rel_err", "area_bias", "perimeter_rel_err", "perimeter_bias",
             "circularity_abs_diff", "eccentricity_abs_diff", "solidity_abs_diff", "area_spearman"]
    print(table(feat_rows, fcols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
