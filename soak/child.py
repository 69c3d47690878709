"""``lava-sidecar serve``, unchanged, plus one soak-only probe: on SIGUSR1 it prints a JSON line
with its pending asyncio tasks, open file descriptors and resident memory (what a leak shows in).

Run by the soak as ``python -m soak.child --config PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import sys

from proxy.commands.serve import loop_factory
from proxy.config import load_settings
from proxy.lifecycle import serve
from proxy.logs import configure


def stats(loop: asyncio.AbstractEventLoop) -> dict[str, int]:
    gc.collect()
    rss_kb = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"tasks": len(asyncio.all_tasks(loop)), "fds": len(os.listdir("/proc/self/fd")),
            "rss_kb": rss_kb}


async def _serve(config: str) -> int:
    settings = load_settings(config)
    configure(settings.logging)
    loop = asyncio.get_running_loop()

    def report() -> None:
        sys.stdout.write(json.dumps(stats(loop)) + "\n")
        sys.stdout.flush()

    loop.add_signal_handler(signal.SIGUSR1, report)
    return await serve(settings)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.child")
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(_serve(args.config))


if __name__ == "__main__":
    sys.exit(main())
