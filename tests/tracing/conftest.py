"""A traced stack: the local Lava gateway, the sidecar with tracing on, and a loopback collector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from proxy import config as c
from proxy.tracing import TracingSettings

from ..stack import Stack, running_stack

#: The meter the stack's customer headers name, priced, so spans carry lava.charge_usd.
METERS = (c.MeterPrice("chat-tokens", "tokens_1m", (c.Tier(Decimal(0), Decimal("2.50")),)),)


def tracing(endpoint: str, **over: Any) -> TracingSettings:
    # A short delay: the tests wait for spans, not for the 5 s default.
    opts: dict[str, Any] = {"enabled": True, "endpoint": endpoint, "schedule_delay": 0.02,
                            "export_timeout": 2.0, "enabled_by": "tracing.endpoint"}
    return TracingSettings(**(opts | over))


@asynccontextmanager
async def traced_stack(tmp: Path, endpoint: str, *, settings: dict[str, Any] | None = None,
                       **over: Any) -> AsyncIterator[Stack]:
    """``over``: ``TracingSettings`` fields; ``settings``: other ``Settings`` fields."""
    async with running_stack(tmp, tracing=tracing(endpoint, **over), meters=METERS,
                             **(settings or {})) as s:
        yield s
