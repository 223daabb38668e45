"""Wall time and peak resident memory of a command and all of its child processes."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["run_measured", "tree_rss_mb"]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def tree_rss_mb(pid: int) -> float:
    """Sum of the resident memory of a process and its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
        todo.extend(_children(p))
    return total / 1024


def run_measured(cmd: list[str], *, cwd: str | None = None, env: dict | None = None) -> tuple[float, float, int]:
    """Run ``cmd``; return (seconds, peak tree RSS in MB, return code)."""
    peak = 0.0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.25)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    done.set()
    t.join()
    if proc.returncode not in (0, 1):
        print(err.decode(errors="replace")[-2000:])
    return time.perf_counter() - t0, peak, proc.returncode
