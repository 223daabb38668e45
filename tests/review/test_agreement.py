"""Agreement between masks: hand-made masks, ICC against R, the CLI end to end, DDTI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage
from scipy import ndimage
from typer.testing import CliRunner

from thyromics.cli import app
from thyromics.io import read_mask
from thyromics.review.agreement import (bland_altman, compare_masks, describe, group_tests,
                                        modification_class)
from thyromics.review.icc import icc2_1
from thyromics.review.run_agreement import run_agreement

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "icc"


def naive_dice(a, b) -> float:
    a, b = np.asarray(a) != 0, np.asarray(b) != 0
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


# ----------------------------------------------------------------- per case
def test_shifted_square_dice_point_nine():
    a = np.zeros((20, 20), np.uint8)
    a[5:15, 5:15] = 1  # 100 px
    b = np.roll(a, 1, axis=1)  # 90 px overlap: Dice 180 / 200 = 0.9 exactly
    r = compare_masks(a, b, spacing=(0.5, 2.0))  # ITK order: 1 mm^2 a pixel
    assert r["dice"] == 0.9 and r["iou"] == pytest.approx(90 / 110)
    assert r["modified"] and r["modification_class"] == "moderate" and r["acceptable"]
    assert (r["volume_a"], r["volume_b"], r["volume_change"]) == (100.0, 100.0, 0.0)
    assert r["volume_unit"] == "mm^2" and r["hd95"] == pytest.approx(0.5)  # one column of 0.5 mm


def test_grown_mask_volume_change_and_minor_class():
    a = np.zeros((4, 10, 10), np.uint8)
    a[1:3, 2:7, 2:7] = 1  # 50 voxels
    b = a.copy()
    b[1:3, 7, 2:7] = 1  # +10 voxels
    r = compare_masks(a, b, spacing=(1.0, 1.0, 2.5))
    assert r["dice"] == pytest.approx(100 / 110) and r["modification_class"] == "minor"
    assert (r["volume_a"], r["volume_b"]) == (125.0, 150.0) and r["volume_unit"] == "mm^3"
    assert r["volume_change_pct"] == pytest.approx(20.0)


def test_identical_and_empty_masks():
    a = np.zeros((8, 8), np.uint8)
    a[2:5, 2:5] = 1
    same = compare_masks(a, a * 255, (1.0, 1.0))  # 0/1 vs 0/255 is the same mask
    assert not same["modified"] and same["modification_class"] == "none" and same["dice"] == 1.0
    gone = compare_masks(a, np.zeros_like(a), (1.0, 1.0))
    assert gone["dice"] == 0.0 and gone["modification_class"] == "major" and not gone["acceptable"]
    assert math.isnan(gone["hd95"])
    both = compare_masks(np.zeros_like(a), np.zeros_like(a), (1.0, 1.0))
    assert both["modification_class"] == "none" and both["acceptable"] and math.isnan(both["dice"])


@pytest.mark.parametrize("dice, modified, expected", [
    (1.0, False, "none"), (0.95, True, "minor"), (np.nextafter(0.9, 1.0), True, "minor"),
    (0.9, True, "moderate"), (np.nextafter(0.7, 1.0), True, "moderate"), (0.7, True, "major"),
    (0.0, True, "major")])
def test_modification_class_boundaries(dice, modified, expected):
    assert modification_class(dice, modified) == expected


def test_dice_point_seven_from_masks_is_major():
    a = np.zeros(20, np.uint8)
    b = np.zeros(20, np.uint8)
    a[0:10], b[3:13] = 1, 1  # 7 shared of 10 + 10: Dice 0.7 exactly
    r = compare_masks(a.reshape(4, 5), b.reshape(4, 5), (1.0, 1.0))
    assert r["dice"] == 0.7 and r["modification_class"] == "major" and not r["acceptable"]


# ----------------------------------------------------------------- summary statistics
def test_bland_altman_by_hand():
    ba = bland_altman([10, 20, 30, 40], [12, 18, 33, 41])  # differences 2, -2, 3, 1
    sd = math.sqrt(14 / 3)
    assert ba["bias"] == 1.0 and ba["sd"] == pytest.approx(sd)
    assert (ba["loa_low"], ba["loa_high"]) == pytest.approx((1 - 1.96 * sd, 1 + 1.96 * sd))
    assert ba["pct_within"] == 100.0 and ba["n"] == 4


def test_describe_t_interval():
    d = describe([0.8, 0.9, 1.0, float("nan")], "dice")
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, df=2) from tables
    assert d["dice_n"] == 3 and d["dice_mean"] == pytest.approx(0.9) and d["dice_sd"] == pytest.approx(0.1)
    assert (d["dice_ci_low"], d["dice_ci_high"]) == pytest.approx((0.9 - half, 0.9 + half))
    assert (d["dice_q1"], d["dice_median"], d["dice_q3"]) == pytest.approx((0.85, 0.9, 0.95))


def test_group_tests_exact_p_values():
    per_case = pd.DataFrame({
        "case_id": [f"c{i}" for i in range(6)] * 2,
        "comparison": ["x"] * 6 + ["y"] * 6,
        "dice": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] + [0.15, 0.3, 0.45, 0.6, 0.75, 0.91],
        "centre": ["A", "A", "A", "B", "B", "B"] * 2,
    })
    t = group_tests(per_case, "centre")
    paired = t[t["test"].str.startswith("Wilcoxon")].iloc[0]
    assert paired["p_value"] == pytest.approx(2 / 2 ** 6)  # all 6 paired differences positive
    mw = t[(t["comparison"] == "x") & t["test"].str.startswith("Mann")].iloc[0]
    assert mw["p_value"] == pytest.approx(2 / 20)  # complete separation, 3 vs 3: 2 of C(6,3)
    assert mw["effect"] == pytest.approx(-0.3 / 0.1)  # Cohen's d: means 0.2 vs 0.5, pooled SD 0.1


# ----------------------------------------------------------------- ICC against R
def _fixture():
    data = pd.read_csv(FIXTURES / "icc_data.csv")
    ref = pd.read_csv(FIXTURES / "icc_reference.csv")
    return data, ref[ref["type"] == "ICC2"].set_index("dataset")


@pytest.mark.parametrize("dataset", ["shrout_fleiss", "seeded"])
def test_icc_matches_r_psych(dataset):
    data, ref = _fixture()
    wide = data[data["dataset"] == dataset].pivot(index="target", columns="rater", values="rating")
    got = icc2_1(wide.to_numpy())
    want = ref.loc[dataset]
    for mine, theirs in (("icc", "icc"), ("f", "f"), ("p", "p"), ("lower", "lower"),
                         ("upper", "upper"), ("df1", "df1"), ("df2", "df2")):
        assert got[mine] == pytest.approx(float(want[theirs]), rel=1e-7, abs=1e-12), mine


def test_icc_published_shrout_fleiss_value():
    data, _ = _fixture()
    wide = data[data["dataset"] == "shrout_fleiss"].pivot(index="target", columns="rater", values="rating")
    assert round(icc2_1(wide.to_numpy())["icc"], 2) == 0.29  # Shrout & Fleiss 1979, Table 4


def test_icc_vectorised_and_constant_features():
    rng = np.random.default_rng(1)
    cube = rng.normal(size=(12, 3, 4))
    cube[:, :, 2] = 7.0  # no variance: undefined
    res = icc2_1(cube)
    for j in (0, 1, 3):
        assert res["icc"][j] == pytest.approx(icc2_1(cube[:, :, j])["icc"])
    assert math.isnan(res["icc"][2]) and math.isnan(res["lower"][2])


# ----------------------------------------------------------------- the command
def _disk(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8)


def make_two_reader_study(root: Path, n: int = 6) -> Path:
    """``n`` 2D cases; reader 2's disk is shifted and resized by a known amount; the last
    row has no reader-2 mask (an error row)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    rows = ["case_id,image,mask,reader2,centre"]
    for i in range(n):
        r = 6 + i
        a = _disk((48, 48), 24, 24, r)
        b = _disk((48, 48), 24, 24 + i % 3, r + (i % 2))
        img = (rng.random((48, 48)) * 50 + 80 + 70 * a + 20 * _disk((48, 48), 20, 22, 3)).astype(np.uint8)
        PILImage.fromarray(img).save(root / f"i{i}.png")
        PILImage.fromarray(a * 255).save(root / f"a{i}.gif")
        PILImage.fromarray(b * 255).save(root / f"b{i}.gif")
        rows.append(f"c{i},i{i}.png,a{i}.gif,b{i}.gif,{'A' if i < n // 2 else 'B'}")
    PILImage.fromarray(img).save(root / "lost.png")
    PILImage.fromarray(a * 255).save(root / "lost.gif")
    rows.append("lost,lost.png,lost.gif,,B")
    (root / "cases.csv").write_text("\n".join(rows) + "\n")
    return root / "cases.csv"


