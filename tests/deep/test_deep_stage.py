"""The deep step of a study (run_deep_stage): its files, held-out-only evaluation, and the
threshold rule it records (Youden on the validation rows, or 0.5 when they hold one class)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from _helpers import png_cohort
from conftest import need_module

from thyromics.errors import ThyromicsWarning
from thyromics.layout import DEEP, DEEP_MODEL, MODEL

#: Rows of the 16-case PNG cohort (labels alternate 0, 1): train, val and test by case index.
TRAIN = range(8)
VAL_BOTH, VAL_ONE = (8, 9), (8, 10)  # labels (0, 1) and (0, 0)


def _manifest(folder, val: tuple[int, ...]):
    """The PNG cohort with one patient per case and a split column."""
    path = png_cohort(folder)
    frame = pd.read_csv(path)
    frame["patient_id"] = frame["case_id"]
    frame["split"] = ["train" if i in TRAIN else "val" if i in val else "test"
                      for i in range(len(frame))]
    frame.to_csv(path, index=False)
    return path, frame


def _settings():
    from thyromics.deep.settings import DataSettings, TrainSettings

    return TrainSettings(network="cnn", network_options={"channels": (4, 8)}, epochs=2,
                         batch_size=4, learning_rate=0.01, seed=0, device="cpu",
                         data=DataSettings(size_2d=(16, 16)))


def test_carried_threshold_rule_and_warning():
    from thyromics.deep.stage import RULE_ONE_CLASS, RULE_YOUDEN, carried_threshold

    both = pd.DataFrame({"label": [0, 0, 1, 1], "probability": [0.1, 0.3, 0.6, 0.9]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", ThyromicsWarning)
        t, rule = carried_threshold(both)
    assert rule == RULE_YOUDEN and 0.3 < t <= 0.6
    for one in (both[both.label == 0], both.iloc[:0]):
        with pytest.warns(ThyromicsWarning, match="more validation cases.*split column"):
            assert carried_threshold(one) == (0.5, RULE_ONE_CLASS)


@pytest.mark.slow
@pytest.mark.parametrize("val", [VAL_BOTH, VAL_ONE], ids=["val-both-classes", "val-one-class"])
def test_run_deep_stage_files_held_out_metrics_and_rule(tmp_path, val):
    need_module("torch")
    from sklearn.metrics import roc_auc_score

    from thyromics.deep.stage import RULE_ONE_CLASS, RULE_YOUDEN, run_deep_stage
    from thyromics.evaluate.thresholds import choose_threshold

    (tmp_path / "data").mkdir()
    cases, frame = _manifest(tmp_path / "data", val)
    out, lines = tmp_path / "study", []
    gradcam = 2 if val == VAL_BOTH else 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run_deep_stage(cases, _settings(), out, gradcam=gradcam, log=lines.append)
    fallback = [w for w in caught if "Youden's threshold is undefined" in str(w.message)]

    # the files, where the layout puts them
    for stage, key in ((DEEP_MODEL, "model"), (DEEP_MODEL, "split"), (DEEP, "predictions"),
                       (DEEP, "metrics"), (DEEP, "features")):
        assert stage.path(out, key).is_file(), key
    for key in ("comparison", "delong", "run", "predictions"):
        assert MODEL.path(out, key, block="network").is_file(), key
    assert res.block == MODEL.dir(out, block="network") and res.model_dir == DEEP_MODEL.dir(out)
    assert DEEP.path(out, "gradcam_cases").is_file() == bool(gradcam)
    if gradcam:
        assert len(list(DEEP.path(out, "gradcam").glob("*.png"))) == gradcam
    assert lines[0].startswith("[deep] training cnn") and any("held-out AUC" in x for x in lines)

    # only the held-out rows (neither train nor val) are evaluated
    pred = pd.read_csv(DEEP.path(out, "predictions"))
    roles = dict(zip(pred.case_id, pred.role))
    test_ids = set(frame.case_id[frame.split == "test"])
    assert {c for c, r in roles.items() if r == "unused"} == test_ids
    metrics = json.loads(DEEP.path(out, "metrics").read_text())
    assert set(metrics) == {"test"}
    held = pred[pred.role == "unused"]
    block = metrics["test"]["scores"]["probability"]
    assert block["n"] == len(test_ids) == 6
    assert block["auc"] == pytest.approx(roc_auc_score(held.label, held.probability))
    comp = pd.read_csv(MODEL.path(out, "comparison", block="network"))
    assert list(comp.cohort) == ["test"] and comp.n.tolist() == [6]
    block_pred = pd.read_parquet(MODEL.path(out, "predictions", block="network"))
    assert set(block_pred.case_id) == test_ids
    if gradcam:
        assert set(pd.read_csv(DEEP.path(out, "gradcam_cases")).case_id) <= test_ids

    # the threshold and the rule that gave it, recorded in run.json and metrics.json
    run = json.loads(MODEL.path(out, "run", block="network").read_text())
    val_rows = pred[pred.role == "val"]
    if val == VAL_BOTH:
        expected = choose_threshold(val_rows.label.to_numpy(int), val_rows.probability.to_numpy())
        rule = RULE_YOUDEN
        assert not fallback
    else:
        expected, rule = 0.5, RULE_ONE_CLASS
        assert len(fallback) == 1 and issubclass(fallback[0].category, ThyromicsWarning)
        assert "more validation cases" in str(fallback[0].message)
    assert run["threshold"] == rule == res.threshold_rule == block["threshold_rule"]
    assert run["threshold_value"] == pytest.approx(expected) == res.threshold
    np.testing.assert_allclose(comp.threshold, expected)
