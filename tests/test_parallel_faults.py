"""Faults of worker processes lose nothing: a killed worker is one failed task, and
workers do not outlive their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from thyromics.parallel import WorkerDied, run_tasks


def die_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer does
    time.sleep(0.05)
    return x * 10


def test_killed_worker_is_one_failed_task_the_others_finish():
    outcomes = {o.key: o for o in run_tasks(die_on_three, [(i, i) for i in range(8)], jobs=2)}
    assert set(outcomes) == set(range(8))
    assert {k: o.result for k, o in outcomes.items() if o.ok} == {
        i: i * 10 for i in range(8) if i != 3}
    err = outcomes[3].error
    assert isinstance(err, WorkerDied)
    assert "worker process running this case died" in str(err) and "out-of-memory" in str(err)


_PARENT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from thyromics.parallel import run_tasks
    from test_parallel_faults import sleep_and_report
    for _ in run_tasks(sleep_and_report, [(i, {pids!r}) for i in range(4)], jobs=2):
        pass
""")


def sleep_and_report(pid_dir: str) -> int:
    Path(pid_dir, str(os.getpid())).touch()
    time.sleep(120)
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    code = _PARENT.format(tests=str(Path(__file__).parent), pids=str(pids))
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while len(list(pids.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.1)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) == 2, "the workers did not start"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while any(_alive(w) for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers outlived their killed parent"
