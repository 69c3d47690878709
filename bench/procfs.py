"""What /proc says about a process tree: CPU time and resident memory.

CPU time is read instead of wall time because steal on a shared VM is not charged to a process:
a fixed request count divided into the CPU it cost is a figure steal cannot inflate. It is read
from each thread's ``schedstat`` (nanoseconds), not ``stat``'s utime+stime (10 ms ticks): a smoke
run's few hundred requests through nginx cost less than one tick, which made its CPU 0 and every
ratio to it undefined.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm is in parentheses and may hold spaces: fields start after the last ')'.
    return raw[raw.rfind(")") + 2:].split()


def tree(root: int) -> list[int]:
    """``root`` and all its descendants (nginx workers, LiteLLM workers), found by scanning /proc."""
    parents: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (fields := _stat_fields(int(name))) is not None:
            parents.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if os.path.exists(f"/proc/{pid}"):
            out.append(pid)
            todo.extend(parents.get(pid, ()))
    return out


def cpu_ticks(pids: Iterable[int]) -> int:
    """utime + stime of every thread of these processes, in clock ticks (1/CLK_TCK s)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14, 15)
    return total


def _schedstat_ns(pid: int) -> int | None:
    """On-CPU nanoseconds of every live thread of ``pid``; None where schedstat is unavailable."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return 0
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended between the listing and the read
        except (OSError, ValueError, IndexError):
            return None
    return total


def cpu_seconds(pids: Iterable[int]) -> float:
    """CPU time of these processes, to the nanosecond where the kernel keeps schedstat."""
    pids = list(pids)
    total = 0
    for pid in pids:
        ns = _schedstat_ns(pid)
        if ns is None:
            return cpu_ticks(pids) / CLK_TCK
        total += ns
    return total / 1e9


def rss_bytes(pids: Iterable[int]) -> int:
    """Sum of VmRSS. Pages shared between processes (nginx master and worker) count twice."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"
