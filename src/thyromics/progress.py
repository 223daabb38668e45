"""Progress bars for batches of cases: done, failed, and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["case_progress"]


@contextmanager
def case_progress(total: int, what: str) -> Iterator[Callable[[str, bool], None]]:
    """A rich progress bar; yields ``tick(case_id, ok)`` to call after each case."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    failed = 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
               TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(what, total=total, failed=0)

        def tick(case_id: str, ok: bool) -> None:
            nonlocal failed
            failed += not ok
            bar.update(task, advance=1, failed=failed)

        yield tick
