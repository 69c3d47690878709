"""The sidecar's one lifecycle: ``Sidecar.startup`` → ``main_loop`` → ``shutdown``, as uvicorn's
``Server`` does it; ``serve`` (the command) and ``running_sidecar`` (the demo, tests) both use it.

Shutdown order (peers.md §4: rolling restarts that cut streams and drop queued usage rows):
readiness goes false first; after ``drain_delay`` the proxy listener closes (new connections are
refused, idle keep-alive ones closed); in-flight requests and streams get up to ``grace`` seconds,
then whatever still runs is ended in its API's shape (an SSE error event, or a 503); then the
parts close (the usage log is flushed and fsynced); the admin listener closes last, so /readyz
and /metrics stay answerable throughout.

Signals (``serve``): SIGTERM, SIGINT and SIGQUIT start that shutdown (a second one skips the drain
delay); SIGHUP reloads the configuration file (``config/watch.py``: quotas and identity.api_keys),
and is logged and ignored when the sidecar runs without one. It is never fatal (a closing
terminal, ``systemctl reload``). Before the loop's handlers, the command's
(``commands/startsignals.py``, from the first statement of ``cli.main``) note them; ``serve``
takes over what they noted: a stop before anything opened returns 0 at once, one while the parts
open closes them in order without announcing ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final

from aiohttp import web
from prometheus_client import CollectorRegistry

from .adminserver import AdminRunner
from .app import App
from .config import Listen, Settings
from .config.watch import ConfigSource, ConfigWatcher
from .errors import SidecarError, refusal
from .inbound import InboundServer
from .metering import Recorder
from .pipeline import Runtime, make_handler
from .routing import shape_for_path

if TYPE_CHECKING:
    from .commands.startsignals import StartSignals

log = logging.getLogger("lava_sidecar.server")

#: After the grace: how long cut handlers get to send their last event or 503 and record.
_CUT_WAIT: Final = 1.0
#: Then how long the inbound server waits for a handler it cancels (it only records and returns).
_CANCEL_WAIT: Final = 0.1
STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def render_refusal(path: str, err: SidecarError) -> tuple[list[tuple[str, str]], bytes]:
    """The inbound server's refusals (431, 400, 500), in the API shape its path announces."""
    return refusal(shape_for_path(path), err)


class Sidecar:
    """The proxy and admin listeners over one ``App``. Not reusable: start it once."""

    def __init__(self, settings: Settings, *, registry: CollectorRegistry | None = None,
                 access_log: logging.Logger | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else CollectorRegistry()
        #: Where the inbound server logs the refusals it answers itself (the pipeline's own access
        #: lines come from its completion hook, ``accesslog``).
        self._access_log = access_log if access_log is not None else (
            logging.getLogger("lava_sidecar.access") if settings.logging.access_log else None)
        self._app: App | None = None
        self._inbound: InboundServer | None = None
        self._admin: web.AppRunner | None = None
        self.proxy_address: tuple[str, int] = ("", 0)
        self.admin_address: tuple[str, int] = ("", 0)

    @property
    def app(self) -> App:
        if self._app is None:
            raise RuntimeError("the sidecar is not started")
        return self._app

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime

    @property
    def recorder(self) -> Recorder:
        return self.app.recorder

    @property
    def url(self) -> str:
        """The proxy listener, ``http://HOST:PORT`` (once started)."""
        return "http://{}:{}".format(*self.proxy_address)

    @property
    def admin_url(self) -> str:
        """/metrics, /healthz, /readyz, /usage."""
        return "http://{}:{}".format(*self.admin_address)

    async def startup(self, listen: Listen, admin_listen: Listen) -> None:
        """Open the parts, then listen: admin first (probes answer "not ready" meanwhile), then the
        proxy; ready at the end. Raises ``OSError`` when a port cannot be bound (parts closed)."""
        app = self._app = await App.open(self.settings, registry=self.registry)
        limits = self.settings.limits
        self._admin = AdminRunner(app.admin())
        await self._admin.setup()
        bounds = self.settings.bounds
        self._inbound = InboundServer(make_handler(app.runtime), render_refusal=render_refusal,
                                      max_header_bytes=limits.max_header_bytes,
                                      max_headers=limits.max_headers, access_log=self._access_log,
                                      header_timeout=bounds.header_timeout,
                                      body_idle_timeout=bounds.body_idle_timeout,
                                      on_timeout=app.bounds.client_timeout)
        try:
            site = web.TCPSite(self._admin, admin_listen.host, admin_listen.port)
            await site.start()
            self.admin_address = self._admin.addresses[0][:2]
            self.proxy_address = await self._inbound.listen(listen.host, listen.port)
        except OSError:
            await self._close(grace=0.0)
            raise
        app.runtime.readiness.started = True

    async def main_loop(self, stop: asyncio.Event) -> None:
        await stop.wait()

    async def shutdown(self, *, drain_delay: float = 0.0, stop: asyncio.Event | None = None) -> None:
        """Drain and stop, in the order the module docstring gives. ``stop`` set again during the
        drain delay skips the rest of it (an operator pressing Ctrl-C twice means it)."""
        rt = self.runtime
        rt.readiness.draining = True
        grace = self.settings.shutdown.grace
        log.info("draining: readiness is now false", extra={
            "inflight_requests": rt.inflight.requests, "drain_delay_seconds": drain_delay,
            "grace_seconds": grace})
        if drain_delay > 0:
            stop = stop or asyncio.Event()
            stop.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), drain_delay)
        started = time.monotonic()
        cut = await self._close(grace=grace)
        log.info("stopped", extra={"drain_seconds": round(time.monotonic() - started, 3),
                                   "cancelled_requests": cut})

    async def _close(self, *, grace: float) -> int:
        """Listener closed → in-flight requests get ``grace`` → the rest ended in shape → parts
        closed → admin closed. Returns how many requests the grace did not cover."""
        cut = 0
        if self._inbound is not None and self._app is not None:
            rt = self._app.runtime
            await self._inbound.stop_listening()
            await rt.inflight.idle(grace)
            cut = rt.inflight.requests
            if cut:
                # Streams end with an error event and waiting requests get a 503, each in its API's
                # shape; what has not ended after a short wait is cancelled outright.
                rt.inflight.cut()
                await rt.inflight.idle(_CUT_WAIT)
            await self._inbound.shutdown(_CANCEL_WAIT)
            self._inbound = None
        if self._app is not None:
            await self._app.aclose()
        if self._admin is not None:
            await self._admin.cleanup()
            self._admin = None
        return cut


