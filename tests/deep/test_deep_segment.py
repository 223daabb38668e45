"""Segmentation: training on synthetic disks, inference geometry, post-processing, metrics."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need_module  # noqa: E402
torch = need_module("torch")

from thyromics.deep.segment import (agreement, postprocess, predict_probability_map,  # noqa: E402
                                    predict_segmentation, train_segmenter)
from thyromics.deep.settings import SegmentSettings  # noqa: E402
from thyromics.io.image import Image  # noqa: E402


def disk_pairs(n: int, seed: int, size: int = 32):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    x, y = [], []
    for _ in range(n):
        cy, cx = rng.uniform(10, size - 10, 2)
        r = rng.uniform(4, 7)
        m = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.float32)
        x.append(np.clip(0.2 + 0.5 * m + 0.05 * rng.standard_normal((size, size)), 0, 1))
        y.append(m)
    return np.array(x, np.float32)[:, None], np.array(y, np.float32)[:, None]


def test_cbam_unet_learns_disks(tmp_path):
    s = SegmentSettings(network="cbam_unet", network_options={"channels": (4, 8)}, size_2d=(32, 32),
                        epochs=5, batch_size=4, learning_rate=1e-2, patience=50, seed=0)
    res = train_segmenter(disk_pairs(12, 0), disk_pairs(4, 1), s, tmp_path, progress=False)
    losses = [h["train_loss"] for h in res.history]
    assert losses[-1] < losses[0]
    assert res.best_dice > 0.6
    assert (tmp_path / "model.pt").exists() and (tmp_path / "history.csv").exists()


class _Threshold(torch.nn.Module):
    """A 'network' whose logit is 40 (x - 0.5): the image itself, as a probability map."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(40.0))

    def forward(self, x):
        return self.w * (x - 0.5)


def test_sliding_window_keeps_the_input_geometry():
    spacing = (0.7, 0.7, 2.5)
    shape = (24, 70, 80)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    d2 = (x * 0.7 - 30) ** 2 + (y * 0.7 - 25) ** 2 + (z * 2.5 - 30) ** 2
    truth = (d2 <= 8.0 ** 2).astype(np.uint8)
    image = Image(np.where(truth, 300.0, -700.0).astype(np.float32), spacing, origin=(1.0, 2.0, 3.0))
    s = SegmentSettings(spatial_dims=3, patch_3d=(16, 32, 32), window=(-1000, 1000), overlap=0.25)
    prob = predict_probability_map(_Threshold(), image, s)
    assert prob.shape == shape
    mask, n = postprocess(prob, 0.5, 10)
    assert n == 1
    m = agreement(mask, truth, spacing)
    assert m["dice"] > 0.9 and m["hd95"] < 3.0


def test_postprocess_hand_example():
    p = np.zeros((6, 8))
    p[0, 0] = 0.9            # 1 pixel
    p[2:4, 2:5] = 0.8        # 6 pixels
    p[5, 7] = 0.4            # below the threshold
    mask, n = postprocess(p, 0.5, 3)
    assert n == 1 and mask.sum() == 6 and mask[0, 0] == 0


def test_predict_segmentation_writes_masks_in_the_input_format(tmp_path):
    import SimpleITK as sitk

    from thyromics.deep._loop import save_model
    from thyromics.deep.settings import settings_to_dict

    # a 2D PNG case and its reference mask
    img = np.full((40, 50), 40, np.uint8)
    img[10:20, 15:30] = 220
    ref = (img > 100).astype(np.uint8) * 255
    sitk.WriteImage(sitk.GetImageFromArray(img), str(tmp_path / "a.png"))
    sitk.WriteImage(sitk.GetImageFromArray(ref), str(tmp_path / "a_mask.png"))
    (tmp_path / "cases.csv").write_text("case_id,patient_id,image,mask\nA,p1,a.png,a_mask.png\n"
                                        "B,p2,missing.png,a_mask.png\n")
    # an untrained 2-level CBAM U-Net: this test is about files, formats and geometry
    s = SegmentSettings(network="cbam_unet", network_options={"channels": (4, 8)}, size_2d=(32, 32),
                        epochs=1, window=(0, 255))
    net_dir = tmp_path / "model"
    net_dir.mkdir()
    from thyromics.deep.nets import build_network

    net = build_network("cbam_unet", spatial_dims=2, out_channels=1, channels=(4, 8))
    save_model(net_dir / "model.pt", net, {"network": "cbam_unet", "task": "segment", "spatial_dims": 2,
                                           "in_channels": 1, "out_channels": 1, "img_size": None,
                                           "options": {"channels": (4, 8)}, "settings": settings_to_dict(s)})
    df, errors = predict_segmentation(net_dir, tmp_path / "cases.csv", tmp_path / "out", device="cpu",
                                      progress=False)
    assert [e[0] for e in errors] == ["B"]
    assert list(df["case_id"]) == ["A"]
    written = sitk.ReadImage(df["mask_path"][0])
    assert df["mask_path"][0].endswith(".png") and written.GetSize() == (50, 40)
    assert set(np.unique(sitk.GetArrayFromImage(written))) <= {0, 255}
    assert {"dice", "iou", "hd95"} <= set(df.columns)


def test_predict_3d_writes_nifti_with_geometry(tmp_path):
    import SimpleITK as sitk

    from thyromics.deep._io import write_mask_like

    ref = Image(np.zeros((5, 6, 7), np.float32), (0.7, 0.8, 2.5), origin=(1.0, -2.0, 3.0),
                direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    m = np.zeros((5, 6, 7), np.uint8)
    m[2, 3, 4] = 1
    p = write_mask_like(m, ref, tmp_path / "x.nii.gz")
    back = sitk.ReadImage(str(p))
    assert back.GetSpacing() == pytest.approx((0.7, 0.8, 2.5))
    assert back.GetOrigin() == pytest.approx((1.0, -2.0, 3.0))
    assert back.GetDirection() == pytest.approx((0, 1, 0, 1, 0, 0, 0, 0, 1))
    assert sitk.GetArrayFromImage(back)[2, 3, 4] == 1 and sitk.GetArrayFromImage(back).sum() == 1


def test_grouped_split_never_uses_test_rows():
    from thyromics.deep.segment import _grouped_split

    pids = [f"p{i // 2}" for i in range(20)]
    tr, va = _grouped_split(pids, [None] * 20, 0.25, 0)
    assert not {pids[i] for i in tr} & {pids[i] for i in va} and len(tr) + len(va) == 20
    splits = ["train"] * 14 + ["test"] * 6
    tr, va = _grouped_split(pids, splits, 0.25, 0)
    assert set(tr) | set(va) == set(range(14))
    assert not {pids[i] for i in tr} & {pids[i] for i in va}
