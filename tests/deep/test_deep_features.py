"""Deep features (penultimate activations + PCA on training rows) and Grad-CAM."""

from __future__ import annotations

import numpy as np

from conftest import need_module  # noqa: E402
torch = need_module("torch")

from thyromics.deep.embed import DeepPCA, deep_feature_table, penultimate_activations  # noqa: E402
from thyromics.deep.gradcam import gradcam_maps, save_overlay  # noqa: E402
from thyromics.deep.nets import build_network  # noqa: E402


def _svd_projection(X_train: np.ndarray, X: np.ndarray, k: int) -> np.ndarray:
    """Naive PCA: top-k right singular vectors of the centred training matrix."""
    mu = X_train.mean(0)
    _, _, vt = np.linalg.svd(X_train - mu, full_matrices=False)
    return (X - mu) @ vt[:k].T


def test_pca_is_fitted_on_training_rows_only():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 12)) @ rng.standard_normal((12, 12))
    train = np.zeros(30, bool)
    train[:20] = True
    ids = [f"c{i}" for i in range(30)]
    df = deep_feature_table(ids, X, train, n_components=5)
    assert list(df.columns) == ["case_id"] + [f"deep_pca_{k}" for k in range(1, 6)]
    assert df.attrs["families"] == {f"deep_pca_{k}": "deep" for k in range(1, 6)}
    assert df.attrs["provenance"]["train_case_ids"] == ids[:20]
    ref = _svd_projection(X[:20], X, 5)
    got = df.iloc[:, 1:].to_numpy()
    np.testing.assert_allclose(np.abs(got), np.abs(ref), atol=1e-8)  # equal up to the sign of each axis
    # changing the non-training rows changes nothing about the training projection
    X2 = X.copy()
    X2[20:] = 100 * rng.standard_normal((10, 12))
    df2 = deep_feature_table(ids, X2, train, n_components=5)
    np.testing.assert_allclose(df2.iloc[:20, 1:].to_numpy(), got[:20], atol=1e-10)
    # ... whereas changing a training row does
    X3 = X.copy()
    X3[0] += 5
    assert not np.allclose(deep_feature_table(ids, X3, train, n_components=5).iloc[5:20, 1:], got[5:20])


def test_pca_component_count_rule():
    rng = np.random.default_rng(1)
    assert DeepPCA(n_components=128).fit(rng.random((10, 300))).n_components_ == 9   # n_train - 1
    assert DeepPCA(n_components=128).fit(rng.random((200, 50))).n_components_ == 50  # n_features
    assert DeepPCA(n_components=128).fit(rng.random((300, 200))).n_components_ == 128


def test_penultimate_activations_are_the_pooled_features():
    torch.manual_seed(0)
    net = build_network("cnn", spatial_dims=2, channels=(4, 6)).eval()
    x = torch.rand(5, 1, 16, 16)
    got = penultimate_activations(net, "cnn", x.numpy(), batch_size=2)
    with torch.no_grad():
        ref = net.features(x).mean(dim=(2, 3))
    assert got.shape == (5, 6)
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-6)


def test_gradcam_equals_the_class_activation_map_of_a_gap_network():
    """Conv features -> global average pool -> linear: Grad-CAM = ReLU(sum_k w_ck A_k) (Selvaraju 2017)."""
    torch.manual_seed(0)
    net = build_network("cnn", spatial_dims=2, channels=(6,)).eval()
    x = torch.rand(3, 1, 16, 16)
    maps = gradcam_maps(net, "cnn", x.numpy(), class_idx=1)
    assert maps.shape == (3, 16, 16) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    with torch.no_grad():
        A = net.features(x)  # (3, 6, 8, 8)
        cam = torch.relu(torch.einsum("k,nkyx->nyx", net.fc.weight[1], A))[:, None]
        cam = torch.nn.functional.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)[:, 0]
    flat = cam.reshape(3, -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    ref = ((flat - lo) / (hi - lo)).reshape(3, 16, 16).numpy()
    np.testing.assert_allclose(maps, ref, atol=1e-5)


def test_gradcam_3d_and_overlays(tmp_path):
    net = build_network("se_resnet", spatial_dims=3, stem_channels=4, channels=(4, 8, 8, 8)).eval()
    x = np.random.default_rng(0).random((2, 1, 8, 12, 12)).astype(np.float32)
    maps = gradcam_maps(net, "se_resnet", x)
    assert maps.shape == (2, 8, 12, 12) and 0 <= maps.min() and maps.max() <= 1
    mask = np.zeros((8, 12, 12), np.uint8)
    mask[3:6, 4:8, 4:8] = 1
    p3 = save_overlay(x[0, 0], maps[0], mask, tmp_path / "a3.png", "3D")
    p2 = save_overlay(x[0, 0, 4], maps[0, 4], mask[4], tmp_path / "a2.png")
    from PIL import Image as PILImage

    for p in (p2, p3):
        with PILImage.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 100
