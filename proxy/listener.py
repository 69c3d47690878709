"""The proxy listener: aiohttp's low-level server handing every request to the one proxy handler.

No router, no middlewares: the proxy serves every path with one handler, and aiohttp's
``Application`` dispatch cost ~20-30 µs of CPU per request here (a fixed-response server measured
73-78 µs through ``Application`` against 35-59 µs through ``web.Server``, h2load, interleaved).
The app still owns the lifecycle: its ``cleanup_ctx`` starts before the listener and is cleaned up
after the last in-flight request, exactly as ``AppRunner`` would do it.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .handler import RUNTIME, make_handler


class ProxyServer:
    """``setup`` → ``start(host, port)`` → ``cleanup``; ``cleanup`` waits for in-flight requests up
    to ``shutdown_timeout``, then runs the app's cleanup (the usage log is flushed there)."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float,
                 access_log: logging.Logger | None = None) -> None:
        self.app = app
        self._shutdown_timeout = shutdown_timeout
        self._access_log = access_log
        self._runner: web.ServerRunner | None = None
        self._started = False

    async def setup(self) -> None:
        # As AppRunner does: signals must be frozen before they are sent. Nothing sets app keys
        # after this (the lifecycle fills slots on objects the app already holds).
        self.app.freeze()
        await self.app.startup()
        self._started = True
        limits = self.app[RUNTIME].settings.limits
        # Created here, not in __init__: the low-level server binds the running loop.
        server = web.Server(
            make_handler(self.app[RUNTIME]), handler_cancellation=True, access_log=self._access_log,
            max_field_size=limits.max_header_bytes, max_headers=limits.max_headers,
            max_line_size=limits.max_header_bytes)
        self._runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await self._runner.setup()

    @property
    def runner(self) -> web.ServerRunner:
        if self._runner is None:
            raise RuntimeError("ProxyServer not set up")
        return self._runner

    async def start(self, host: str, port: int, *, backlog: int = 1024) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        if self._runner is None:
            raise RuntimeError("ProxyServer.start() before setup()")
        site = web.TCPSite(self._runner, host, port, backlog=backlog)
        await site.start()
        bound = self._runner.addresses[-1]
        return str(bound[0]), int(bound[1])

    async def cleanup(self) -> None:
        if self._runner is not None:
            # Close the listener, let in-flight requests finish (≤ shutdown_timeout), cancel the rest.
            await self._runner.cleanup()
            self._runner = None
        if self._started:
            self._started = False
            await self.app.shutdown()
            await self.app.cleanup()
