"""The model stage's fits: parallel = serial, cached by content, model files canonical."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from thyromics.errors import InputError
from thyromics.models._canonical_pickle import canonical_dumps
from thyromics.models._fit_runner import run_fits
from thyromics.models._fits import FinalTask, FitContext, FoldTask, ModelSpec
from thyromics.models.api import fit_and_compare
from thyromics.models.cv import grouped_folds
from thyromics.models.pipeline import PipelineSettings


def _table(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 4)) + y[:, None] * np.array([1.0, 0.6, 0.0, 0.0])
    t = pd.DataFrame(x, columns=[f"original_firstorder_f{j}" for j in range(4)])
    t.insert(0, "case_id", [f"c{i}" for i in range(n)])
    t.insert(1, "patient_id", [f"p{i}" for i in range(n)])
    t.insert(2, "label", y)
    return t


def _tasks(seed: int = 0, columns=("original_firstorder_f0", "original_firstorder_f1")):
    t = _table()
    X = t[[c for c in t.columns if c.startswith("original")]]
    y, g = t.label.to_numpy(), t.patient_id.to_numpy()
    ctx = FitContext(X=X, y=y, groups=g, settings=PipelineSettings(tune=False), seed=seed)
    spec = ModelSpec("lr", "lr", "radiomics", tuple(columns), ())
    folds = grouped_folds(y, g, k=3, seed=seed)
    return [*(FoldTask(ctx, spec, f) for f in folds), FinalTask(ctx, spec)]


def test_padding_bytes_of_structured_arrays_are_zeroed():
    # scikit-learn's tree nodes are such an array: its padding is never initialised
    from sklearn.tree import DecisionTreeClassifier

    nodes = DecisionTreeClassifier(random_state=0).fit([[0], [1]], [0, 1]).tree_.__getstate__()["nodes"]
    assert nodes.dtype.itemsize > sum(f[0].itemsize for f in nodes.dtype.fields.values())
    dirty = nodes.copy()
    raw = dirty.view(np.uint8).reshape(len(dirty), -1)
    raw[:, -1] = 0xAB  # the last byte of every node is padding
    clean = nodes.copy()
    clean.view(np.uint8).reshape(len(clean), -1)[:, -1] = 0
    assert pickle.dumps(dirty) != pickle.dumps(clean)  # what a plain dump writes
    assert canonical_dumps(dirty) == canonical_dumps(clean)
    assert np.array_equal(pickle.loads(canonical_dumps(dirty)), nodes)


def test_object_identity_does_not_reach_the_bytes():
    a = "with" + "_std"
    shared = {"x": a, "y": a}
    separate = {"x": "".join(["with", "_std"]), "y": "".join(["with", "_std"])}
    assert shared["x"] is shared["y"] and separate["x"] is not separate["y"]
    assert pickle.dumps(shared) != pickle.dumps(separate)
    assert canonical_dumps(shared) == canonical_dumps(separate)


def test_a_cycle_is_still_written():
    loop: list = [1]
    loop.append(loop)
    back = pickle.loads(canonical_dumps(loop))
    assert back[1] is back


def test_fits_are_served_from_the_cache_by_content(tmp_path):
    seen: list[bool] = []
    first = run_fits(_tasks(), cache_dir=tmp_path, on_done=lambda k, c: seen.append(c))
    assert seen == [False] * 4 and len(list(tmp_path.glob("*.pkl"))) == 4
    seen.clear()
    again = run_fits(_tasks(), cache_dir=tmp_path, on_done=lambda k, c: seen.append(c))
    assert seen == [True] * 4
    for key, res in first.items():
        if key[1] == "final":
            assert res.pipeline_pickle == again[key].pipeline_pickle
        else:
            pd.testing.assert_frame_equal(res.scores, again[key].scores)
    seen.clear()
    run_fits(_tasks(seed=1), cache_dir=tmp_path, on_done=lambda k, c: seen.append(c))
    assert seen == [False] * 4  # another seed: other folds, other fits


def test_a_failed_fit_names_the_model_and_fold():
    with pytest.raises(InputError, match=r"fit lr .*(fold \d|final).*KeyError"):
        run_fits(_tasks(columns=("no_such_column",)))


@pytest.mark.slow
def test_jobs_give_the_numbers_of_a_serial_run(tmp_path):
    t = _table(80)
    kw = dict(label="label", group="patient_id", models=["lr", "rf"], cv=3, seed=2,
              settings=PipelineSettings(tune=False, n_estimators=30), importance=("permutation",))
    one = fit_and_compare(t, jobs=1, **kw)
    two = fit_and_compare(t, jobs=2, cache_dir=tmp_path, **kw)
    pd.testing.assert_frame_equal(one.comparison, two.comparison)
    pd.testing.assert_frame_equal(one.predictions, two.predictions)
    pd.testing.assert_frame_equal(one.importance["permutation"], two.importance["permutation"])
    assert canonical_dumps(one.models["rf"].pipeline) == canonical_dumps(two.models["rf"].pipeline)


def test_one_selection_per_training_part_whatever_the_classifier(monkeypatch):
    """The step cache fits a training part's LASSO once for all classifiers and refits.

    Without it, every classifier, tuning candidate's refit and threshold refit fits its
    own selection; with it each distinct training part is selected once, and every
    number is the same.
    """
    import contextlib

    from thyromics.models import pipeline, selection

    calls: list[tuple[int, int]] = []
    fit = selection.LassoSelector.fit

    def counted(self, X, y):
        calls.append(np.shape(X))
        return fit(self, X, y)

    monkeypatch.setattr(selection.LassoSelector, "fit", counted)
    t = _table(80)
    kw = dict(label="label", group="patient_id", models=["lr", "svm", "rf"], cv=3, seed=2,
              settings=PipelineSettings(n_estimators=30, inner_cv=2), jobs=1)
    shared = fit_and_compare(t, **kw)
    n_shared = len(calls)
    calls.clear()
    monkeypatch.setattr(pipeline, "shared_step_cache", lambda location: contextlib.nullcontext())
    alone = fit_and_compare(t, **kw)
    # 3 outer folds x (their training part + 2 inner parts) + the final fit's 1 + 2
    # (inner_cv differs from cv: with cv = inner_cv the final search's inner parts would
    # be the outer folds' training parts, and be found in the cache too)
    assert n_shared == 3 * (1 + 2) + (1 + 2)
    assert len(calls) > 2 * n_shared
    pd.testing.assert_frame_equal(shared.comparison, alone.comparison)
    pd.testing.assert_frame_equal(shared.predictions, alone.predictions)
    for m in ("lr", "svm", "rf"):
        assert canonical_dumps(shared.models[m].pipeline) == \
            canonical_dumps(alone.models[m].pipeline)


def test_the_fit_cache_is_pruned_by_last_use(tmp_path, monkeypatch):
    import os

    from thyromics.models import _fit_runner
    from thyromics.models._fit_runner import prune_fit_cache

    old = []
    for i in range(4):  # four fits of an older run, 100 bytes each, used long ago
        p = tmp_path / f"old{i}.pkl"
        p.write_bytes(b"x" * 100)
        os.utime(p, (1000 + i, 1000 + i))
        old.append(p)
    assert prune_fit_cache(tmp_path, max_bytes=250) == old[:2]  # the least recent first
    assert prune_fit_cache(tmp_path, keep=set(old[2:]), max_bytes=0) == []
    # a run keeps what it used, however old, and removes older unused files over the cap
    (tmp_path / "steps-killed").mkdir()  # a step cache left by a killed run
    monkeypatch.setattr(_fit_runner, "FIT_CACHE_MAX_BYTES", 0)
    first = run_fits(_tasks(), cache_dir=tmp_path)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == len(first) and all(n.endswith(".pkl") for n in kept)
    for name in kept:  # as if written long ago
        os.utime(tmp_path / name, (1000, 1000))
    again = run_fits(_tasks(), cache_dir=tmp_path, on_done=lambda k, c: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == kept and set(again) == set(first)
    # a hit is a use (its access time), and the file itself is left as it was written
    assert all((tmp_path / n).stat().st_atime > 1e9 and (tmp_path / n).stat().st_mtime == 1000
               for n in kept)
