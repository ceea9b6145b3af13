"""The CPU time of a process and its live descendants, read from ``/proc`` before they are killed.

``wait4`` reports a child's CPU time plus that of the descendants it waited for. A namespaced
sandbox is three processes deep (relay, init, program); when the caller SIGKILLs them for a
timeout nobody waits for the program, so its CPU time would be lost (a busy loop stopped by the
wall clock read as 0.03 s). :func:`tree_cpu_seconds`, taken just before the kill, sums
``utime + stime + cutime + cstime`` over the process and every live descendant (found through
each process's parent in ``/proc/PID/stat``); descendants already reaped are in their reaper's
``cutime``/``cstime``, so nothing is counted twice. 0.0 where ``/proc`` cannot be read.
"""

from __future__ import annotations

import os


def _stat(entry: str) -> tuple[int, float] | None:
    """(parent pid, CPU clock ticks incl. waited-for children) of process ``entry``."""
    try:
        with open(f"/proc/{entry}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return None
    try:
        return int(fields[1]), float(sum(int(value) for value in fields[11:15]))
    except (IndexError, ValueError):
        return None


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used by ``root`` and its descendants (live ones, and those they reaped)."""
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
        ticks_per_second = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0
    parents: dict[int, list[int]] = {}
    ticks: dict[int, float] = {}
    for entry in entries:
        found = _stat(entry)
        if found is not None:
            parents.setdefault(found[0], []).append(int(entry))
            ticks[int(entry)] = found[1]
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0.0)
        todo.extend(parents.get(pid, ()))
    return total / ticks_per_second
