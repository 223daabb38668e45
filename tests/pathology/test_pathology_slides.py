"""Slide reader (pyramidal TIFF built with tifffile), tissue detection, tile grid, nuclei inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy.io import savemat
from skimage import data

from thyromics.errors import CaseError, InputError
from thyromics.pathology.nuclei_io import contours_to_tile, labels_to_tile, open_source, read_label_file, relabel
from thyromics.pathology.settings import TileSettings
from thyromics.pathology.slides import (_owned, _starts, open_slide, read_slide_manifest, read_tile,
                                        tile_grid, tissue_mask)


def _pyramid(path, img, mpp=0.5):
    kw = dict(tile=(128, 128), photometric="rgb", compression="zlib",
              resolution=(1e4 / mpp, 1e4 / mpp), resolutionunit="CENTIMETER")
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, subifds=2, **kw)
        tw.write(img[::2, ::2], subfiletype=1, **kw)
        tw.write(img[::4, ::4], subfiletype=1, **kw)
    return path


@pytest.fixture(scope="module")
def slide_image():
    ihc = data.immunohistochemistry()
    img = np.full((768, 1280, 3), 246, np.uint8)  # white glass around two pieces of tissue
    img[64:576, 64:576] = ihc
    img[200:712, 700:1212] = ihc[::-1, ::-1]
    return img


def test_pyramidal_tiff_levels_and_resolution(tmp_path, slide_image):
    s = open_slide(_pyramid(tmp_path / "s.tif", slide_image))
    assert s.dimensions == (1280, 768) and s.level_downsamples == [1.0, 2.0, 4.0]
    assert s.mpp == pytest.approx(0.5)
    np.testing.assert_array_equal(s.read(100, 50, 0, 64, 32), slide_image[50:82, 100:164])
    np.testing.assert_array_equal(s.read(200, 100, 1, 40, 30), slide_image[::2, ::2][50:80, 100:140])
    assert open_slide(tmp_path / "s.tif", mpp=0.25).mpp == 0.25  # the manifest overrides the file


def test_tissue_tiles_at_a_coarser_resolution(tmp_path, slide_image):
    s = open_slide(_pyramid(tmp_path / "s.tif", slide_image))
    thumb, scale = s.thumbnail(320)
    mask = tissue_mask(thumb)
    assert thumb.shape[:2] == (192, 320) and scale == pytest.approx(4.0)
    truth = np.zeros(slide_image.shape[:2], bool)
    truth[64:576, 64:576] = truth[200:712, 700:1212] = True
    assert np.mean(mask == truth[::4, ::4]) > 0.9
    settings = TileSettings(tile_size=128, overlap=16, mpp=1.0, min_tissue=0.5)
    tiles, n_grid = tile_grid(s, settings, mask, scale)
    assert 0 < len(tiles) < n_grid
    for t in tiles:
        assert t.scale == 2.0 and t.mpp == 1.0
        assert (t.w0, t.h0) == (min(256, 1280 - t.x0), min(256, 768 - t.y0))  # the last ones are partial
        assert (t.width, t.height) == (t.w0 // 2, t.h0 // 2)
        assert truth[t.y0:t.y0 + t.h0, t.x0:t.x0 + t.w0].mean() > 0.35
    t = tiles[0]
    img = read_tile(s, t)  # read from level 1 (downsample 2), no resampling needed
    np.testing.assert_array_equal(img, slide_image[::2, ::2][t.y0 // 2:t.y0 // 2 + 128, t.x0 // 2:t.x0 // 2 + 128])
    with pytest.raises(CaseError, match="magnification"):
        tile_grid(s, TileSettings(magnification=20), mask, scale)


def test_owned_regions_partition_the_slide():
    for length, size, step in [(1000, 256, 224), (256, 256, 224), (100, 256, 224), (1001, 300, 250),
                               (1001, 256, 248)]:
        starts = _starts(length, size, step)
        owned = _owned(starts, size, length)
        assert starts[0] == 0 and starts[-1] + size >= length and starts[-1] < length  # covered, no empty tile
        assert all(b - a == step for a, b in zip(starts, starts[1:]))  # every overlap is size - step
        if len(starts) > 1:
            assert length - starts[-1] > size - step  # a partial last tile is wider than the overlap
        assert owned[0][0] == 0 and owned[-1][1] == length
        for (a0, a1), (b0, b1), s in zip(owned, owned[1:], starts[1:]):
            assert a1 == b0 and s <= b0 <= s + size  # contiguous, midline inside the overlap
        for (o0, o1), s in zip(owned, starts):
            assert s <= o0 < o1 <= min(s + size, length)  # a tile owns only what it shows
    # 1001 px in tiles of 256 every 248: the old grid put a last tile flush at 745, overlapping
    # its neighbour at 744 by 255 of 256 px; now it starts at 992 and is 9 px wide
    assert _starts(1001, 256, 248) == [0, 248, 496, 744, 992]


def test_manifest_errors(tmp_path):
    (tmp_path / "a.csv").write_text("slide_id,path\ns1,x.tif\n")
    with pytest.raises(InputError, match="patient_id"):
        read_slide_manifest(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("slide_id,patient_id,path,mpp\ns1,p1,x.tif,abc\n")
    with pytest.raises(InputError, match="mpp"):
        read_slide_manifest(tmp_path / "b.csv")
    with pytest.raises(CaseError, match="not found"):
        open_slide(tmp_path / "missing.tif", slide_id="s9")


def _tile(x0=0, y0=0, w=40, h=30, scale=1.0):
    from thyromics.pathology.slides import TileSpec

    return TileSpec("r0000_c0000", 0, 0, x0, y0, round(w * scale), round(h * scale), w, h, scale, None,
                    0, 0, 1e9, 1e9)


def test_hovernet_mat_with_types(tmp_path):
    inst = np.zeros((30, 40), np.int32)
    inst[2:8, 2:8] = 7
    inst[10:20, 10:20] = 3
    inst[25:27, 30:31] = 9  # 2 pixels: dropped by min_area
    savemat(tmp_path / "t.mat", {"inst_map": inst, "inst_type": np.array([[2], [1], [5]]),
                                 "inst_uid": np.array([[3], [7], [9]])})
    got, types = read_label_file(tmp_path / "t.mat")
    assert types == {3: 2, 7: 1, 9: 5}
    lab, t2 = relabel(got, types, min_area=5)
    assert lab.max() == 2 and sorted(t2.values()) == [1, 2]
    assert {int(np.sum(lab == k)) for k in (1, 2)} == {36, 100}


def test_hovernet_json_contours_rasterised_into_tiles(tmp_path):
    nuc = {"1": {"contour": [[10, 10], [20, 10], [20, 20], [10, 20]], "type": 1, "centroid": [15, 15]},
           "2": {"contour": [[100, 100], [110, 100], [110, 110]], "type": 3, "centroid": [106, 103]}}
    (tmp_path / "wsi.json").write_text(json.dumps({"mag": 40, "nuc": nuc}))
    src = open_source(tmp_path / "wsi.json", "s1")
    inst, types = src.tile(_tile(x0=5, y0=5))
    assert list(types.values()) == [1]  # the second nucleus lies outside this tile
    assert 100 <= np.sum(inst == 1) <= 121  # a 10 x 10 square, boundary pixels included or not
    rows, cols = np.nonzero(inst)
    assert (rows.min(), cols.min()) == (5, 5)  # level-0 (10, 10) minus the tile origin (5, 5)
    half, _ = contours_to_tile(src._contours, _tile(x0=0, y0=0, w=20, h=20, scale=2.0))
    assert 20 <= np.sum(half > 0) <= 36  # the same square at half resolution


def test_whole_image_label_map_and_bad_inputs(tmp_path):
    inst = np.zeros((60, 80), np.uint16)
    inst[10:20, 10:30] = 4
    tifffile.imwrite(tmp_path / "labels.tif", inst)
    lab, types = read_label_file(tmp_path / "labels.tif")
    crop, t = labels_to_tile(lab, types, _tile(x0=5, y0=5, w=40, h=30))
    assert crop.shape == (30, 40) and np.sum(crop == 4) == 200 and t == {4: 0}
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(CaseError, match="2-D"):
        open_source(tmp_path / "rgb.tif", "s1")
    folder = tmp_path / "tiles"
    folder.mkdir()
    with pytest.raises(CaseError, match="no nuclei file for tile"):
        open_source(folder, "s1").tile(_tile())
