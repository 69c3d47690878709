"""Run the proxy and admin listeners until SIGTERM/SIGINT, then drain and exit cleanly.

Shutdown order (peers.md §4: rolling restarts that cut streams and drop queued usage rows):
readiness goes false first; after ``drain_delay`` the proxy listener closes (new connections are
refused); in-flight requests and streams get up to ``grace`` seconds, then whatever still runs is
ended in its API's shape (an SSE error event, or a 503); then the app's cleanup runs (the usage
log is flushed and fsynced); the admin listener closes last, so /readyz and /metrics stay
answerable throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable

from aiohttp import web

from .app import create_admin_for, create_app
from .config import Settings
from .listener import ProxyServer
from .pipeline import RUNTIME
from .runtime import Runtime

log = logging.getLogger("lava_sidecar.server")

#: After the grace: how long cut handlers get to send their last event or 503 and record.
_CUT_WAIT = 1.0
#: Then how long aiohttp waits for a handler it cancels (it only records and returns).
_CANCEL_WAIT = 0.1


async def serve(settings: Settings, *, ready: Callable[[], None] | None = None,
                stop: asyncio.Event | None = None) -> int:
    """Serve until ``stop`` is set (or a signal arrives). Returns the process exit code."""
    t_start = time.monotonic()
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)

    app = create_app(settings)
    proxy = ProxyServer(app, shutdown_timeout=_CANCEL_WAIT, access_log=_access_log(settings))
    await proxy.setup()  # runs the app's cleanup_ctx start: outbound client, usage log, metrics
    rt = app[RUNTIME]
    admin_runner = web.AppRunner(create_admin_for(app), handle_signals=False, access_log=None)
    await admin_runner.setup()
    try:
        await web.TCPSite(admin_runner, settings.admin_listen.host, settings.admin_listen.port).start()
        await proxy.start(settings.listen.host, settings.listen.port)
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        await proxy.cleanup()
        await admin_runner.cleanup()
        return 1
    # Everything built so far lives as long as the process: move it out of the collector's way so
    # each collection scans only per-request garbage (it was 2-5% of CPU under load, py-spy).
    gc.freeze()
    rt.readiness.started = True
    log.info("lava-sidecar ready", extra={
        "listen": str(settings.listen), "admin_listen": str(settings.admin_listen),
        "gateway": settings.gateway.url, "startup_seconds": round(time.monotonic() - t_start, 3)})
    if ready is not None:
        ready()

    await stop.wait()
    rt.readiness.draining = True
    inflight = rt.inflight.requests
    log.info("draining: readiness is now false", extra={
        "inflight_requests": inflight, "drain_delay_seconds": settings.shutdown.drain_delay,
        "grace_seconds": settings.shutdown.grace})
    if settings.shutdown.drain_delay > 0:
        # A second signal skips the delay: an operator pressing Ctrl-C twice means it.
        stop.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.shutdown.drain_delay)
    t_drain = time.monotonic()
    cut = await _drain(proxy, rt, settings.shutdown.grace)
    if cut:
        # Streams end with an error event and waiting requests get a 503, each in its API's
        # shape; what has not ended after a short wait, aiohttp cancels outright.
        rt.inflight.cut()
        await rt.inflight.idle(_CUT_WAIT)
    await proxy.cleanup()  # then cleanup_ctx exits: the usage log is flushed
    log.info("stopped", extra={"drain_seconds": round(time.monotonic() - t_drain, 3),
                               "cancelled_requests": cut})
    await admin_runner.cleanup()
    return 0


async def _drain(proxy: ProxyServer, rt: Runtime, grace: float) -> int:
    """Close the proxy listener, then give in-flight requests at most ``grace`` seconds; returns
    how many are still running when it ends (they are cancelled next).

    Done here rather than with the server's own shutdown timeout, so that what still runs at the
    end of the grace is ended in its API's shape (``Inflight.cut``) before anything is cancelled:
    a pod's terminationGracePeriodSeconds must not arrive before the usage log flush.
    """
    # Idle keep-alive connections close now, busy ones once their response is done.
    await proxy.stop_listening()
    await rt.inflight.idle(grace)
    return rt.inflight.requests


def _access_log(settings: Settings) -> logging.Logger | None:
    return logging.getLogger("lava_sidecar.access") if settings.logging.access_log else None
