"""The ``ith`` block end to end on a synthetic lesion, habitats and the command's API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thyromics.features.ith import (HabitatModel, IthSettings, ith_features, ithscore_li2022,
                                    lesion_habitats)
from thyromics.io.image import Image


def _case(seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.normal(0, 8, (10, 28, 28))
    arr[:, :, 14:] += 120
    zz, yy, xx = np.mgrid[:10, :28, :28]
    les = ((zz - 5) ** 2 / 16 + (yy - 14) ** 2 / 81 + (xx - 14) ** 2 / 81) <= 1
    return Image(arr, (0.8, 0.8, 2.0)), Image(les.astype(np.uint8), (0.8, 0.8, 2.0))


@pytest.mark.slow
def test_ith_features_columns_and_ranges():
    img, msk = _case()
    s = IthSettings(min_segments=8, voxels_per_segment=10_000)
    out = ith_features(img, msk, s)
    ited_cols = [k for k in out if k.startswith("iTED_")]
    assert len(ited_cols) == 93
    for k in ("ith_ITHscore3D_seed003", "ith_ITHscore_Li2022", "ith_habitat_simpson"):
        assert 0.0 <= out[k] <= 1.0
    assert out["ith_habitat_n"] >= 2  # two intensity halves -> at least two habitats
    assert all(k.startswith(("ith_", "iTED_")) for k in out)


def test_habitats_follow_intensity_and_population_model():
    img, msk = _case(1)
    les = msk.array > 0
    s = IthSettings(n_habitats=2, habitat_features=("firstorder_Mean",))
    h = lesion_habitats(img, les, s)
    left = h.labels[:, :, :12][les[:, :, :12]]
    right = h.labels[:, :, 17:][les[:, :, 17:]]
    assert len(np.unique(left)) == 1 and len(np.unique(right)) == 1 and left[0] != right[0]
    assert sum(h.fractions) == pytest.approx(1.0)
    # population model fitted on one case, applied to another
    from thyromics.features.ith import habitat_features

    m = HabitatModel(n_habitats=2).fit(habitat_features(img, les, s))
    img2, msk2 = _case(2)
    h2 = lesion_habitats(img2, msk2.array > 0, s, model=m)
    assert h2.k == 2
    with pytest.raises(RuntimeError, match="not fitted"):
        HabitatModel().predict(np.zeros((2, 1)))


def test_li2022_homogeneous_lesion_scores_low():
    arr = np.zeros((1, 20, 20))
    arr[0, :, 10:] = 200.0
    les = np.zeros((1, 20, 20), np.uint8)
    les[0, 4:16, 4:16] = 1
    score = ithscore_li2022(Image(arr, (1, 1, 1)), les > 0, IthSettings())
    assert 0.0 <= score < 0.9


def test_habitats_command_writes_outputs_and_records_bad_case(tmp_path):
    from thyromics.features.ith.run_habitats import run_habitats
    from thyromics.io import write_image

    rows = []
    for i in range(2):
        img, msk = _case(i)
        write_image(img, tmp_path / f"im{i}.nii.gz")
        write_image(msk, tmp_path / f"m{i}.nii.gz")
        rows.append({"case_id": f"c{i}", "image": f"im{i}.nii.gz", "mask": f"m{i}.nii.gz"})
    img, msk = _case(3)
    write_image(img, tmp_path / "im_bad.nii.gz")
    write_image(msk.with_array(np.zeros_like(msk.array)), tmp_path / "m_bad.nii.gz")
    rows.append({"case_id": "bad", "image": "im_bad.nii.gz", "mask": "m_bad.nii.gz"})
    pd.DataFrame(rows).to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "out"
    paths = run_habitats(tmp_path / "cases.csv", out, IthSettings(n_habitats=2), progress=False)
    hab = pd.read_csv(paths["habitats"])
    assert set(hab.case_id) == {"c0", "c1"}
    assert hab.groupby("case_id").fraction.sum().round(6).eq(1).all()
    assert (out / "labels" / "c0.nii.gz").exists() and (out / "png" / "c1.png").exists()
    err = pd.read_csv(paths["errors"])
    assert list(err.case_id) == ["bad"]
