"""The probes' stack: the emulator gateway (everyone admitted, as ``bench.scrape_load`` runs it) and
``lava-sidecar serve`` from a config file in front of it, each its own process on loopback ports,
stopped by PID; plus what /proc says about the sidecar and a keep-alive client of ordinary requests."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import payloads
from .processes import Proc, free_port, http_get_status, spawn, wait_ready

CHAT = "/v1/chat/completions"
WHO = b"X-Lava-Customer-Id: cus_probe\r\nX-Lava-Meter: probe\r\n"


@dataclass
class Stack:
    gateway: Proc
    sidecar: Proc
    port: int
    admin: int
    config: Path
    log: Path

    def stop(self) -> None:
        self.sidecar.stop()
        self.gateway.stop()


def exe_for(checkout: Path | None) -> list[str]:
    """``lava-sidecar`` of this checkout (None) or of another one's .venv."""
    if checkout is None:
        script = Path(sys.executable).parent / "lava-sidecar"
        return [str(script)] if script.exists() else [sys.executable, "-m", "proxy"]
    return [str(checkout.resolve() / ".venv" / "bin" / "lava-sidecar")]


def start_stack(work: Path, name: str, exe: list[str], config_yaml: str) -> Stack:
    """Both processes, ready; ``config_yaml`` is added to the listeners, usage log and logging."""
    d = work / name
    d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAVA_")}
    env["LAVA_SECRET_KEY"] = "aks_test_bench" + secrets.token_hex(12)  # throwaway, env only
    gw_port, port, admin = free_port(), free_port(), free_port()
    gateway = spawn("gateway", [sys.executable, "-m", "bench.scrape_load", "--serve-gateway",
                                str(gw_port)], log_path=d / "gateway.log", env=env,
                    cwd=Path(__file__).resolve().parents[1])
    wait_ready(gateway, lambda: http_get_status(gw_port, "/") is not None, timeout=30)
    config = d / "sidecar.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{port}\nadmin_listen: 127.0.0.1:{admin}\n"
        f"usage_log: {{path: '{d / 'usage.jsonl'}'}}\n"
        "pricing: {from_lava: false}\n" + config_yaml)
    env["LAVA_GATEWAY_URL"] = f"http://127.0.0.1:{gw_port}"
    try:
        sidecar = spawn("sidecar", [*exe, "serve", "--config", str(config)],
                        log_path=d / "sidecar.log", env=env)
        wait_ready(sidecar, lambda: http_get_status(admin, "/readyz") == 200, timeout=30)
    except BaseException:
        gateway.stop()
        raise
    return Stack(gateway, sidecar, port, admin, config, d / "sidecar.log")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def chat_request() -> bytes:
    body = payloads.request_body(stream=False)
    return (b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
            + WHO + b"Content-Length: %d\r\n\r\n" % len(body) + body)


class KeepAliveClient:
    """One keep-alive connection sending ordinary chat requests, one at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.request = chat_request()

    @classmethod
    async def open(cls, port: int) -> KeepAliveClient:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def call(self) -> tuple[int, float]:
        """One request: its status and seconds from written to read whole."""
        t0 = time.perf_counter()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        return int(head.split(b" ", 2)[1]), time.perf_counter() - t0

    def close(self) -> None:
        self.writer.close()
