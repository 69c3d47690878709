"""The whole path on loopback: the local Lava gateway (``proxy.emulator``) and the sidecar in front of
it, each a real server on an ephemeral port, for tests that drive them with the official SDKs."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from proxy import config as c
from proxy.config import load_settings
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.lifecycle import Sidecar as RunningSidecar
from proxy.lifecycle import running_sidecar
from proxy.metering import Recorder

from .conftest import TEST_SECRET
from .records import written_lines

CUSTOMER_HEADERS = {"X-Lava-Customer-Id": "cus_alpha", "X-Lava-Meter": "chat-tokens"}


@dataclass(slots=True)
class Stack:
    gateway: RunningGateway
    settings: c.Settings
    running: RunningSidecar
    url: str  # http://127.0.0.1:PORT (the sidecar's proxy listener)
    admin_url: str
    registry: CollectorRegistry
    usage_log: Path
    #: Async callables run when the stack closes (SDK clients a test opened).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def recorder(self) -> Recorder:
        return self.running.recorder

    def sample(self, name: str, **labels: str) -> float:
        """A metric sample (0.0 when the series does not exist yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0

    def log_lines(self) -> list[dict[str, Any]]:
        return written_lines(self.usage_log)


def stack_settings(gateway_url: str, tmp: Path, **replace: Any) -> c.Settings:
    settings = load_settings(None, {"LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": gateway_url})
    settings = dataclasses.replace(
        settings,
        usage_log=c.UsageLog(path=str(tmp / "usage.jsonl"), fsync_interval=0.05),
        shutdown=c.Shutdown(grace=5.0, drain_delay=0.0),
    )
    return dataclasses.replace(settings, **replace)


@asynccontextmanager
async def running_stack(tmp: Path, *, gateway_options: dict[str, Any] | None = None,
                        **settings_replace: Any) -> AsyncIterator[Stack]:
    async with running_gateway(TEST_SECRET, **(gateway_options or {})) as gw:
        settings = stack_settings(gw.url, tmp, **settings_replace)
        async with running_sidecar(settings) as sc:
            stack = Stack(gw, settings, sc, sc.url, sc.admin_url, sc.registry, tmp / "usage.jsonl")
            try:
                yield stack
            finally:
                for close in stack.closers:
                    await close()
