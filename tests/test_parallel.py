"""The executor runs every task, returns failures per task, and gives the same results
in-process, in local processes and on a Dask cluster."""

from __future__ import annotations

import pytest

from thyromics.parallel import run_tasks
from conftest import need_module  # noqa: E402


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x * x


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_results_and_failures(jobs):
    outcomes = {o.key: o for o in run_tasks(square_or_fail, [(i, i) for i in range(6)], jobs=jobs)}
    assert set(outcomes) == set(range(6))
    assert {k: o.result for k, o in outcomes.items() if o.ok} == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert not outcomes[3].ok and "three is bad" in str(outcomes[3].error)


def offset_by_shared(x: int, shared: dict) -> tuple[int, int]:
    import os

    return x + shared["offset"], os.getpid()


@pytest.mark.parametrize("jobs", [1, 2])
def test_shared_object_reaches_every_call(jobs):
    import os

    outcomes = list(run_tasks(offset_by_shared, [(i, i) for i in range(8)], jobs=jobs,
                              shared={"offset": 100}))
    assert sorted(o.result[0] for o in outcomes) == list(range(100, 108))
    # jobs 1 runs here; jobs 2 in worker processes, which got the object at start-up
    assert ({o.result[1] for o in outcomes} == {os.getpid()}) == (jobs == 1)


@pytest.mark.slow
def test_dask_cluster_same_results():
    distributed = need_module("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        outcomes = {o.key: o for o in run_tasks(square_or_fail, [(i, i) for i in range(6)],
                                                scheduler=cluster.scheduler_address)}
    assert {k: o.result for k, o in outcomes.items() if o.ok} == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert isinstance(outcomes[3].error, ValueError)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        shared = list(run_tasks(offset_by_shared, [(i, i) for i in range(4)],
                                scheduler=cluster.scheduler_address, shared={"offset": 7}))
    assert sorted(o.result[0] for o in shared) == [7, 8, 9, 10]


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    from thyromics import parallel
    from thyromics.errors import InputError

    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        list(run_tasks(square_or_fail, [(1, 1)], scheduler="tcp://127.0.0.1:9"))
