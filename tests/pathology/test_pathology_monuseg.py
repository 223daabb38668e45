"""Real H&E with hand-drawn nucleus outlines (MoNuSeg tiles in ../shared/data/pathology/monuseg).

The reference is the annotators' polygons (and ImageScope's own area of each), never a
value this code produced.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import tifffile

from thyromics.errors import CaseError
from thyromics.pathology.morphometry import nucleus_features
from thyromics.pathology.nucleus_metrics import rasterise, read_imagescope_xml, score
from thyromics.pathology.settings import FeatureSettings, TileSettings
from thyromics.pathology.slides import open_slide, output_scale, tissue_mask
from thyromics.pathology.stain_check import check_he


@pytest.fixture(scope="module")
def monuseg_dir(shared_data):
    folder = shared_data / "pathology" / "monuseg"
    if not folder.is_dir():
        msg = f"MoNuSeg tiles not found at {folder}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    assert len(list(folder.glob("*.tif"))) == 4
    return folder


@pytest.fixture(scope="module")
def monuseg(monuseg_dir):
    tiles = []
    for tif in sorted(monuseg_dir.glob("*.tif")):
        img = tifffile.imread(tif)
        polys, mpp = read_imagescope_xml(tif.with_suffix(".xml"))
        areas = [float(r.get("AreaMicrons")) for r in ET.parse(tif.with_suffix(".xml")).getroot().iter("Region")
                 if len(list(r.iter("Vertex"))) >= 3]  # as read_imagescope_xml: a polygon needs 3 points
        tiles.append({"path": tif, "img": img, "polys": polys, "mpp": mpp, "areas": np.array(areas)})
    return tiles


def test_the_misleading_tiff_resolution_is_not_trusted(monuseg_dir):
    for tif in sorted(monuseg_dir.glob("*.tif")):
        s = open_slide(tif)
        assert s.mpp is None
        with pytest.raises(CaseError, match="mpp column"):
            output_scale(s, TileSettings())
        assert open_slide(tif, mpp=0.25).mpp == 0.25  # the manifest's value is trusted


@pytest.mark.slow
def test_real_he_passes_the_stain_check(monuseg):
    for t in monuseg:
        img = t["img"][::2, ::2]  # a thumbnail, as the tiles stage checks
        c = check_he(img, tissue_mask(img))
        assert c.ok, (t["path"].name, c.reason)


@pytest.mark.slow
def test_measured_area_of_the_outlines_matches_imagescope(monuseg):
    """Our area (pixel count x mpp^2) of each rasterised outline vs ImageScope's AreaMicrons."""
    for t in monuseg:
        lab = rasterise(t["polys"], t["img"].shape[:2])
        assert lab.max() == len(t["polys"])  # no outline hidden by another
        f = nucleus_features(lab, {}, t["img"], mpp=t["mpp"], settings=FeatureSettings()).set_index("nucleus")
        ratio = f["area"].to_numpy() / t["areas"]
        assert np.median(ratio) == pytest.approx(1.0, abs=0.03), t["path"].name
        big = t["areas"] > 20  # pixel-centre rasterisation is coarse on the smallest outlines
        assert np.mean(np.abs(ratio[big] - 1) < 0.1) > 0.9
        assert (f["circularity"] <= 1).all()


@pytest.mark.slow
def test_classical_segmenter_against_the_outlines(monuseg):
    from thyromics.pathology.nuclei_io import filter_by_area
    from thyromics.pathology.segment import classical_nuclei

    f1 = []
    for t in monuseg:
        truth = rasterise(t["polys"], t["img"].shape[:2])
        m = t["mpp"]
        pred, *_ = filter_by_area(classical_nuclei(t["img"], radius_px=3 / m, min_area=1), {}, 4 / m ** 2, 1000 / m ** 2)
        s = score(truth, pred)
        assert s.dice > 0.65 and abs(s.count_error) < 0.5, (t["path"].name, s)
        f1.append(s.f1)
    assert np.mean(f1) > 0.4  # a baseline: benchmarks/nuclei.py reports the numbers


@pytest.mark.slow
def test_outlines_as_external_segmentation_give_exact_counts_and_areas(monuseg, tmp_path):
    from thyromics.pathology.stages import run_features, run_normalise, run_nuclei, run_tiles
    from thyromics.pathology.settings import NucleiSettings, StainSettings

    t = monuseg[3]
    truth = rasterise(t["polys"], t["img"].shape[:2])
    tifffile.imwrite(tmp_path / "labels.tif", truth.astype(np.uint16))
    pd.DataFrame([{"slide_id": "m", "patient_id": "p", "path": str(t["path"]), "mpp": t["mpp"],
                   "nuclei": str(tmp_path / "labels.tif")}]).to_csv(tmp_path / "s.csv", index=False)
    out = tmp_path / "out"
    run_tiles(tmp_path / "s.csv", out, TileSettings(tile_size=512, overlap=96, min_tissue=0))
    run_normalise(tmp_path / "s.csv", out, StainSettings(method="none"))
    run_nuclei(tmp_path / "s.csv", out, NucleiSettings(segmenter="external"))
    run_features(tmp_path / "s.csv", out)
    nuc = pd.read_parquet(out / "nuclei_features.parquet")
    px = np.bincount(truth.ravel())[1:]
    area = px * t["mpp"] ** 2
    keep = area >= 4.0
    tiles = pd.read_csv(out / "tile_features.csv")
    assert int(tiles["n_cut_by_tile_edge"].sum()) == 0  # the 96-px overlap holds every nucleus
    assert len(nuc) == int(keep.sum())  # every outline of >= 4 um^2 counted once across 4 tiles
    np.testing.assert_allclose(np.sort(nuc["area"]), np.sort(area[keep]), rtol=1e-12)
