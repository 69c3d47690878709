"""Wiring only: ``create_app(settings)`` builds the proxy app; its ``cleanup_ctx`` opens and closes
the outbound client and the metering stack (metrics, usage log, totals) in the right order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CollectorRegistry

from .admin import create_admin_app
from .config import Settings
from .gateway import make_client
from .metering import Recorder
from .pipeline import RUNTIME
from .record import RequestRecord
from .runtime import Runtime

log = logging.getLogger("lava_sidecar.app")

#: The injected metrics registry (never prometheus_client's process-global one).
COLLECTORS: web.AppKey[CollectorRegistry] = web.AppKey("collectors", CollectorRegistry)
#: How long the cleanup waits for cancelled handlers to record before the usage log closes.
_UNWIND_SECONDS = 1.0
METERING: web.AppKey[MeteringSlot] = web.AppKey("metering", object)  # type: ignore[arg-type]


class MeteringSlot:
    """Holds the recorder once started (it opens files, so it cannot exist before startup)."""

    __slots__ = ("recorder",)

    def __init__(self) -> None:
        self.recorder: Recorder | None = None

    def record(self, rec: RequestRecord) -> None:
        # Requests only arrive after startup; this guards a misuse, it is not a code path.
        if self.recorder is None:
            log.error("request recorded before the metering stack started", extra={"id": rec.request_id})
            return
        self.recorder.record(rec)

    def connect_retry(self) -> None:
        if self.recorder is not None:
            self.recorder.metrics.connect_retry()


def create_app(settings: Settings, *, registry: CollectorRegistry | None = None) -> web.Application:
    """The proxy application. ``registry`` is injected (never the process-global one)."""
    # The app holds the lifecycle and the shared objects; requests are served by the inbound
    # server (listener.py), not by an aiohttp router.
    app = web.Application()
    slot = MeteringSlot()
    gateway = make_client(settings.gateway, on_retry=slot.connect_retry)
    runtime = Runtime.build(settings, slot, gateway)
    app[RUNTIME] = runtime
    app[COLLECTORS] = registry if registry is not None else CollectorRegistry()
    app[METERING] = slot
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    rt, slot = app[RUNTIME], app[METERING]
    recorder = await Recorder.open(rt.settings, app[COLLECTORS])
    recorder.metrics.watch(
        inflight_requests=lambda: rt.inflight.requests,
        inflight_streams=lambda: rt.inflight.streams,
        ready=lambda: rt.readiness.ready,
    )
    slot.recorder = recorder
    rt.usage_log_healthy = recorder.usage_log_healthy
    await rt.gateway.start()
    # Serving starts now; the history replays alongside (it can take seconds for large logs).
    replay = asyncio.create_task(recorder.replay_log(), name="usage-log-replay")
    try:
        yield
    finally:
        replay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await replay
        # Runs after every in-flight request has finished (or the grace ran out): nothing more
        # can be recorded, so flushing the usage log now loses nothing. Handlers cancelled just
        # before still record as they unwind: a moment for them first.
        await rt.inflight.idle(_UNWIND_SECONDS)
        await rt.gateway.aclose()
        await recorder.aclose()


def create_admin_for(app: web.Application) -> web.Application:
    """The admin app for a *started* proxy app (its recorder exists only after startup)."""
    recorder = app[METERING].recorder
    if recorder is None:
        raise RuntimeError("create_admin_for() needs the proxy app started (runner.setup())")
    return create_admin_app(app[COLLECTORS], recorder.totals, app[RUNTIME].readiness)