class _Hangup:
    """SIGHUP's target: the config watcher once serving with a file, else a log line."""

    __slots__ = ("reload",)

    def __init__(self) -> None:
        self.reload: Callable[[], None] | None = None

    def __call__(self) -> None:
        if self.reload is not None:
            log.info("SIGHUP received: reloading the configuration")
            self.reload()
        else:
            log.info("SIGHUP received: ignored (no config file to reload, or still starting; "
                     "send SIGTERM to stop the sidecar)")


def _host_port(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(settings: Settings, *, ready: Callable[[], None] | None = None,
                stop: asyncio.Event | None = None, source: ConfigSource | None = None,
                early: StartSignals | None = None) -> int:
    """``lava-sidecar serve``: until a stop signal (or ``stop``). Returns the process exit code.
    With ``source`` (the config file it was loaded from), SIGHUP and file changes reload it.
    ``early``: what the command noted before the loop's handlers (a stop, SIGHUPs)."""
    t_start = time.monotonic()
    stop = stop or asyncio.Event()
    hangup = _Hangup()
    _capture_signals(stop, hangup)
    if early is not None:  # read after the loop's handlers are in: nothing falls in between
        early.report(log)
        if early.stop is not None:
            stop.set()
    if stop.is_set():
        log.info("stop signal received while starting: stopped before serving")
        return 0
    sidecar = Sidecar(settings)
    try:
        await sidecar.startup(settings.listen, settings.admin_listen)
    except OSError as exc:
        log.error("cannot listen: %s", exc)
        return 1
    # Everything built so far lives as long as the process: move it out of the collector's way so
    # each collection scans only per-request garbage (it was 2-5% of CPU under load, py-spy).
    gc.freeze()
    if stop.is_set():
        # Stopped while starting: never announced ready, so no drain delay; closed in order.
        log.info("stop signal received while starting: closing before serving")
        await sidecar.shutdown()
        return 0
    log.info("lava-sidecar ready", extra={  # the bound addresses: port 0 says which it got
        "listen": _host_port(sidecar.proxy_address), "admin_listen": _host_port(sidecar.admin_address),
        "gateway": settings.gateway.url, "startup_seconds": round(time.monotonic() - t_start, 3)})
    watcher = None
    if source is not None:
        watcher = ConfigWatcher(source, sidecar.app.reload, sidecar.registry)
        watcher.start()
        hangup.reload = watcher.trigger
    if ready is not None:
        ready()
    await sidecar.main_loop(stop)
    hangup.reload = None
    if watcher is not None:
        await watcher.aclose()
    await sidecar.shutdown(drain_delay=settings.shutdown.drain_delay, stop=stop)
    return 0


def _capture_signals(stop: asyncio.Event, hangup: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        # Python's default for SIGHUP ends the process at once: no drain, no flush (issue 16).
        loop.add_signal_handler(signal.SIGHUP, hangup)


@asynccontextmanager
async def running_sidecar(settings: Settings, *, registry: CollectorRegistry | None = None,
                          host: str = "127.0.0.1", port: int = 0,
                          admin_port: int = 0) -> AsyncIterator[Sidecar]:
    """The sidecar inside another program's event loop: both listeners on loopback, ephemeral
    ports by default, stopped by the same shutdown ``serve`` uses (without the drain delay)."""
    sidecar = Sidecar(settings, registry=registry)
    await sidecar.startup(Listen(host, port), Listen(host, admin_port))
    try:
        yield sidecar
    finally:
        await sidecar.shutdown()
