"""The sidecar inside another program's event loop (the demo, tests): both listeners on loopback,
ephemeral ports by default, torn down in the same order ``serve`` uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from .app import METERING, create_admin_for, create_app
from .config import Settings
from .listener import ProxyServer
from .metering import Recorder
from .pipeline import RUNTIME


@dataclass(frozen=True, slots=True)
class RunningSidecar:
    app: web.Application
    url: str  # the proxy listener, http://127.0.0.1:PORT
    admin_url: str  # /metrics, /healthz, /readyz, /usage
    registry: CollectorRegistry

    @property
    def recorder(self) -> Recorder:
        recorder = self.app[METERING].recorder
        if recorder is None:  # pragma: no cover - set before the listeners start
            raise RuntimeError("sidecar not started")
        return recorder


@asynccontextmanager
async def running_sidecar(settings: Settings, *, registry: CollectorRegistry | None = None,
                          host: str = "127.0.0.1", port: int = 0,
                          admin_port: int = 0) -> AsyncIterator[RunningSidecar]:
    registry = registry if registry is not None else CollectorRegistry()
    app = create_app(settings, registry=registry)
    proxy = ProxyServer(app, shutdown_timeout=settings.shutdown.grace)
    await proxy.setup()
    admin = web.AppRunner(create_admin_for(app), access_log=None)
    await admin.setup()
    try:
        await web.TCPSite(admin, host, admin_port).start()
        phost, pport = await proxy.start(host, port)
        app[RUNTIME].readiness.started = True
        ahost, aport = admin.addresses[0][:2]
        yield RunningSidecar(app, f"http://{phost}:{pport}", f"http://{ahost}:{aport}", registry)
    finally:
        app[RUNTIME].readiness.draining = True
        await proxy.cleanup()  # in-flight requests finish, then the usage log is flushed
        await admin.cleanup()
