"""Micro-benchmark: what writing each usage line at once (issue 16) costs per request. Not a test.

    for ref in 3387547~1 HEAD 3387547~1 HEAD; do .venv/bin/python -m bench.usagelog_wake --ref $ref; done

Runs the usage log writer of this tree, or with ``--ref`` the one of a git commit (its
``proxy/usagelog/writer.py`` and ``file.py`` loaded beside this tree's), so the old and new
writers can be compared, interleaved, in one sitting. Lines are submitted from an event loop at
a fixed pace (each one finds the writer idle: the worst case for a wake per line) and in bursts.
Prints, per scenario, the loop thread's CPU inside ``submit`` and the whole process's CPU per
line beyond the same loop pacing itself without a ledger (so the worker thread's writes, wakes
and GIL hand-offs count).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from proxy.config import UsageLog
from proxy.usagelog import Ledger

from .recorder_bench import records


async def paced(ledger: Ledger | None, n: int, gap: float) -> tuple[float, float]:
    """(loop CPU in submit, process CPU) for ``n`` lines ``gap`` seconds apart."""
    recs = records(n, 8)
    in_submit = 0.0
    cpu0 = time.process_time()
    for rec in recs:
        if ledger is not None:
            t = time.thread_time()
            ledger.submit(rec, None)
            in_submit += time.thread_time() - t
        await asyncio.sleep(gap)
    return in_submit, time.process_time() - cpu0


async def burst(ledger: Ledger | None, n: int, size: int) -> tuple[float, float]:
    recs = records(n, 8)
    in_submit = 0.0
    cpu0 = time.process_time()
    for i in range(0, n, size):
        t = time.thread_time()
        if ledger is not None:
            for rec in recs[i:i + size]:
                ledger.submit(rec, None)
        in_submit += time.thread_time() - t
        await asyncio.sleep(0.001)
    return in_submit, time.process_time() - cpu0


def ledger_of(ref: str | None) -> Any:
    """``Ledger`` of this tree, or of commit ``ref`` (its writer and file modules, this tree's rest)."""
    if ref is None:
        return Ledger
    root = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp())
    for name in ("file", "writer"):
        src = subprocess.run(["git", "-C", str(root), "show", f"{ref}:proxy/usagelog/{name}.py"],
                             capture_output=True, text=True, check=True).stdout
        (tmp / f"_{name}_at_ref.py").write_text(src.replace("from .file import",
                                                           "from ._file_at_ref import"))
    for name in ("file", "writer"):
        full = f"proxy.usagelog._{name}_at_ref"
        spec = importlib.util.spec_from_file_location(full, tmp / f"_{name}_at_ref.py")
        assert spec is not None
        assert spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[full] = mod
        spec.loader.exec_module(mod)
    return sys.modules["proxy.usagelog._writer_at_ref"].Ledger


async def main(n: int, ledger_cls: Any, worker: bool = False) -> None:
    scenarios = [("paced, 20 ms apart", lambda lg: paced(lg, max(1, n // 20), 0.020)),
                 ("paced, 1 ms apart", lambda lg: paced(lg, n, 0.001)),
                 ("paced, 0.1 ms apart", lambda lg: paced(lg, n, 0.0001)),
                 ("bursts of 32", lambda lg: burst(lg, n, 32))]
    for name, run in scenarios:
        count = max(1, n // 20) if "20 ms" in name else n
        _, base = await run(None)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "u.jsonl"
            if worker:  # a device: never written by the event loop, so the worker's every line
                path.symlink_to(os.devnull)
            ledger = ledger_cls(UsageLog(path=str(path), fsync_interval=1.0))
            await ledger.start()
            loop_cpu, cpu = await run(ledger)
            t = time.process_time()
            await ledger.aclose()  # what is left to write, included
            cpu += time.process_time() - t
        print(f"{name:<22} submit {loop_cpu / count * 1e6:6.1f} us/line   process "
              f"{(cpu - base) / count * 1e6:6.1f} us/line beyond the pacing", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.usagelog_wake")
    parser.add_argument("--ref", help="a git commit whose usage log writer to run")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--worker", action="store_true",
                        help="log to a device (a symlink to /dev/null), which only the worker thread "
                             "writes, as it does stdout when it is another user's pipe")
    args = parser.parse_args()
    print(f"usage log writer: {args.ref or 'this tree'}")
    asyncio.run(main(args.lines, ledger_of(args.ref), args.worker))
