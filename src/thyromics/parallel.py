"""One executor interface: local processes by default, a Dask cluster on request.

Every task runs independently; an exception in one task is returned as that task's
result and never stops the others.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

__all__ = ["TaskOutcome", "run_tasks", "default_jobs"]

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


def default_jobs() -> int:
    """Number of local worker processes used when the user gives none: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_tasks(func: Callable[[Any], Any], items: Iterable[tuple[Any, Any]], *,
              jobs: int = 1, scheduler: str | None = None) -> Iterator[TaskOutcome]:
    """Run ``func(arg)`` for each ``(key, arg)`` in ``items``, yielding outcomes as they finish.

    Parameters
    ----------
    func : callable
        A picklable, module-level function of one argument.
    items : iterable of (key, arg)
        ``key`` identifies the task in the outcome (e.g. a case id).
    jobs : int
        Local worker processes. ``1`` runs in this process (no pickling, easiest to debug).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``). When given, the tasks
        are sent to that cluster and ``jobs`` is ignored.

    Yields
    ------
    TaskOutcome
        In completion order, not submission order.
    """
    items = list(items)
    if scheduler:
        yield from _run_dask(func, items, scheduler)
    elif jobs <= 1 or len(items) <= 1:
        for key, arg in items:
            try:
                yield TaskOutcome(key, func(arg))
            except Exception as e:  # noqa: BLE001 - recorded per task, never swallowed
                yield TaskOutcome(key, error=e)
    else:
        yield from _run_local(func, items, jobs)


def _run_local(func: Callable, items: list, jobs: int) -> Iterator[TaskOutcome]:
    # Submit at most 2 * jobs tasks at a time so an interrupted run leaves little queued.
    pending: dict[Future, Any] = {}
    todo = iter(items)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        def fill() -> None:
            while len(pending) < 2 * jobs:
                try:
                    key, arg = next(todo)
                except StopIteration:
                    return
                pending[pool.submit(func, arg)] = key

        fill()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                key = pending.pop(fut)
                yield _outcome(key, fut)
            fill()


def _outcome(key: Any, fut: Any) -> TaskOutcome:
    try:
        return TaskOutcome(key, fut.result())
    except Exception as e:  # noqa: BLE001
        return TaskOutcome(key, error=e)


def _run_dask(func: Callable, items: list, scheduler: str) -> Iterator[TaskOutcome]:
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
        futures = {client.submit(func, arg, key=f"thyromics-{i}", pure=False): key
                   for i, (key, arg) in enumerate(items)}
        for fut in as_completed(futures):
            yield _outcome(futures[fut], fut)
    finally:
        client.close()
