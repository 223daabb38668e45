"""One executor interface: local processes by default, a Dask cluster on request.

Every task runs independently; an exception in one task is returned as that task's
result and never stops the others. A local worker process that dies (killed by the
out-of-memory killer, a crash in a compiled library) breaks Python's whole process pool:
the tasks that were running are then retried one at a time in a fresh single-worker
pool, so the task that kills its worker again is recorded as failed
(:class:`WorkerDied`) and every other task finishes. Workers exit when their parent
process dies (Linux ``PR_SET_PDEATHSIG``, and a watchdog thread elsewhere).

What every task needs (a study's training table) can be given once as ``shared``: it
then travels to each worker process, or each Dask worker, once instead of with every task.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from thyromics.errors import ThyromicsError

__all__ = ["TaskOutcome", "WorkerDied", "run_tasks", "default_jobs"]

#: How long to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = "15s"


@dataclass(frozen=True)
class TaskOutcome:
    """The outcome of one task: ``result`` on success, ``error`` (the exception) on failure."""

    key: Any
    result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class WorkerDied(ThyromicsError):
    """The worker process running a task died (it was killed, or crashed)."""


_DIED = ("the worker process running this case died: it was killed (e.g. by the system's "
         "out-of-memory killer) or crashed in a compiled library; the case was retried alone "
         "and died again. Free memory (fewer --jobs) or check the case's files.")


def default_jobs() -> int:
    """Number of local worker processes used when the user gives none: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(func: Callable[..., Any], items: Iterable[tuple[Any, Any]], *,
              jobs: int = 1, scheduler: str | None = None,
              shared: Any = None) -> Iterator[TaskOutcome]:
    """Run ``func(arg)`` for each ``(key, arg)`` in ``items``, yielding outcomes as they finish.

    Parameters
    ----------
    func : callable
        A picklable, module-level function of one argument (of two with ``shared``:
        ``func(arg, shared)``).
    items : iterable of (key, arg)
        ``key`` identifies the task in the outcome (e.g. a case id).
    jobs : int
        Local worker processes. ``1`` runs in this process (no pickling, easiest to debug).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``). When given, the tasks
        are sent to that cluster and ``jobs`` is ignored.
    shared : object, optional
        One picklable object every call receives as its second argument, sent to each
        worker once (a process pool's initializer; Dask's ``scatter`` with broadcast).

    Yields
    ------
    TaskOutcome
        In completion order, not submission order.
    """
    items = list(items)
    if scheduler:
        yield from _run_dask(func, items, scheduler, shared)
    elif jobs <= 1 or len(items) <= 1:
        for key, arg in items:
            try:
                yield TaskOutcome(key, func(arg) if shared is None else func(arg, shared))
            except Exception as e:  # noqa: BLE001 - recorded per task, never swallowed
                yield TaskOutcome(key, error=e)
    elif shared is None:
        yield from _run_local(func, items, jobs)
    else:
        yield from _run_local(_with_shared, [(k, (func, a)) for k, a in items], jobs, shared)


#: The ``shared`` object of the pool this worker process belongs to.
_WORKER_SHARED: list[Any] = []


def _init_worker(parent: int, shared: Any) -> None:
    _exit_with_parent(parent)
    _WORKER_SHARED[:] = [shared]


def _with_shared(func_arg: tuple[Callable, Any]) -> Any:
    func, arg = func_arg
    return func(arg, _WORKER_SHARED[0])


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the parent process goes away."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog does it
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="thyromics-parent-watch").start()


def _pool(jobs: int, shared: Any = None) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                               initargs=(os.getpid(), shared))


def _run_local(func: Callable, items: list, jobs: int,
               shared: Any = None) -> Iterator[TaskOutcome]:
    todo = iter(items)
    while True:
        broken: list[tuple[Any, Any]] = []
        yield from _run_pool(func, todo, jobs, broken, shared)
        if not broken:
            return
        for key, arg in broken:  # alone, so a task that kills its worker is found
            yield _run_alone(func, key, arg, shared)


def _run_pool(func: Callable, todo: Iterator, jobs: int,
              broken: list[tuple[Any, Any]], shared: Any = None) -> Iterator[TaskOutcome]:
    """Run tasks until ``todo`` is empty or the pool breaks (then ``broken`` is filled)."""
    # Submit at most 2 * jobs tasks at a time so an interrupted run leaves little queued.
    pending: dict[Future, tuple[Any, Any]] = {}
    with _pool(jobs, shared) as pool:
        def fill() -> None:
            while len(pending) < 2 * jobs and not broken:
                try:
                    key, arg = next(todo)
                except StopIteration:
                    return
                try:
                    pending[pool.submit(func, arg)] = (key, arg)
                except BrokenProcessPool:
                    broken.append((key, arg))

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                key, arg = pending.pop(fut)
                if isinstance(fut.exception(), BrokenProcessPool):
                    broken.append((key, arg))
                else:
                    yield _outcome(key, fut)
            fill()


def _run_alone(func: Callable, key: Any, arg: Any, shared: Any = None) -> TaskOutcome:
    with _pool(1, shared) as pool:
        fut = pool.submit(func, arg)
        wait([fut])
        if isinstance(fut.exception(), BrokenProcessPool):
            return TaskOutcome(key, error=WorkerDied(_DIED))
        return _outcome(key, fut)


def _outcome(key: Any, fut: Any) -> TaskOutcome:
    try:
        return TaskOutcome(key, fut.result())
    except Exception as e:  # noqa: BLE001
        return TaskOutcome(key, error=e)


def _run_dask(func: Callable, items: list, scheduler: str,
              shared: Any = None) -> Iterator[TaskOutcome]:
    from thyromics._extras import require

    require("dask", "--scheduler (a Dask cluster)")
    from distributed import Client, as_completed

    from thyromics.errors import InputError

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as e:
        raise InputError(
            f"cannot reach the Dask scheduler at {scheduler!r}: {e}. Start one with "
            "`dask scheduler` and `dask worker ADDRESS`, or leave out --scheduler to run "
            "in local processes.") from e
    try:
        extra = () if shared is None else (client.scatter(shared, broadcast=True, hash=False),)
        futures = {client.submit(func, arg, *extra, key=f"thyromics-{i}", pure=False): key
                   for i, (key, arg) in enumerate(items)}
        for fut in as_completed(futures):
            yield _outcome(futures[fut], fut)
    finally:
        client.close()
