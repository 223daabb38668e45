"""Seeded training on a separable synthetic set, resuming, pretrained weights, class weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import need_module  # noqa: E402
torch = need_module("torch")

from thyromics.deep._loop import load_pretrained, train_step  # noqa: E402
from thyromics.deep.data import LesionSamples  # noqa: E402
from thyromics.deep.nets import build_network  # noqa: E402
from thyromics.deep.settings import (AugmentSettings, DataSettings, TrainSettings,  # noqa: E402
                                     settings_from_dict)
from thyromics.deep.train import (class_weights, load_classifier, predict_probabilities,  # noqa: E402
                                  split_train_val, train_classifier)
from thyromics.errors import InputError  # noqa: E402


def disks(n: int, seed: int, size: int = 16) -> LesionSamples:
    """Bright (label 1) vs dark (label 0) disks at random positions on a noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    imgs, masks, labels = [], [], []
    for i in range(n):
        y = i % 2
        cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < (size / 4) ** 2
        img = 0.2 + 0.05 * rng.standard_normal((size, size))
        img[disk] = 0.8 if y else 0.35
        imgs.append(img.clip(0, 1))
        masks.append(disk)
        labels.append(y)
    return LesionSamples(np.array(imgs, np.float32)[:, None], np.array(masks, np.uint8)[:, None],
                         np.array(labels, float), [f"s{seed}_{i}" for i in range(n)],
                         [f"p{seed}_{i // 2}" for i in range(n)], [None] * n)


def tiny_settings(**kw) -> TrainSettings:
    base = dict(network="cnn", network_options={"channels": (4, 8)}, epochs=6, batch_size=8,
                learning_rate=1e-2, patience=50, data=DataSettings(size_2d=(16, 16)),
                augment=AugmentSettings(enabled=False), seed=3)
    return TrainSettings(**(base | kw))


def test_training_reduces_the_loss_and_separates(tmp_path):
    res = train_classifier(disks(32, 1), disks(16, 2), tiny_settings(), tmp_path, progress=False)
    losses = [h["train_loss"] for h in res.history]
    assert len(losses) == 6
    assert losses[-1] < 0.8 * losses[0]
    assert res.best_auc > 0.9
    for f in ("model.pt", "checkpoint.pt", "settings.json", "history.csv"):
        assert (tmp_path / f).exists()
    assert settings_from_dict(json.loads((tmp_path / "settings.json").read_text())) == tiny_settings()
    model, settings = load_classifier(tmp_path, "cpu")
    p = predict_probabilities(model, disks(16, 9).images, torch.device("cpu"))
    assert p.shape == (16,) and ((p > 0.5) == (np.arange(16) % 2 == 1)).mean() > 0.8


def test_training_is_reproducible_and_resumes_exactly(tmp_path):
    s = tiny_settings(epochs=4, augment=AugmentSettings(prob=0.5), network_options={"channels": (4, 8),
                                                                                     "dropout": 0.3})
    train, val = disks(24, 1), disks(8, 2)
    full = train_classifier(train, val, s, tmp_path / "full", progress=False)
    # interrupted after 2 epochs, then resumed to 4
    train_classifier(train, val, tiny_settings(**{**s.__dict__, "epochs": 2}), tmp_path / "cut", progress=False)
    resumed = train_classifier(train, val, s, tmp_path / "cut", progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    np.testing.assert_allclose([h["train_loss"] for h in resumed.history],
                               [h["train_loss"] for h in full.history], rtol=1e-5)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_early_stopping_stops(tmp_path):
    # a learning rate of ~0 cannot improve anything after epoch 1
    res = train_classifier(disks(16, 1), disks(8, 2), tiny_settings(epochs=20, patience=2, learning_rate=1e-12),
                           tmp_path, progress=False)
    assert res.stopped_early and len(res.history) < 20


def test_pretrained_weights_from_a_local_file(tmp_path):
    net = build_network("cnn", spatial_dims=2, channels=(4, 8))
    torch.nn.init.constant_(net.fc.weight, 0.25)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    fresh = build_network("cnn", spatial_dims=2, channels=(4, 8))
    load_pretrained(fresh, tmp_path / "w.pt")
    assert torch.equal(fresh.fc.weight, net.fc.weight)
    # wrapped in {"state_dict": ...} also works; a 3-class head is skipped with exclude
    torch.save({"state_dict": net.state_dict()}, tmp_path / "w2.pt")
    other = build_network("cnn", spatial_dims=2, out_channels=3, channels=(4, 8))
    with pytest.raises(InputError, match=r"fc\.weight: file \(2, 8\) vs model \(3, 8\)"):
        load_pretrained(other, tmp_path / "w2.pt")
    load_pretrained(other, tmp_path / "w2.pt", exclude=("fc.",))
    assert torch.equal(other.features.conv1.conv.weight, net.features.conv1.conv.weight)
    wrong = build_network("cnn", spatial_dims=2, channels=(4, 8, 8))
    with pytest.raises(InputError, match=r"missing keys \[features\.conv3"):
        load_pretrained(wrong, tmp_path / "w.pt")
    with pytest.raises(InputError, match="never downloaded"):
        load_pretrained(fresh, tmp_path / "absent.pt")
    # through the training settings
    res = train_classifier(disks(16, 1), disks(8, 2), tiny_settings(epochs=1, pretrained=str(tmp_path / "w.pt"),
                                                                    learning_rate=1e-12), tmp_path / "o",
                           progress=False)
    assert res.history


def test_train_step_is_one_gradient_step_and_returns_the_summed_loss():
    # y_hat = w x, loss = mean (w x - y)^2 over the batch: with w = 1, x = (1, 2, 3),
    # y = (0, 0, 0): loss = 14 / 3, dloss/dw = 2 mean(x (w x - y)) = 28 / 3
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(model.weight, 1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.tensor([[1.0], [2.0], [3.0]])
    y = torch.zeros(3, 1)
    total = train_step(model, optimizer, torch.nn.MSELoss(), x, y, torch.device("cpu"))
    assert total == pytest.approx(14.0)  # the mean loss 14 / 3 times the 3 samples
    assert float(model.weight) == pytest.approx(1.0 - 0.1 * 28 / 3, abs=1e-6)
    # the gradient is cleared before each step: a second step uses only its own gradient
    w = float(model.weight)
    train_step(model, optimizer, torch.nn.MSELoss(), x, y, torch.device("cpu"))
    assert float(model.weight) == pytest.approx(w - 0.1 * 28 / 3 * w, abs=1e-6)


def test_class_weights_balanced():
    # sklearn's "balanced": n / (k * n_c) -> 8 / (2 * 6), 8 / (2 * 2)
    np.testing.assert_allclose(class_weights(np.array([0] * 6 + [1] * 2)), [8 / 12, 8 / 4])


def test_split_train_val_groups_patients():
    s = disks(40, 0)
    tr, va = split_train_val(s, 0.25, seed=1)
    assert set(tr).isdisjoint(va) and len(tr) + len(va) == 40
    assert not {s.patient_ids[i] for i in tr} & {s.patient_ids[i] for i in va}
    assert set(s.labels[va]) == {0.0, 1.0}
    s.splits = ["train"] * 30 + ["val"] * 6 + ["test"] * 4
    tr, va = split_train_val(s, 0.25, seed=1)
    assert list(tr) == list(range(30)) and list(va) == list(range(30, 36))
