"""``lava-sidecar serve`` as a real subprocess (what SIGTERM tests need), from a generated config file,
against a gateway the test runs; its stderr is collected line by line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from ..conftest import TEST_SECRET
from ..ports import listen_port
from ..records import written_lines

EXECUTABLE = Path(sys.executable).with_name("lava-sidecar")


def free_port() -> int:
    """A port for a server this test starts (``tests.ports``: not one the kernel hands out)."""
    return listen_port()


@dataclass
class SidecarProcess:
    proc: asyncio.subprocess.Process
    url: str
    admin_url: str
    port: int
    usage_log: Path
    stderr: list[str] = field(default_factory=list)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, within: float) -> int:
        async with asyncio.timeout(within):
            return await self.proc.wait()

    async def readyz(self, expect: int | None = None) -> int | bool:
        """/readyz's status, or whether it is ``expect``."""
        async with aiohttp.ClientSession() as http, http.get(self.admin_url + "/readyz") as r:
            return r.status if expect is None else r.status == expect

    def records(self) -> list[dict[str, Any]]:
        return written_lines(self.usage_log)

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr:
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                if isinstance(doc, dict):
                    out.append(doc)
        return out


def write_config(tmp: Path, client: str, overrides: dict[str, Any]) -> tuple[Path, int, int]:
    port, admin = free_port(), free_port()
    cfg: dict[str, Any] = {
        "listen": f"127.0.0.1:{port}",
        "admin_listen": f"127.0.0.1:{admin}",
        "gateway": {"client": client, "connect_timeout_seconds": 2, "first_byte_timeout_seconds": 10,
                    "idle_timeout_seconds": 10},
        "usage_log": {"path": str(tmp / "usage.jsonl"), "fsync_interval_seconds": 0.05},
        "shutdown": {"drain_delay_seconds": 0.5, "grace_seconds": 10},
        "logging": {"level": "info", "format": "json"},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp / "sidecar.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, port, admin


@asynccontextmanager
async def sidecar_process(tmp: Path, gateway_url: str, *, client: str = "aiohttp",
                          env: dict[str, str] | None = None,
                          **config: Any) -> AsyncIterator[SidecarProcess]:
    """Start the sidecar, wait until /readyz says ready; kill it on exit if the test did not stop it.
    ``env``: extra environment (secrets the config refers to)."""
    path, port, admin = write_config(tmp, client, config)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LAVA_", "OPENAI_", "ANTHROPIC_"))}
    environ |= {"LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": gateway_url, **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE), "serve", "--config", str(path), env=environ,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    sp = SidecarProcess(proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}", port,
                        tmp / "usage.jsonl")

    async def collect() -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            sp.stderr.append(line.decode(errors="replace").rstrip("\n"))

    reader = asyncio.ensure_future(collect())
    try:
        async with asyncio.timeout(20):
            while True:
                if proc.returncode is not None:
                    raise AssertionError(f"sidecar exited early ({proc.returncode}): {sp.stderr}")
                with contextlib.suppress(aiohttp.ClientError):
                    if await sp.readyz(200):
                        break
                await asyncio.sleep(0.05)
        yield sp
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(reader, 5)


async def eventually(check: Callable[[], Awaitable[bool | int]], within: float) -> None:
    """Poll an async condition until it holds (bounded; not a timing assertion)."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def refuses_connections(port: int) -> bool:
    """True when nothing accepts on the proxy port any more."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return False
