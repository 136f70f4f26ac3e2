"""CPU time of processes, read from /proc: the benches' measure of cost per operation.

Unlike latency, a process's own CPU seconds barely depend on what else the
machine runs, so the benches divide them by the work done (lookups, idle
sync cycles) to get figures that stay comparable on a shared box.
"""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[int, float] | None:
    """(start time in ticks, user + system CPU seconds) of a process, or None once it is gone.

    The start time tells a process apart from a later one given the same pid.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[19]), (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (a server's workers)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        times = cpu_times(current)
        if times is None:
            continue
        total += times[1]
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending.extend(int(child) for child in children)
    return total