def test_agreement_command_end_to_end(tmp_path):
    manifest = make_two_reader_study(tmp_path / "study")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["agreement", str(manifest), "--masks", "mask", "--masks", "reader2",
                                   "-o", str(out), "--original-only", "--group", "centre"])
    assert res.exit_code == 0, res.output
    assert "mask vs reader2: Dice" in res.output
    per_case = pd.read_csv(out / "per_case.csv")
    assert list(per_case["case_id"]) == [f"c{i}" for i in range(6)]
    for row in per_case.itertuples():
        i = int(row.case_id[1:])
        a = read_mask(manifest.parent / f"a{i}.gif").array
        b = read_mask(manifest.parent / f"b{i}.gif").array
        assert row.dice == pytest.approx(naive_dice(a, b))
        assert (row.volume_a, row.volume_b) == (a.sum(), b.sum())
        assert row.modified == bool((a != b).any())
    errors = pd.read_csv(out / "errors.csv")
    assert errors["case_id"].tolist() == ["lost"] and "empty cell" in errors["error"].iloc[0]
    summary = pd.read_csv(out / "summary.csv").iloc[0]
    assert summary["n"] == 6 and summary["dice_mean"] == pytest.approx(per_case["dice"].mean())
    assert summary["n_none"] + summary["n_minor"] + summary["n_moderate"] + summary["n_major"] == 6
    tests = pd.read_csv(out / "group_tests.csv")
    assert tests["test"].tolist() == ["Mann-Whitney U (two-sided)"] and 0 < tests["p_value"].iloc[0] <= 1
    icc = pd.read_csv(out / "feature_icc.csv")
    assert len(icc) > 50 and icc["n_cases"].max() == 6
    # the area feature's ICC is the ICC of the two readers' pixel counts
    areas = np.array([[read_mask(manifest.parent / f"{s}{i}.gif").array.sum() for s in "ab"] for i in range(6)])
    area_row = icc.set_index("feature").loc["original_shape2D_PixelSurface"]
    assert area_row["icc"] == pytest.approx(icc2_1(areas)["icc"])
    info = json.loads((out / "summary.json").read_text())
    assert sorted(info["not_reproducible"]) == sorted(icc.loc[icc["icc"] < 0.75, "feature"])
    for png in ("agreement.png", "bland_altman_1.png"):
        with PILImage.open(out / png) as im:
            assert im.width > 200
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["feature_settings"]["log_sigmas"] == [] and "c0" in prov["mask_sha256"]


