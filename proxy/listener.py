"""The proxy listener: the inbound server handing every request to the one proxy handler.

No router, no middlewares: the proxy serves every path with one handler. The aiohttp
``Application`` is kept for its lifecycle only: its ``cleanup_ctx`` starts before the listener and
is cleaned up after the last in-flight request.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .inbound import InboundServer
from .pipeline import RUNTIME, make_handler


class ProxyServer:
    """``setup`` → ``start(host, port)`` → (``stop_listening``) → ``cleanup``; ``cleanup`` waits for
    in-flight requests up to ``shutdown_timeout``, then runs the app's cleanup (the usage log is
    flushed there)."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float,
                 access_log: logging.Logger | None = None) -> None:
        self.app = app
        self._shutdown_timeout = shutdown_timeout
        self._access_log = access_log
        self._server: InboundServer | None = None
        self._started = False

    async def setup(self) -> None:
        # As AppRunner does: signals must be frozen before they are sent. Nothing sets app keys
        # after this (the lifecycle fills slots on objects the app already holds).
        self.app.freeze()
        await self.app.startup()
        self._started = True
        limits = self.app[RUNTIME].settings.limits
        # Created here, not in __init__: the server binds the running loop.
        self._server = InboundServer(make_handler(self.app[RUNTIME]),
                                     max_header_bytes=limits.max_header_bytes,
                                     max_headers=limits.max_headers, access_log=self._access_log)

    async def start(self, host: str, port: int, *, backlog: int = 1024) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free one)."""
        if self._server is None:
            raise RuntimeError("ProxyServer.start() before setup()")
        return await self._server.listen(host, port, backlog=backlog)

    async def stop_listening(self) -> None:
        """New connections are refused; idle keep-alive ones close now, busy ones after their
        response."""
        if self._server is not None:
            await self._server.stop_listening()

    async def cleanup(self) -> None:
        if self._server is not None:
            # Close the listener, let in-flight requests finish (≤ shutdown_timeout), cancel the rest.
            await self._server.shutdown(self._shutdown_timeout)
            self._server = None
        if self._started:
            self._started = False
            await self.app.shutdown()
            await self.app.cleanup()
