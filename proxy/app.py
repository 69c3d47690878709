"""Wiring only: ``App.open(settings)`` builds what the sidecar is made of (the metering stack, the
outbound client to Lava, the request runtime and its seams) and ``aclose`` takes it down in reverse.

How it runs (listeners, signals, the drain) is ``lifecycle``'s job; what a request does is the
pipeline's. A feature that joins the request path is built here and handed to ``Runtime`` as an
admission or completion hook (``pipeline/seams.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from .admin import create_admin_app
from .config import Settings
from .gateway import make_client
from .metering import Recorder
from .pipeline import Runtime
from .prices.refresh import PriceCatalog

#: How long ``aclose`` waits for cancelled handlers to record before the usage log closes.
_UNWIND_SECONDS: Final = 1.0


@dataclass(slots=True, eq=False)
class App:
    """The sidecar's parts, open. ``registry`` is injected (never prometheus_client's global one)."""

    settings: Settings
    registry: CollectorRegistry
    recorder: Recorder
    runtime: Runtime
    replay: asyncio.Task[int] | None = None
    #: Lists Lava's meters into the recorder's pricing in the background (``pricing.from_lava``).
    prices: PriceCatalog | None = None

    @classmethod
    async def open(cls, settings: Settings, *, registry: CollectorRegistry | None = None) -> App:
        registry = registry if registry is not None else CollectorRegistry()
        recorder = await Recorder.open(settings, registry)
        gateway = make_client(settings.gateway, on_retry=recorder.metrics.connect_retry)
        rt = Runtime.build(settings, recorder, gateway)
        rt.usage_log_healthy = recorder.usage_log_healthy
        recorder.metrics.watch(
            inflight_requests=lambda: rt.inflight.requests,
            inflight_streams=lambda: rt.inflight.streams,
            ready=lambda: rt.readiness.ready,
        )
        try:
            await gateway.start()
        except BaseException:
            await recorder.aclose()
            raise
        app = cls(settings, registry, recorder, rt)
        if settings.pricing.from_lava:
            # Alongside serving: until the first listing, meters not in ``meters:`` are charged null.
            app.prices = PriceCatalog(settings.pricing, recorder.pricing,
                                      base_url=settings.gateway.url,
                                      secret_key=settings.secret_key, registry=registry)
            app.prices.start()
        # Serving starts now; the history replays alongside (it can take seconds for large logs).
        app.replay = asyncio.create_task(app._replay(), name="usage-log-replay")
        return app

    async def _replay(self) -> int:
        # The history is priced like live traffic: with Lava's catalog once its first listing ended.
        if self.prices is not None:
            await self.prices.tried.wait()
        return await self.recorder.replay_log()

    def admin(self) -> web.Application:
        """The admin listener's app: /metrics, /healthz, /readyz, /usage."""
        return create_admin_app(self.registry, self.recorder.totals, self.runtime.readiness)

    async def aclose(self) -> None:
        """Call after the last request has ended: nothing more can be recorded, so flushing the
        usage log now loses nothing."""
        if self.prices is not None:
            await self.prices.aclose()
        if self.replay is not None:
            self.replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.replay
        # Handlers cancelled just before still record as they unwind: a moment for them first.
        await self.runtime.inflight.idle(_UNWIND_SECONDS)
        await self.runtime.gateway.aclose()
        await self.recorder.aclose()