def test_agreement_in_parallel_gives_the_same_tables(tmp_path):
    manifest = make_two_reader_study(tmp_path / "study")
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        res = CliRunner().invoke(app, ["agreement", str(manifest), "--masks", "mask", "--masks",
                                       "reader2", "-o", str(out), "--original-only", "--jobs", jobs])
        assert res.exit_code == 0, res.output
        outs.append(out)
    for name in ("per_case.csv", "feature_icc.csv", "errors.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(outs[0] / name), pd.read_csv(outs[1] / name))


def test_agreement_with_a_readers_review_output(tmp_path):
    """The review tool's per-reader cases.csv feeds the agreement command (FILE.csv:COLUMN)."""
    from thyromics.review.state import ReaderState
    from thyromics.review.cases import load_study

    manifest = make_two_reader_study(tmp_path / "study", n=3)
    state = ReaderState(load_study(manifest), tmp_path / "review", "alice")
    edited = read_mask(manifest.parent / "a1.gif").array.copy()
    edited[:5, :5] = 1
    state.record("c0", "accept")
    state.record("c1", "correct", mask=edited)
    result = run_agreement(manifest, ["mask", f"{state.manifest_path}:reviewed_mask"], tmp_path / "out",
                           preset=None)
    assert result.summary["comparison"].tolist() == ["mask vs alice:reviewed_mask"]
    rows = pd.read_csv(tmp_path / "out" / "per_case.csv").set_index("case_id")
    assert rows.loc["c0", "dice"] == 1.0 and not rows.loc["c0", "modified"]
    assert rows.loc["c1", "dice"] == pytest.approx(naive_dice(read_mask(manifest.parent / "a1.gif").array, edited))
    assert set(rows.index) == {"c0", "c1"}  # c2 not reviewed, "lost" has no mask: errors
    assert set(pd.read_csv(tmp_path / "out" / "errors.csv")["case_id"]) == {"c2", "lost"}


def test_bad_mask_sources_are_refused(tmp_path):
    manifest = make_two_reader_study(tmp_path / "study", n=2)
    runner = CliRunner()
    res = runner.invoke(app, ["agreement", str(manifest), "--masks", "mask", "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "at least two" in res.output
    res = runner.invoke(app, ["agreement", str(manifest), "--masks", "mask", "--masks", "reader3",
                              "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no such column" in res.output


# ----------------------------------------------------------------- real data
@pytest.mark.realdata
def test_ddti_proposal_vs_eroded_correction(ddti_dir, tmp_path):
    """Four DDTI masks against a 'correction' eroded by 2 px: known-direction changes."""
    cases = pd.read_csv(ddti_dir / "cases.csv").head(6)
    rows = ["case_id,image,mask,corrected"]
    for rec in cases.itertuples():
        mask = read_mask(ddti_dir / rec.mask).array
        if not mask.any():
            continue
        eroded = ndimage.binary_erosion(mask, iterations=2).astype(np.uint8) * 255
        name = f"{rec.case_id}_eroded.gif"
        PILImage.fromarray(eroded).save(tmp_path / name)
        rows.append(f"{rec.case_id},{(ddti_dir / rec.image).resolve()},{(ddti_dir / rec.mask).resolve()},{name}")
        if len(rows) == 5:
            break
    (tmp_path / "cases.csv").write_text("\n".join(rows) + "\n")
    result = run_agreement(tmp_path / "cases.csv", ["mask", "corrected"], tmp_path / "out", original_only=True)
    per_case = pd.read_csv(tmp_path / "out" / "per_case.csv")
    assert result.n_ok == 4 and not result.errors
    assert (per_case["volume_change"] < 0).all() and per_case["modified"].all()
    for row in per_case.itertuples():
        a = read_mask(ddti_dir / "masks" / f"{row.case_id}.gif").array
        b = read_mask(tmp_path / f"{row.case_id}_eroded.gif").array
        assert row.dice == pytest.approx(naive_dice(a, b))
    icc = result.feature_icc.set_index("feature")
    assert icc.loc["original_shape2D_PixelSurface", "icc"] > 0.9  # erosion keeps the order of sizes
    with open(tmp_path / "out" / "feature_icc.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(icc)
