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
from typing import TYPE_CHECKING, Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from .admin import create_admin_app
from .config import Settings
from .gateway import make_client
from .metering import Recorder
from .pipeline import Runtime

if TYPE_CHECKING:
    from .tracing.spans import Tracer

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
    tracer: Tracer | None = None

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
        try:
            app.tracer = _tracer(settings, registry, recorder, rt)
        except BaseException:
            await gateway.aclose()
            await recorder.aclose()
            raise
        # Serving starts now; the history replays alongside (it can take seconds for large logs).
        app.replay = asyncio.create_task(recorder.replay_log(), name="usage-log-replay")
        return app

    def admin(self) -> web.Application:
        """The admin listener's app: /metrics, /healthz, /readyz, /usage."""
        return create_admin_app(self.registry, self.recorder.totals, self.runtime.readiness)

    async def aclose(self) -> None:
        """Call after the last request has ended: nothing more can be recorded, so flushing the
        usage log now loses nothing."""
        if self.replay is not None:
            self.replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.replay
        # Handlers cancelled just before still record as they unwind: a moment for them first.
        await self.runtime.inflight.idle(_UNWIND_SECONDS)
        await self.runtime.gateway.aclose()
        if self.tracer is not None:
            # The last spans were queued as the handlers recorded; flush them within the grace.
            await asyncio.to_thread(self.tracer.shutdown, min(self.settings.shutdown.grace,
                                                              self.settings.tracing.export_timeout))
        await self.recorder.aclose()


def _tracer(settings: Settings, registry: CollectorRegistry, recorder: Recorder,
            rt: Runtime) -> Tracer | None:
    """Tracing joins both seams, first, when configured; off, nothing is installed at all."""
    if not settings.tracing.enabled:
        return None
    from .tracing.spans import TRACE_HEADERS, Tracer

    tracer = Tracer.open(settings.tracing, registry, gateway_url=settings.gateway.url,
                         charge_of=recorder.charge_of)
    rt.admission = (tracer, *rt.admission)
    rt.completion = (tracer, *rt.completion)
    # The caller's trace headers are consumed: Lava gets the sidecar's client span instead.
    rt.control_headers = rt.control_headers | TRACE_HEADERS
    return tracer
