"""Signals from the first instant of a real ``lava-sidecar serve`` (issue 24: a SIGHUP in its first
~0.4 s killed it, the handlers came after the imports and the config).

SIGHUP at 50 ms after exec and at several later points of the start: the process survives, logs
the signal and becomes ready. SIGTERM (and SIGINT) at the same points: exit 0, no traceback, and
nothing half-written (no usage log at all when it came before anything was opened, only whole
lines otherwise).

A signal can only be caught once the interpreter runs the program's first statement; Python's own
start (tens of ms, longer on a loaded machine) comes before that, for any Python program. So each
signal goes at its point in time or, if later, as soon as ``/proc/PID/status`` shows the process
catching it; the time that took is the figure printed (``pytest -s``), and it is asserted to come
before the heavy imports (aiohttp's parser is not mapped yet).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from ..conftest import TEST_SECRET
from .process import EXECUTABLE, write_config

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

POINTS_MS = (50, 150, 300, 450, 600)


@dataclass
class Started:
    proc: asyncio.subprocess.Process
    t0: float
    admin: int
    usage_log: Path

    def catches(self, sig: signal.Signals) -> bool:
        with open(f"/proc/{self.proc.pid}/status") as f:
            mask = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
        return bool(mask >> (sig - 1) & 1)

    def mapped(self, needle: str) -> bool:
        with open(f"/proc/{self.proc.pid}/maps") as f:
            return needle in f.read()

    async def signal_at(self, sig: signal.Signals, at_ms: float) -> tuple[float, float, bool]:
        """Send ``sig`` at ``at_ms`` after exec, or once the sidecar catches signals if that is
        later: (when it began to, when ``sig`` was sent, whether aiohttp was imported by then).
        SIGHUP is the one watched: Python itself catches SIGINT from its start (to raise
        KeyboardInterrupt), and the sidecar installs its SIGHUP handler after its stop ones."""
        async with asyncio.timeout(10):
            while True:
                if self.catches(signal.SIGHUP):
                    break
                await asyncio.sleep(0.001)
        caught_ms = (time.monotonic() - self.t0) * 1000
        heavy = self.mapped("aiohttp/_http_parser")
        await asyncio.sleep(max(0.0, self.t0 + at_ms / 1000 - time.monotonic()))
        self.proc.send_signal(sig)
        return caught_ms, (time.monotonic() - self.t0) * 1000, heavy

    async def ready(self) -> bool:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(f"http://127.0.0.1:{self.admin}/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False


@asynccontextmanager
async def started(tmp: Path) -> AsyncIterator[Started]:
    path, _, admin = write_config(tmp, "lean", {"pricing": {"from_lava": False}})
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LAVA_", "OPENAI_", "ANTHROPIC_"))}
    environ |= {"LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": "http://127.0.0.1:9"}
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE), "serve", "--config", str(path), env=environ,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        yield Started(proc, t0, admin, tmp / "usage.jsonl")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def log_lines(stderr: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("at_ms", POINTS_MS)
async def test_sighup_while_starting_is_logged_and_the_sidecar_becomes_ready(
        tmp_path: Path, at_ms: int) -> None:
    async with started(tmp_path) as st:
        caught, sent, heavy = await st.signal_at(signal.SIGHUP, at_ms)
        async with asyncio.timeout(60):
            while not await st.ready():
                assert st.proc.returncode is None, "the sidecar died of the SIGHUP"
                await asyncio.sleep(0.05)
        print(f"\nSIGHUP caught from {caught:.0f} ms after exec, sent at {sent:.0f} ms: survived, ready")
        assert not heavy  # caught before the imports of the serving stack
        st.proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(st.proc.communicate(), 30)
    assert st.proc.returncode == 0
    messages = [str(line["msg"]) for line in log_lines(stderr)]
    assert any(m.startswith("SIGHUP received") for m in messages), messages
    assert b"Traceback" not in stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("at_ms", POINTS_MS)
async def test_a_stop_signal_while_starting_exits_0_with_nothing_half_written(
        tmp_path: Path, at_ms: int, sig: signal.Signals) -> None:
    async with started(tmp_path) as st:
        caught, sent, heavy = await st.signal_at(sig, at_ms)
        _, stderr = await asyncio.wait_for(st.proc.communicate(), 30)
    said = [str(line["msg"]) for line in log_lines(stderr) if "stop" in str(line["msg"])]
    print(f"\n{sig.name} caught from {caught:.0f} ms after exec, sent at {sent:.0f} ms: "
          f"exit {st.proc.returncode}, {said}")
    assert not heavy
    assert st.proc.returncode == 0
    assert b"Traceback" not in stderr
    assert any("while starting" in str(line["msg"]) or line["msg"] == "stopped"
               for line in log_lines(stderr))
    # Nothing half-made: no usage log when it stopped before opening one, else only whole lines.
    if st.usage_log.exists():
        data = st.usage_log.read_bytes()
        assert data == b"" or data.endswith(b"\n")
