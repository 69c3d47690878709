"""What /proc says about a process tree: CPU time (utime+stime) and resident memory.

CPU time is read instead of wall time because steal on a shared VM is not charged to a process:
a fixed request count divided into the CPU it cost is a figure steal cannot inflate.
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


def cpu_seconds(pids: Iterable[int]) -> float:
    return cpu_ticks(pids) / CLK_TCK


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
