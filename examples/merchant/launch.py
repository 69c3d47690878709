"""Start ``python -m examples.merchant`` as a child process and read the URLs it prints: for the
browser tests and the screenshot script, which drive it the way a person would. Stopped by PID."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Running:
    url: str          # the merchant page
    lava_url: str     # the local Lava (REST, checkout page, dashboard)
    sidecar_url: str
    pid: int


_LINES = {"url": r"merchant example: (http://\S+?)/?\s", "lava_url": r"local Lava dashboard: "
          r"(http://\S+?)/?\s", "sidecar_url": r"sidecar: (http://\S+?)/?\s"}


@contextlib.contextmanager
def running_example(secret_key: str, *, timeout: float = 180.0) -> Iterator[Running]:
    """The example with its own local Lava and sidecar, merchant key ``secret_key``."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LAVA_")},
           "LAVA_SECRET_KEY": secret_key}
    proc = subprocess.Popen([sys.executable, "-m", "examples.merchant"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    found: dict[str, str] = {}
    output: list[str] = []
    drain: threading.Thread | None = None
    try:
        deadline = time.monotonic() + timeout
        while len(found) < len(_LINES):
            line = proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError("the merchant example did not start:\n" + "".join(output[-40:]))
            output.append(line)
            for key, pattern in _LINES.items():
                m = re.match(pattern, line)
                if m:
                    found[key] = m.group(1)
        # Keep its pipe drained (a full pipe would block its prints).
        drain = threading.Thread(target=_drain, args=(proc.stdout,), daemon=True)
        drain.start()
        yield Running(found["url"], found["lava_url"], found["sidecar_url"], proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if drain is not None:
            drain.join(5)
        proc.stdout.close()


def _drain(stream: IO[str]) -> None:
    for _ in stream:
        pass
