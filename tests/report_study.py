"""A real study folder for the report's tests: the stages run on a small synthetic cohort.

The report's fixtures are not written by hand: ``thyromics run`` makes them (extraction
with two failing cases, Table 1, a small network with Grad-CAM, three model blocks,
subgroups), so every file name and layout the report reads is the one a stage writes.
It is built once per test run and shared by the pytest-xdist workers (a file lock makes
the first one build it); tests that change files work on a copy (:func:`copy_study`).

``steps_study`` is a second, small study for the steps the first one leaves out: a
two-centre cohort, the robustness stage (volume adaptation, 2 repetitions), and the
models' robust and ComBat steps (``robust.csv``, ``harmonization/``), with one classifier
on few features so that it builds in seconds.
"""

from __future__ import annotations

import fcntl
import os
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: The classifiers and blocks of the study.
MODELS = ("lr", "rf")
BLOCKS = ("radiomics", "clinical", "radiomics+clinical")
#: Cases whose mask is broken on purpose: (row of the manifest, what).
BROKEN = {0: "missing mask", 1: "empty mask"}
#: Subgroup bins of the ultrasound nodule size (mm).
SIZE_EDGES = [float("-inf"), 4.0, float("inf")]
SIZE_LABELS = ["< 4 mm", ">= 4 mm"]


def _study_yaml(root: Path, manifest: Path) -> Path:
    import yaml

    path = root / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "Synthetic US study", "cases": str(manifest), "seed": 3,
        "extract": {"preset": "us", "jobs": 1},
        "deep": {"enabled": True, "network": "cnn", "size": 32, "epochs": 2, "batch_size": 8,
                 "learning_rate": 1e-3, "gradcam": 3},
        "model": {"models": list(MODELS), "blocks": list(BLOCKS), "cv": 3, "tune": False,
                  "n_estimators": 30, "importance": ["permutation", "vimp", "shap"]},
        "evaluate": {"subgroups": [{"column": "size_mm", "edges": SIZE_EDGES, "labels": SIZE_LABELS},
                                   {"column": "sex"}]},
    }, sort_keys=False), encoding="utf-8")
    return path


def build_study(root: Path) -> Path:
    """Make the cohort and run the study into ``root / 'OUT'``; returns that folder."""
    from PIL import Image as PILImage

    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study
    from thyromics.study.synthetic import SyntheticSettings, make_cohort

    manifest = make_cohort(root / "data", "us", SyntheticSettings(n_patients=30, seed=3))
    frame = pd.read_csv(manifest)
    frame.loc[0, "mask"] = "masks/does_not_exist.png"
    PILImage.fromarray(np.zeros((128, 128), np.uint8)).save(root / "data" / "masks" / "empty.png")
    frame.loc[1, "mask"] = "masks/empty.png"
    frame.to_csv(manifest, index=False)
    out = root / "OUT"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small cohorts: undefined-metric warnings are expected
        run_study(load_study(_study_yaml(root, manifest)), out, log=lambda _: None)
    (root / "built.json").write_text(json.dumps({"out": str(out)}))
    return out


#: The steps study: centre column, robustness chain and repetitions, classifier.
CENTRES = ("A", "B")
STEPS_CHAIN, STEPS_REPETITIONS, STEPS_MODEL = "volume", 2, "lr"
#: Few features (original first-order and GLCM), so that every perturbation extracts fast.
STEPS_PARAMS = ("imageType: {Original: {}}\nfeatureClass: {firstorder: , glcm: }\n"
                "setting: {force2D: true, normalize: true, normalizeScale: 100, binCount: 32}\n")


def build_steps_study(root: Path) -> Path:
    """The two-centre study with robustness, robust and ComBat steps, into ``root / 'OUT'``.

    Patients alternate between the centres, so every cohort has both. The block is
    ``radiomics+clinical`` (the centre column is the ComBat batch, never a predictor).
    """
    import yaml

    from thyromics.study.config import load_study
    from thyromics.study.runner import run_study
    from thyromics.study.synthetic import SyntheticSettings, make_cohort

    manifest = make_cohort(root / "data", "us", SyntheticSettings(n_patients=30, seed=3))
    frame = pd.read_csv(manifest)
    codes = frame["patient_id"].astype("category").cat.codes.to_numpy()
    frame["centre"] = np.asarray(CENTRES)[codes % len(CENTRES)]
    frame.to_csv(manifest, index=False)
    (root / "params.yaml").write_text(STEPS_PARAMS, encoding="utf-8")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": "Synthetic two-centre study", "cases": str(manifest), "seed": 3,
        "extract": {"params": str(root / "params.yaml"), "jobs": 1},
        "table1": {"enabled": False},
        "model": {"models": [STEPS_MODEL], "blocks": ["radiomics+clinical"], "cv": 3,
                  "tune": False, "selector": "none", "importance": []},
        "robustness": {"enabled": True, "chain": STEPS_CHAIN, "repetitions": STEPS_REPETITIONS},
        "harmonize": {"column": "centre"},
    }, sort_keys=False), encoding="utf-8")
    out = root / "OUT"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(load_study(path), out, log=lambda _: None)
    (root / "built.json").write_text(json.dumps({"out": str(out)}))
    return out


def _shared(tmp_path_factory, name: str, build) -> Path:
    """``build(root)`` run once per test run, whichever xdist worker comes first."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # every xdist worker has its own basetemp below a shared one
        base = base.parent
    root = base / name
    root.mkdir(exist_ok=True)
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "built.json").is_file():
            build(root)
    return root / "OUT"


@pytest.fixture(scope="session")
def report_study(tmp_path_factory) -> Path:
    """The pristine study folder (read only: copy it to change anything)."""
    return _shared(tmp_path_factory, "report-study", build_study)


@pytest.fixture(scope="session")
def steps_study(tmp_path_factory) -> Path:
    """The pristine two-centre study with the robustness / robust / ComBat steps (read only)."""
    return _shared(tmp_path_factory, "steps-study", build_steps_study)


def copy_study(study: Path, dest: Path) -> Path:
    """A copy of the study folder that a test may change; the report files are left out."""
    shutil.copytree(study, dest, ignore=shutil.ignore_patterns("report.html", "report_data",
                                                               "reporting_checklist.*"))
    return dest
