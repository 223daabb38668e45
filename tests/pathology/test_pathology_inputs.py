"""Ordinary inputs that used to give wrong numbers silently: each is now right or refused with its reason."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.errors import CaseError, InputError
from thyromics.pathology.stages import run_features, run_normalise, run_nuclei, run_tiles
from thyromics.pathology.settings import NucleiSettings, StainSettings, TileSettings
from thyromics.pathology.slides import open_slide, output_scale, read_slide_manifest
from thyromics.pathology.stain import fit_reference, macenko_stains, reinhard_normalise, reinhard_stats
from thyromics.pathology.stain_check import check_he
from thyromics.pathology.synthetic import synthetic_he

HE, LABELS = synthetic_he(240, 320, mpp=0.5, n_nuclei=30, margin=20, seed=3)


def _tif(path, img, **kw):
    tifffile.imwrite(path, img, photometric="rgb", **kw)
    return path


# ---------------------------------------------------------------- resolution


def test_72_dpi_tag_is_not_a_resolution(tmp_path):
    s = open_slide(_tif(tmp_path / "a.tif", HE, resolution=(72, 72), resolutionunit="INCH"))
    assert s.mpp is None and "72 dots per inch" in s.mpp_note and "352.8" in s.mpp_note
    with pytest.raises(CaseError, match="no trusted resolution.*mpp column"):
        output_scale(s, TileSettings())
    # the manifest's mpp is trusted; a centimetre tag with a plausible value too
    assert open_slide(tmp_path / "a.tif", mpp=0.5).mpp == 0.5
    s = open_slide(_tif(tmp_path / "b.tif", HE, resolution=(2e4, 2e4), resolutionunit="CENTIMETER"))
    assert s.mpp == pytest.approx(0.5) and "centimeter" in s.mpp_source
    # a centimetre tag with an implausible value (1 px = 1 mm) is not
    s = open_slide(_tif(tmp_path / "c.tif", HE, resolution=(10, 10), resolutionunit="CENTIMETER"))
    assert s.mpp is None and "outside the plausible" in s.mpp_note
    # a plain PNG has no scan resolution
    Image.fromarray(HE).save(tmp_path / "d.png")
    assert open_slide(tmp_path / "d.png").mpp is None


def test_aperio_description_mpp_is_trusted(tmp_path):
    desc = "Aperio Image Library v12.0.15\n320x240 -> 320x240 JPEG/RGB Q=70|AppMag = 40|MPP = 0.2520"
    s = open_slide(_tif(tmp_path / "s.svs", HE, description=desc, resolution=(72, 72), resolutionunit="INCH"))
    assert s.mpp == pytest.approx(0.252) and s.mpp_source == "Aperio MPP"


def test_manifest_mpp_must_be_plausible(tmp_path):
    (tmp_path / "m.csv").write_text("slide_id,patient_id,path,mpp\ns1,p1,x.tif,352.8\n")
    with pytest.raises(InputError, match="outside the plausible"):
        read_slide_manifest(tmp_path / "m.csv")


def test_upsampling_beyond_the_limit_is_refused(tmp_path):
    s = open_slide(_tif(tmp_path / "a.tif", HE), mpp=0.5)
    assert output_scale(s, TileSettings(mpp=0.4)) == pytest.approx(0.8)  # 1.25x: allowed
    with pytest.raises(CaseError, match="upsample the slide 2x.*at least 0.3333"):
        output_scale(s, TileSettings(mpp=0.25))


# ---------------------------------------------------------------- bit depth, broken files


def test_16_bit_rgb_is_scaled_not_wrapped(tmp_path):
    img16 = HE.astype(np.uint16) * 257  # the same image at 16 bits
    s = open_slide(_tif(tmp_path / "a.tif", img16), mpp=0.5)
    np.testing.assert_array_equal(s.read(0, 0, 0, 320, 240), HE)
    assert check_he(s.read(0, 0, 0, 320, 240)).ok


def test_unsupported_sample_type_is_one_clear_line(tmp_path):
    s = open_slide(_tif(tmp_path / "a.tif", HE.astype(np.int32)), mpp=0.5, slide_id="s7")
    with pytest.raises(CaseError, match="int32 samples are not supported") as e:
        s.read(0, 0, 0, 10, 10)
    assert e.value.case_id == "s7" and "\n" not in str(e.value)


def test_truncated_tiff_is_refused_in_one_line(tmp_path):
    kw = dict(tile=(64, 64), photometric="rgb", compression="zlib")
    with tifffile.TiffWriter(tmp_path / "p.tif") as tw:
        tw.write(HE, subifds=1, **kw)
        tw.write(HE[::2, ::2], subfiletype=1, **kw)
    raw = (tmp_path / "p.tif").read_bytes()
    (tmp_path / "t.tif").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(CaseError) as e:
        open_slide(tmp_path / "t.tif", mpp=0.5, slide_id="s1")
    msg = str(e.value)
    assert ("truncated" in msg or "corrupt" in msg or "not a readable TIFF" in msg) and "\n" not in msg


# ---------------------------------------------------------------- is it H&E?


@pytest.mark.parametrize("name", ["grey", "ihc", "photo", "noise"])
def test_non_he_images_are_refused_with_a_reason(name):
    rng = np.random.default_rng(0)
    img = {"grey": np.full((200, 200, 3), 128, np.uint8), "ihc": data.immunohistochemistry(),
           "photo": data.astronaut(), "noise": rng.integers(0, 256, (200, 200, 3)).astype(np.uint8)}[name]
    c = check_he(img)
    assert not c.ok and c.reason
    expected = {"grey": "degenerate", "ihc": "absorbs blue", "photo": "absorbs blue", "noise": "haematoxylin"}
    assert expected[name] in c.reason
    with pytest.raises(InputError, match="not H&E"):
        fit_reference([img], "reinhard")


def test_he_is_accepted_and_degenerate_macenko_refused():
    c = check_he(HE)
    assert c.ok and c.h_angle_deg < 25 and c.e_angle_deg < 30
    with pytest.raises(ValueError, match="degenerate"):
        macenko_stains(np.full((50, 50, 3), 128, np.uint8))


def test_reinhard_uses_tissue_only_and_keeps_glass():
    target_mean, target_std = reinhard_stats(HE)
    glassy = np.full((240, 320, 3), 244, np.uint8)
    glassy[60:180, 80:240] = HE[60:180, 80:240]  # tissue in the middle of much glass
    # the statistics of the tissue do not depend on how much glass surrounds it
    np.testing.assert_allclose(reinhard_stats(glassy)[0], reinhard_stats(HE[60:180, 80:240])[0], atol=1e-9)
    out = reinhard_normalise(glassy, target_mean, target_std)
    assert np.all(out[:40] == 244)  # glass stays glass (it used to turn mauve)


# ---------------------------------------------------------------- the stages


def _cohort(tmp_path):
    Image.fromarray(HE).save(tmp_path / "ok.png")
    Image.fromarray(np.full((240, 320, 3), 128, np.uint8)).save(tmp_path / "grey.png")
    _tif(tmp_path / "dpi.tif", HE, resolution=(72, 72), resolutionunit="INCH")
    pd.DataFrame([{"slide_id": "ok", "patient_id": "p1", "path": "ok.png", "mpp": "0.5"},
                  {"slide_id": "grey", "patient_id": "p2", "path": "grey.png", "mpp": "0.5"},
                  {"slide_id": "dpi", "patient_id": "p3", "path": "dpi.tif", "mpp": ""}]
                 ).to_csv(tmp_path / "slides.csv", index=False)
    return tmp_path / "slides.csv"


def test_bad_slides_are_refused_the_good_one_measured_in_micrometres(tmp_path):
    slides, out = _cohort(tmp_path), tmp_path / "out"
    s = run_tiles(slides, out, TileSettings(tile_size=128, overlap=32, min_tissue=0.1))
    err = {e["slide_id"]: e["error"] for e in s.errors}
    assert s.n_ok == 1 and set(err) == {"grey", "dpi"}
    assert "not H&E: degenerate" in err["grey"] and "72 dots per inch" in err["dpi"]
    run_normalise(slides, out, StainSettings(method="none"))
    n = run_nuclei(slides, out, NucleiSettings(min_area_um2=4, max_area_um2=200))
    # a later stage repeats the recorded failure instead of asking to run `tiles` first
    err = {e["slide_id"]: e["error"] for e in n.errors}
    assert err["dpi"].startswith("skipped: the slide failed at `normalise`")
    assert "failed at `tiles`" in json.dumps(pd.read_csv(out / "normalise.errors.csv")["error"].tolist())
    f = run_features(slides, out)
    nuc = pd.read_parquet(out / "nuclei_features.parquet")
    assert 20 <= len(nuc) <= 36  # 30 synthetic nuclei, counted once each
    # areas in um^2: the synthetic nuclei have semi-axes of 3-5 um, so 28-79 um^2
    assert nuc["area"].between(4, 200).all() and 20 < nuc["area"].median() < 90
    assert (nuc["circularity"] <= 1).all()
    tile = pd.read_csv(out / "tile_features.csv")
    assert {"n_dropped_small", "n_dropped_large"} <= set(tile.columns) and (tile["size_unit"] == "um").all()
    assert f.n_ok == 1


def test_partial_failure_exits_3_and_all_failed_exits_1(tmp_path):
    slides, out = _cohort(tmp_path), tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(app, ["pathology", "tiles", str(slides), "-o", str(out), "--tile-size", "128",
                              "--overlap", "32", "--min-tissue", "0.1"])
    assert res.exit_code == 3 and "partial failure" in res.output
    only_bad = tmp_path / "bad.csv"
    pd.read_csv(slides).iloc[1:].to_csv(only_bad, index=False)
    res = runner.invoke(app, ["pathology", "tiles", str(only_bad), "-o", str(tmp_path / "o2")])
    assert res.exit_code == 1


def test_associate_refuses_tables_in_different_units(tmp_path):
    img = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "risk": [0.9, 0.8, 0.1, 0.2]})
    img.to_csv(tmp_path / "img.csv", index=False)
    pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "size_unit": ["um", "um", "pixel", "um"],
                  "area_mean": [30.0, 40, 900, 35]}).to_csv(tmp_path / "mixed.csv", index=False)
    res = CliRunner().invoke(app, ["associate", str(tmp_path / "img.csv"), "--with", str(tmp_path / "mixed.csv"),
                                   "--by", "risk", "--threshold", "0.5", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "cannot be pooled" in res.output


@pytest.mark.parametrize("make, message", [
    (lambda: StainSettings(method="macenk"),
     "unknown stain normalisation 'macenk'; use one of macenko, reinhard, none"),
    (lambda: NucleiSettings(segmenter="hovernet"),
     "unknown segmenter 'hovernet'; use one of classical, external"),
])
def test_an_unknown_method_is_refused_with_the_valid_ones(make, message):
    with pytest.raises(InputError) as e:
        make()
    assert str(e.value) == message
