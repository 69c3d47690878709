"""One keep-alive connection to Lava: an asyncio Protocol that feeds the current exchange's parser,
bounds what a hostile upstream can make it hold, and applies flow control both ways."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httptools

from ..base import first_byte_timeout, idle_timeout, protocol_error
from .response import BODY, DONE, HEAD, LeanResponse

if TYPE_CHECKING:
    from .pool import Pool

_INF: Final = math.inf
MAX_HEAD_BYTES: Final = 64 * 1024
MAX_HEADERS: Final = 256
HIGH_WATER: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What one connection may hold and how long it may wait."""

    #: Response head (status line + headers, interim responses included) in bytes.
    max_head_bytes: int = MAX_HEAD_BYTES
    max_headers: int = MAX_HEADERS
    #: Body bytes buffered for a slow reader before the socket stops being read.
    high_water: int = HIGH_WATER
    #: Longest silence between body reads (``gateway.idle_timeout``).
    idle_timeout: float = 300.0
    #: An idle pooled connection is closed after this long, before the server does it under us.
    keepalive_expiry: float = 15.0


class Connection(asyncio.Protocol):
    """Carries one exchange at a time. ``resp`` is the exchange in progress, None while pooled."""

    __slots__ = ("_drain", "_head_bytes", "_limits", "_loop", "_pool", "_stall", "closed", "deadline",
                 "idle_since", "key", "last_read", "reading_paused", "resp", "transport",
                 "writing_paused")

    def __init__(self, pool: Pool, key: str, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self._pool = pool
        self._loop = loop
        self._limits = limits
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.resp: LeanResponse | None = None
        self.closed = False
        self.idle_since = 0.0
        #: First-byte deadline of the exchange in progress (the body phase uses ``last_read``).
        self.deadline = _INF
        self.last_read = 0.0
        self.reading_paused = False
        self.writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._head_bytes = 0
        self._stall = 0

    # -- exchange lifecycle ----------------------------------------------------------------------

    def begin(self, resp: LeanResponse, deadline: float) -> None:
        self.resp = resp
        self.deadline = deadline
        self._head_bytes = 0
        self._stall = 0
        self._pool.watchdog.watch(deadline)

    def head_received(self, resp: LeanResponse) -> None:
        now = resp.received_at
        self.last_read = now
        self._pool.watchdog.watch(now + self._limits.idle_timeout)
        self._wake_drain()  # an early answer ends any upload waiting for the socket to drain

    def release(self, resp: LeanResponse) -> None:
        """The exchange ended cleanly: back to the pool, unless the socket went away meanwhile."""
        if self.resp is resp:
            self.resp = None
        if self.closed:
            return
        if self.reading_paused:
            self.resume()
        self._pool.release(self)

    def abort(self) -> None:
        """Drop the connection now (half-used or spoilt); idempotent."""
        self.resp = None
        if not self.closed:
            self.closed = True
            self._pool.forget(self)
            if self.transport is not None:
                self.transport.abort()
        self._wake_drain()

    def check(self, now: float) -> float:
        """Enforce this connection's deadline at ``now``; return the next one (inf: none)."""
        resp = self.resp
        if resp is None:
            if self.closed or self.idle_since == 0.0:
                return _INF
            expiry = self.idle_since + self._limits.keepalive_expiry
            if now >= expiry:
                self.abort()
                return _INF
            return expiry
        state = resp.state
        if state == HEAD:
            if now >= self.deadline:
                resp.fail(first_byte_timeout())
                return _INF
            return self.deadline
        if state == BODY:
            if self.reading_paused:
                # Our reader is slow, not Lava: the silence is ours.
                return now + self._limits.idle_timeout
            due = self.last_read + self._limits.idle_timeout
            if now >= due:
                resp.fail(idle_timeout())
                return _INF
            return due
        return _INF

    # -- flow control ----------------------------------------------------------------------------

    def resume(self) -> None:
        if self.reading_paused and not self.closed and self.transport is not None:
            self.reading_paused = False
            self.last_read = self._loop.time()
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Until the socket takes more request bytes (or there is no point writing any more)."""
        if self.writing_paused and not self.closed:
            self._drain = waiter = self._loop.create_future()
            await waiter

    def _wake_drain(self) -> None:
        waiter = self._drain
        if waiter is not None:
            self._drain = None
            if not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_drain()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None or resp.state >= DONE:
            # Bytes nobody asked for: this connection's framing can no longer be trusted.
            self.abort()
            return
        state = resp.state
        before = resp.buffered()
        try:
            resp.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            resp.parse_failed(exc)
            self.abort()
            return
        now_state = resp.state
        if now_state == HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_head_bytes:
                resp.fail(protocol_error("response head too large"))
        elif now_state == BODY:
            if state == BODY:
                self.last_read = self._loop.time()
            if resp.buffered() == before:
                # Framing without payload (chunk extensions, trailers) must not grow without end.
                self._stall += len(data)
                if self._stall > self._limits.max_head_bytes:
                    resp.fail(protocol_error("response framing too large"))
                    return
            else:
                self._stall = 0
            if resp.buffered() > self._limits.high_water and self.transport is not None:
                self.reading_paused = True
                self.transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        resp = self.resp
        self.resp = None
        if not self.closed:
            self.closed = True
            self._pool.forget(self)
        self.transport = None
        if resp is not None:
            resp.connection_lost(exc)
        self._wake_drain()
