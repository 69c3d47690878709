"""The listening side: accepts connections, tracks them and their running handlers, closes idle
ones, and shuts down in steps (stop accepting → close idle → wait → cancel)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from ..errors import SidecarError
from .exchange import Exchange
from .head import HttpDate
from .protocol import HttpProtocol

Handler = Callable[[Exchange], Awaitable[None]]
#: The app's answer to input the server refuses itself: given the request target and the error,
#: the response headers and body. The server adds only framing: it knows nothing of API shapes.
RenderRefusal = Callable[[str, SidecarError], tuple[list[tuple[str, str]], bytes]]

#: A connection with no request in progress is closed after this long (aiohttp's default too).
#: It also bounds a client that trickles a request head: the clock runs from when it went idle.
KEEPALIVE_SECONDS: Final = 75.0
_SWEEP_SECONDS: Final = 5.0


class InboundServer:
    def __init__(self, handler: Handler, *, render_refusal: RenderRefusal, max_header_bytes: int,
                 max_headers: int,
                 access_log: logging.Logger | None = None,
                 keepalive_seconds: float = KEEPALIVE_SECONDS,
                 cancel_on_disconnect: bool = True) -> None:
        self.handler = handler
        self.render_refusal = render_refusal
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        #: Where the refusals the server answers itself (431, 400) are logged; the requests the
        #: handler serves are the handler's to log.
        self.access_log = access_log
        self.keepalive_seconds = keepalive_seconds
        #: A handler whose client left is cancelled (its next await raises); off, it learns from
        #: its next write (``ClientGone``). Off only in tests of the relay's write-failure path.
        self.cancel_on_disconnect = cancel_on_disconnect
        self.loop = asyncio.get_running_loop()
        self.connections: set[HttpProtocol] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        #: ``Date`` header bytes, shared by every connection (formatted once per second).
        self.http_date = HttpDate()
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def listen(self, host: str, port: int, *, backlog: int = 1024) -> tuple[str, int]:
        server = await self.loop.create_server(lambda: HttpProtocol(self), host, port,
                                               backlog=backlog)
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = self.loop.create_task(self._sweep(), name="inbound-keepalive-sweep")
        bound = server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def _sweep(self) -> None:
        # One timer for all connections instead of one armed and cancelled per request.
        while True:
            await asyncio.sleep(min(_SWEEP_SECONDS, self.keepalive_seconds))
            cutoff = self.loop.time() - self.keepalive_seconds
            for conn in list(self.connections):
                if conn.idle and conn.since < cutoff:
                    conn.close()

    async def stop_listening(self) -> None:
        """Refuse new connections; close idle ones now and busy ones after their response."""
        self.closing = True
        for server in self._servers:
            server.close()
        self._servers.clear()
        for conn in list(self.connections):
            if conn.idle:
                conn.close()

    async def shutdown(self, grace: float) -> None:
        """Stop listening, give running handlers ``grace`` seconds, cancel the rest, close all."""
        await self.stop_listening()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=grace)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=1.0)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
