"""Smoke tests of the deep stage on real data (8 DDTI cases, a few LIDC nodules)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import need_module  # noqa: E402

need_module("torch")


def _subset(src_dir, tmp_path, n_per_class: int, name: str):
    df = pd.read_csv(src_dir / "cases.csv", dtype=str)
    df = df[df["label"].notna()]
    sub = pd.concat([df[df["label"] == "0"].head(n_per_class), df[df["label"] == "1"].head(n_per_class)])
    sub = sub[["case_id", "patient_id", "image", "mask", "label"]].copy()
    for c in ("image", "mask"):
        sub[c] = [str(src_dir / p) for p in sub[c]]
    path = tmp_path / name
    sub.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_ddti_two_epochs_end_to_end(ddti_dir, tmp_path):
    from thyromics.deep.embed import embed_manifest
    from thyromics.deep.gradcam import gradcam_manifest
    from thyromics.deep.settings import AugmentSettings, DataSettings, TrainSettings
    from thyromics.deep.train import fit_classifier, predict_classifier

    manifest = _subset(ddti_dir, tmp_path, 4, "ddti8.csv")
    s = TrainSettings(network="cnn", network_options={"channels": (4, 8)}, epochs=2, batch_size=4,
                      learning_rate=1e-3, val_fraction=0.34, data=DataSettings(size_2d=(48, 48)),
                      augment=AugmentSettings(prob=0.5))
    res = fit_classifier(manifest, s, tmp_path / "m", progress=False)
    assert len(res.history) == 2 and all(np.isfinite(h["train_loss"]) for h in res.history)
    split = pd.read_csv(tmp_path / "m" / "split.csv")
    assert set(split["split"]) == {"train", "val"}
    by_patient = split.groupby("patient_id")["split"].nunique()
    assert (by_patient == 1).all()  # no patient on both sides
    pred, errors = predict_classifier(tmp_path / "m", manifest, device="cpu", progress=False)
    assert len(pred) == 8 and pred["probability"].between(0, 1).all() and not errors
    feats, _ = embed_manifest(tmp_path / "m", manifest, device="cpu", progress=False)
    n_train = int((split["split"] == "train").sum())
    assert feats.shape == (8, 1 + min(128, n_train - 1, 8))
    paths, _ = gradcam_manifest(tmp_path / "m", manifest, tmp_path / "cams", device="cpu", progress=False)
    assert len(paths) == 8 and all(p.exists() for p in paths)


def test_ddti_empty_mask_is_reported_not_fatal(ddti_dir, tmp_path):
    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.settings import DataSettings

    df = pd.read_csv(ddti_dir / "cases.csv", dtype=str)
    sub = df[df["case_id"].isin(["384_1(2)", "100_1(1)"])].copy()
    for c in ("image", "mask"):
        sub[c] = [str(ddti_dir / p) for p in sub[c]]
    sub.to_csv(tmp_path / "c.csv", index=False)
    s = build_samples(read_cases(tmp_path / "c.csv"), DataSettings(size_2d=(32, 32)))
    assert s.case_ids == ["100_1(1)"]
    assert [e[0] for e in s.errors] == ["384_1(2)"]


def test_lidc_patches_are_centred(lidc_dir, tmp_path):
    from thyromics.deep._io import read_cases
    from thyromics.deep.data import build_samples
    from thyromics.deep.settings import DataSettings

    manifest = _subset(lidc_dir, tmp_path, 2, "lidc4.csv")
    s = build_samples(read_cases(manifest), DataSettings(spatial_dims=3, window=(-1000, 400)))
    assert s.images.shape == (4, 1, 32, 48, 48) and not s.errors
    for m in s.masks[:, 0]:
        box = [np.nonzero(m.any(axis=tuple(a for a in range(3) if a != ax)))[0] for ax in range(3)]
        centre = [(b.min() + b.max()) / 2 for b in box]
        np.testing.assert_allclose(centre, (16, 24, 24), atol=1.0)
