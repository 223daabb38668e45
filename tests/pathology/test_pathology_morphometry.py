"""Per-nucleus features on hand-made label images, against their formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from skimage import data
from skimage.feature import graycomatrix, graycoprops

from thyromics.pathology.aggregate import aggregate, heterogeneity
from thyromics.pathology.morphometry import NUCLEUS_COLUMNS, curvature, nucleus_features
from thyromics.pathology.segment import classical_nuclei
from thyromics.pathology.settings import FeatureSettings

S = FeatureSettings()


def _grid(h=220, w=220):
    return np.mgrid[:h, :w]


def _features(inst, rgb=None, mpp=None, types=None):
    if rgb is None:
        rgb = np.full(inst.shape + (3,), 200, np.uint8)
        rgb[inst > 0] = 90
    return nucleus_features(inst, types or {}, rgb, mpp=mpp, settings=S).set_index("nucleus")


def test_28_columns():
    assert len(NUCLEUS_COLUMNS) == 28 and len(set(NUCLEUS_COLUMNS)) == 28


def test_disc_area_perimeter_circularity_in_micrometres():
    yy, xx = _grid()
    inst = (((yy - 100) ** 2 + (xx - 90) ** 2) <= 40 ** 2).astype(int)
    px = _features(inst).loc[1]
    um = _features(inst, mpp=0.5).loc[1]
    assert px["area"] == pytest.approx(np.pi * 40 ** 2, rel=0.005)
    assert px["perimeter"] == pytest.approx(2 * np.pi * 40, rel=0.015)
    assert px["circularity"] == pytest.approx(1.0, abs=0.03)
    assert px["eccentricity"] == pytest.approx(0.0, abs=0.02)
    assert um["area"] == pytest.approx(px["area"] * 0.25)
    assert um["perimeter"] == pytest.approx(px["perimeter"] * 0.5)
    assert um["major_axis_length"] == pytest.approx(px["major_axis_length"] * 0.5)
    assert (px["centroid_x"], px["centroid_y"]) == pytest.approx((90, 100), abs=1e-6)
    assert px["curvature_mean"] > 0


def test_ellipse_axes_eccentricity_elongation():
    yy, xx = _grid()
    a, b = 60, 30
    inst = ((((yy - 110) / b) ** 2 + ((xx - 110) / a) ** 2) <= 1).astype(int)
    f = _features(inst).loc[1]
    assert f["major_axis_length"] == pytest.approx(2 * a, rel=0.01)
    assert f["minor_axis_length"] == pytest.approx(2 * b, rel=0.02)
    assert f["elongation"] == pytest.approx(a / b, rel=0.02)
    assert f["eccentricity"] == pytest.approx(np.sqrt(1 - (b / a) ** 2), abs=0.01)
    assert f["solidity"] == pytest.approx(1.0, abs=0.03)  # digital ellipse vs its pixel hull


def test_rectangle_and_notched_rectangle():
    inst = np.zeros((80, 100), int)
    inst[10:30, 10:50] = 1  # 20 x 40
    inst[40:70, 60:90] = 2  # 30 x 30 with a 10 x 15 notch cut from its right side
    inst[50:60, 75:90] = 0
    f = _features(inst)
    r = f.loc[1]
    assert r["area"] == 800 and r["area_bbox"] == 800 and r["extent"] == 1.0 and r["solidity"] == 1.0
    assert r["perimeter"] == pytest.approx(120, rel=0.07)  # Crofton: ~6% short on axis-parallel edges
    assert r["curvature_max"] == pytest.approx(1.0, abs=0.02)  # right-angle corners, sin 90 deg
    assert r["curvature_min"] >= -1e-9  # convex: never turns outwards
    n = f.loc[2]
    assert n["area"] == 900 - 150 and n["extent"] == pytest.approx(750 / 900)
    assert n["solidity"] < 1.0 and n["curvature_min"] < -0.9  # the notch's concave corners


def test_intensity_uses_nucleus_pixels_only():
    rng = np.random.default_rng(0)
    yy, xx = _grid(60, 60)
    inst = (((yy - 30) ** 2 + (xx - 30) ** 2) <= 15 ** 2).astype(int)
    rgb = rng.integers(0, 256, (60, 60, 3)).astype(np.uint8)
    f = _features(inst, rgb).loc[1]
    g = np.floor(rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)[inst == 1]
    assert f["intensity_mean"] == pytest.approx(g.mean())
    assert f["intensity_std"] == pytest.approx(g.std())
    assert (f["intensity_min"], f["intensity_max"]) == (g.min(), g.max())
    assert f["intensity_skewness"] == pytest.approx(stats.skew(g))
    assert f["intensity_kurtosis"] == pytest.approx(stats.kurtosis(g))
    _, counts = np.unique(g, return_counts=True)
    p = counts / g.size
    assert f["intensity_entropy"] == pytest.approx(-(p * np.log2(p)).sum())


def test_glcm_excludes_the_background():
    rng = np.random.default_rng(1)
    inst = np.zeros((40, 40), int)
    inst[10:25, 12:30] = 1  # fills its bounding box: the oracle is the crop itself
    rgb = np.zeros((40, 40, 3), np.uint8)  # black background: the seed's zero would collide
    rgb[inst == 1] = rng.integers(0, 256, (int(inst.sum()), 1)).repeat(3, 1)
    f = _features(inst, rgb).loc[1]
    q = (np.floor(rgb[10:25, 12:30, 0] * 0.299 + rgb[10:25, 12:30, 1] * 0.587 + rgb[10:25, 12:30, 2] * 0.114)
         .astype(int) // 32)
    p = graycomatrix(q.astype(np.uint8), [1], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=8,
                     symmetric=True, normed=True)
    for k in ("contrast", "homogeneity", "energy", "correlation"):
        assert f[f"glcm_{k}"] == pytest.approx(graycoprops(p, k).mean()), k
    flat = np.zeros((40, 40, 3), np.uint8)
    flat[inst == 1] = 40  # one grey level (1) inside, 0 outside
    g = _features(inst, flat).loc[1]
    assert g["glcm_contrast"] == 0 and g["glcm_energy"] == pytest.approx(1.0)


def test_curvature_short_contour_is_zero():
    m = np.zeros((5, 5), bool)
    m[2, 2] = True
    assert np.all(curvature(m, 5) == 0)


def test_types_filter_and_heterogeneity_per_type():
    inst = np.zeros((60, 120), int)
    for i, x in enumerate(range(10, 110, 20), start=1):
        inst[20:20 + 4 + 2 * i, x:x + 8] = i
    types = {1: 1, 2: 1, 3: 2, 4: 2, 5: 4}  # type 4 (dead) is not measured by default
    f = nucleus_features(inst, types, np.full((60, 120, 3), 128, np.uint8), mpp=None, settings=S)
    assert sorted(f["type"]) == [1, 1, 2, 2]
    ith = heterogeneity(f, (1, 2, 3))["area_ith"]
    sd1, sd2 = np.std(f.loc[f.type == 1, "area"]), np.std(f.loc[f.type == 2, "area"])
    assert ith == pytest.approx((sd1 + sd2) / 2)
    f["patient_id"] = "p"
    row = aggregate(f, ["patient_id"], S, (1, 2, 3)).iloc[0]
    assert row["n_nuclei"] == 4 and row["frac_neoplastic"] == 0.5 and row["n_inflammatory"] == 2
    assert row["area_mean"] == pytest.approx(f["area"].mean())
    assert row["area_cv"] == pytest.approx(f["area"].std() / f["area"].mean())
    assert row["area_q50"] == pytest.approx(f["area"].median())


def test_classical_segmenter_counts_separate_discs():
    yy, xx = _grid(120, 120)
    centres = [(20, 20), (20, 70), (60, 40), (95, 95), (90, 25)]
    rgb = np.empty((120, 120, 3), np.uint8)
    rgb[:] = (235, 180, 210)  # eosin-pink background
    for cy, cx in centres:
        rgb[(yy - cy) ** 2 + (xx - cx) ** 2 <= 7 ** 2] = (60, 40, 120)  # haematoxylin purple
    inst = classical_nuclei(rgb, radius_px=5)
    assert inst.max() == len(centres)
    for cy, cx in centres:
        assert inst[cy, cx] > 0


def test_classical_segmenter_on_real_stained_tissue():
    img = data.immunohistochemistry()[:256, :256]
    inst = classical_nuclei(img, radius_px=4)
    f = nucleus_features(inst, {}, img, mpp=None, settings=S)
    assert 20 < len(f) < 1000
    assert 20 < f["area"].median() < 400  # pixels: nuclei of a few micrometres
    assert f["intensity_mean"].mean() < np.floor(img @ [0.299, 0.587, 0.114]).mean()  # nuclei are darker


def test_owned_nuclei_counted_once_across_overlapping_tiles():
    from thyromics.pathology.morphometry import owned_nuclei
    from thyromics.pathology.settings import TileSettings
    from thyromics.pathology.slides import Slide, tile_grid

    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w]
    rng = np.random.default_rng(3)
    slide_inst = np.zeros((h, w), int)
    centres = []
    for cy in range(15, h - 10, 24):
        for cx in range(15, w - 10, 24):
            cy2, cx2 = cy + rng.integers(-3, 4), cx + rng.integers(-3, 4)
            centres.append((cx2, cy2))
            slide_inst[(yy - cy2) ** 2 + (xx - cx2) ** 2 <= 6 ** 2] = len(centres)
    rgb = np.where(slide_inst[..., None] > 0, 80, 220).astype(np.uint8).repeat(3, 2)
    slide = Slide(None, mpp=0.5, objective=None, dimensions=[(w, h)], downsamples=[1.0],
                  reader=lambda x, y, lv, ww, hh: rgb[y:y + hh, x:x + ww])
    tiles, n_grid = tile_grid(slide, TileSettings(tile_size=128, overlap=32, min_tissue=0),
                              np.ones((h, w), bool), 1.0)
    assert len(tiles) == n_grid > 4
    found = []
    for t in tiles:
        inst = slide_inst[t.y0:t.y0 + t.h0, t.x0:t.x0 + t.w0]
        from thyromics.pathology.nuclei_io import relabel
        inst, _ = relabel(inst, {}, 1)
        table = nucleus_features(inst, {}, rgb[t.y0:t.y0 + t.h0, t.x0:t.x0 + t.w0], mpp=None, settings=S,
                                 offset=(t.x0, t.y0))
        owned, cut = owned_nuclei(table, inst, t, (w, h))
        assert cut == 0
        found += list(zip(owned["centroid_x"].round(6), owned["centroid_y"].round(6)))
    assert len(found) == len(centres) == len(set(found))
    assert sorted(found) == sorted((float(x), float(y)) for x, y in centres)


def test_spatial_statistics_against_circle_geometry():
    """12 tumour nuclei on a circle of radius R: every distance to the centroid is R (SD
    0), and each nucleus' 5 nearest neighbours lie at chords 2R sin(pi j / 12) for
    j = 1, 1, 2, 2, 3. A second slide's far-away nuclei must not mix into the first's."""

    from thyromics.pathology.aggregate import spatial

    R, n = 50.0, 12
    ang = 2 * np.pi * np.arange(n) / n
    one = pd.DataFrame({"slide_id": "s1", "type": 1, "centroid_x": 1000 + R * np.cos(ang),
                        "centroid_y": 500 + R * np.sin(ang), "circularity": 0.9})
    other = one.assign(slide_id="s2", centroid_x=one.centroid_x + 1e5, circularity=0.5)
    stroma = one.assign(type=3, centroid_x=one.centroid_x * 3)  # not tumour: ignored
    chord = [2 * R * np.sin(np.pi * j / n) for j in (1, 1, 2, 2, 3)]
    s = spatial(pd.concat([one, other, stroma]))
    assert s["spatial_centroid_dist_sd_px"] == pytest.approx(0, abs=1e-9)
    assert s["spatial_knn5_mean_px"] == pytest.approx(np.mean(chord), rel=1e-12)
    assert s["frac_circularity_lt_0_7"] == pytest.approx(0.5)
    # a line of 3 nuclei 10 px apart: distances to the centroid 10, 0, 10
    line = pd.DataFrame({"slide_id": "s", "type": 0, "centroid_x": [0.0, 10, 20],
                         "centroid_y": 0.0, "circularity": 1.0})
    s = spatial(line)
    assert s["spatial_centroid_dist_sd_px"] == pytest.approx(np.std([10, 0, 10], ddof=1))
    assert s["spatial_centroid_dist_cv"] == pytest.approx(np.std([10, 0, 10], ddof=1) / (20 / 3))
    assert np.isnan(s["spatial_knn5_mean_px"])  # fewer than 6 nuclei
