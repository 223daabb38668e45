"""The pathology commands end to end on a tiny slide manifest, through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from scipy.io import savemat
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.pathology.synthetic import synthetic_he

runner = CliRunner()


def _ok(args, code=0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res.output


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("slides")
    rows = []
    for i in range(5):
        img, _ = synthetic_he(200, 200, mpp=0.5, n_nuclei=25, seed=i)
        Image.fromarray(img).save(d / f"s{i}.png")
        rows.append({"slide_id": f"s{i}", "patient_id": f"p{i}", "path": f"s{i}.png", "mpp": "0.5"})
    big = np.full((260, 420, 3), 246, np.uint8)
    big[20:220, 200:400] = synthetic_he(200, 200, mpp=0.5, n_nuclei=25, seed=9)[0]
    kw = dict(photometric="rgb", tile=(64, 64), resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    with tifffile.TiffWriter(d / "w.tif") as tw:
        tw.write(big, subifds=1, **kw)
        tw.write(big[::2, ::2], subfiletype=1, **kw)
    rows.append({"slide_id": "w", "patient_id": "p5", "path": "w.tif", "mpp": ""})
    rows.append({"slide_id": "bad", "patient_id": "p6", "path": "missing.svs", "mpp": ""})
    pd.DataFrame(rows).to_csv(d / "slides.csv", index=False)
    return d


def test_slides_to_features_to_associations(cohort, tmp_path):
    slides, out = cohort / "slides.csv", tmp_path / "out"
    o = _ok(["pathology", "tiles", slides, "-o", out, "--tile-size", 128, "--overlap", 24, "--min-tissue", 0.3],
            code=3)  # one slide failed: a partial failure
    assert "6 of 7 slides succeeded" in o and "partial failure" in o
    err = pd.read_csv(out / "tiles.errors.csv")
    assert err["slide_id"].tolist() == ["bad"] and "not found" in err["error"][0]
    tiles = pd.read_csv(out / "tiles.csv")
    assert set(tiles["slide_id"]) == {"s0", "s1", "s2", "s3", "s4", "w"}
    assert tiles.loc[tiles.slide_id == "w", "mpp"].eq(0.5).all()  # read from the TIFF
    o = _ok(["pathology", "normalise", slides, "-o", out, "--method", "macenko", "--reference-tiles", 3], code=3)
    assert "failed bad [normalise]: skipped: the slide failed at `tiles` (slide file not found" in o
    ref = json.loads((out / "stain_reference.json").read_text())
    assert ref["method"] == "macenko" and len(ref["source"]) == 3
    _ok(["pathology", "nuclei", slides, "-o", out], code=3)
    o = _ok(["pathology", "features", slides, "-o", out], code=3)
    assert "failed bad [features]: skipped: the slide failed at `nuclei`" in o
    nuc = pd.read_parquet(out / "nuclei_features.parquet")
    assert len(nuc) > 50 and set(nuc["slide_id"]) == {"s0", "s1", "s2", "s3", "s4", "w"}
    assert nuc[["patient_id", "slide_id", "tile_id", "nucleus"]].duplicated().sum() == 0
    patients = pd.read_csv(out / "patient_features.csv")
    assert len(patients) == 6 and {"area_ith", "area_mean", "area_cv", "frac_untyped"} <= set(patients.columns)
    assert patients["n_nuclei"].sum() == len(nuc)
    prov = json.loads((out / "features.provenance.json").read_text())
    assert prov["units"]["s0"] == "micrometre" and prov["ith_types"] == [0]
    # a rerun reuses every slide
    assert "(6 from cache)" in _ok(["pathology", "features", slides, "-o", out], code=3)

    imaging = pd.DataFrame({"patient_id": [f"p{i}" for i in range(6)],
                            "risk": [0.9, 0.8, 0.7, 0.2, 0.1, 0.3]})
    imaging.to_csv(tmp_path / "imaging.csv", index=False)
    protein = pd.DataFrame({"patient_id": [f"p{i}" for i in range(6)], "SUCLG1": [0, 1, 0, 3, 2, 3]})
    protein.to_csv(tmp_path / "protein.csv", index=False)
    (tmp_path / "metrics.json").write_text(json.dumps({"scores": {"risk": {"threshold": 0.5}}}))
    o = _ok(["associate", tmp_path / "imaging.csv", "--with", out / "patient_features.csv",
             "--with", tmp_path / "protein.csv", "--by", "risk", "--threshold-from", tmp_path / "metrics.json",
             "--score", "risk", "-o", tmp_path / "assoc"])
    a = pd.read_csv(tmp_path / "assoc" / "associations.csv")
    assert {"patient_features", "protein"} == set(a["source"])
    row = a[a.feature == "SUCLG1"].iloc[0]
    assert row["n_high"] == 3 and row["n_low"] == 3 and row["kind"] == "ordinal" and row["diff"] < 0
    for fig in ("volcano.png", "boxplots.png", "correlation_heatmap.png", "grades_protein.png"):
        assert (tmp_path / "assoc" / "figures" / fig).stat().st_size > 1000
    res = runner.invoke(app, ["associate", str(tmp_path / "imaging.csv"), "--with", str(tmp_path / "protein.csv"),
                              "--by", "risk", "--threshold", "0.5", "--composite", "risk", "-o", str(tmp_path / "c")])
    assert res.exit_code == 2 and "circular" in res.output


def test_external_hovernet_mat_per_tile(cohort, tmp_path):
    slides = tmp_path / "one.csv"
    pd.DataFrame([{"slide_id": "s0", "patient_id": "p0", "path": str(cohort / "s0.png"), "mpp": "0.5",
                   "nuclei": "hovernet"}]).to_csv(slides, index=False)
    out = tmp_path / "out"
    _ok(["pathology", "tiles", slides, "-o", out, "--tile-size", 128, "--overlap", 24, "--min-tissue", 0])
    tiles = pd.read_csv(out / "tiles.csv")
    (tmp_path / "hovernet").mkdir()
    # one typed 8 x 8 square nucleus per tile, at the same level-0 place (x, y 108..116):
    # inside the overlap of the tiles starting at 0 and 104 (step 128 - 24), seen by four tiles
    for _, t in tiles.iterrows():
        inst = np.zeros((t["height"], t["width"]), np.int32)
        r0, c0 = 108 - t["y0"], 108 - t["x0"]
        if 0 <= r0 and r0 + 8 <= t["height"] and 0 <= c0 and c0 + 8 <= t["width"]:
            inst[r0:r0 + 8, c0:c0 + 8] = 1
        savemat(tmp_path / "hovernet" / f"{t['tile_id']}.mat", {"inst_map": inst, "inst_type": np.array([[2]])})
    _ok(["pathology", "nuclei", slides, "-o", out, "--segmenter", "external"])
    _ok(["pathology", "features", slides, "-o", out])
    seen = sum(int(np.load(p)["inst_map"].max()) for p in (out / "nuclei" / "s0").glob("*.npz"))
    assert seen == 4
    nuc = pd.read_parquet(out / "nuclei_features.parquet")
    assert len(nuc) == 1  # seen by several overlapping tiles, counted once
    assert nuc["type"].iloc[0] == 2 and nuc["area"].iloc[0] == pytest.approx(64 * 0.25)
    assert (nuc["centroid_x"].iloc[0], nuc["centroid_y"].iloc[0]) == pytest.approx((111.5, 111.5))
