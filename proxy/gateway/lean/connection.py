"""One keep-alive connection to Lava: an asyncio Protocol whose httptools parser fills in the
current ``LeanResponse``, bounding what a hostile upstream can make it hold, with flow control both
ways. One parser per connection (not per request): building one costs more than parsing a reply."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Final

import httptools

from ...http1 import Field
from ..base import first_byte_timeout, idle_timeout, protocol_error
from .response import BODY, DONE, HEAD, LeanResponse

if TYPE_CHECKING:
    from .pool import Pool

_INF: Final = math.inf
MAX_HEAD_BYTES: Final = 64 * 1024
MAX_HEADERS: Final = 256
#: Body bytes parsed and not yet taken by the relay before the socket stops being read. Small: a
#: client that stops reading holds at most this plus one read (``READ_SIZE``) per stream.
HIGH_WATER: Final = 32 * 1024
#: Most bytes one read takes from Lava's socket (the loops' own default is 256 KiB): with the
#: high-water mark, the bound on what a stream holds for a client that stopped reading.
READ_SIZE: Final = 32 * 1024


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


class _Unexpected(Exception):
    """Response bytes where none were asked for: the connection's framing can't be trusted."""


class _TooManyHeaders(Exception):
    pass


class Connection(asyncio.BufferedProtocol):
    """Carries one exchange at a time. ``resp`` is the exchange in progress, None while pooled."""

    __slots__ = ("_drain", "_head_bytes", "_interim", "_limits", "_loop", "_pool", "_raw", "_reason",
                 "_stale", "_stall", "body_seen", "buffered", "closed", "deadline", "held",
                 "idle_since", "key", "last_read", "parser", "reading_paused", "resp", "transport",
                 "writing_paused")

    def __init__(self, pool: Pool, key: str, loop: asyncio.AbstractEventLoop, limits: Limits) -> None:
        self._pool = pool
        self._loop = loop
        self._limits = limits
        self.key = key
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.resp: LeanResponse | None = None
        self.closed = False
        self.idle_since = 0.0
        #: First-byte deadline of the exchange in progress (the body phase uses ``last_read``).
        self.deadline = _INF
        self.last_read = 0.0
        #: Body bytes parsed and not yet taken by the reader (none while they are pushed).
        self.buffered = 0
        #: Body bytes parsed so far: framing that carries none is bounded by it.
        self.body_seen = 0
        self.reading_paused = False
        #: The relay's client is not draining: reading stays paused until ``unhold``.
        self.held = False
        self.writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._raw: list[Field] = []
        self._reason = b""
        self._interim = False
        self._stale = False
        self._head_bytes = 0
        self._stall = 0

    # -- exchange lifecycle ----------------------------------------------------------------------

    def begin(self, resp: LeanResponse, deadline: float) -> None:
        self.resp = resp
        self.deadline = deadline
        self.buffered = 0
        self.held = False
        self._raw = resp.fields
        self._reason = b""
        self._head_bytes = 0
        self._stall = 0
        if self._stale:  # the last exchange left the parser mid-message (a HEAD answer)
            self.parser = httptools.HttpResponseParser(self)
            self._stale = False
        self._pool.watchdog.watch(deadline)

    def release(self, resp: LeanResponse) -> None:
        """The exchange ended cleanly: back to the pool, unless the socket went away meanwhile."""
        if self.resp is resp:
            self.resp = None
        if self.closed:
            return
        self.held = False
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

    @property
    def high_water(self) -> int:
        return self._limits.high_water

    def hold(self) -> None:
        """Stop reading until ``unhold``: the relay's client stopped taking bytes."""
        self.held = True
        if not self.reading_paused and not self.closed and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def unhold(self) -> None:
        self.held = False
        if self.buffered <= self._limits.high_water:
            self.resume()

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

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._pool.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._pool.read_buffer[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        resp = self.resp
        if resp is None or resp.state >= DONE:
            # Bytes nobody asked for: this connection's framing can no longer be trusted.
            self.abort()
            return
        state = resp.state
        before = self.body_seen
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._parse_failed(resp, exc)
            return
        now_state = resp.state
        if now_state == HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > self._limits.max_head_bytes:
                resp.fail(protocol_error("response head too large"))
        elif now_state == BODY:
            if state == BODY:
                self.last_read = self._loop.time()
            if self.body_seen == before:
                # Framing without payload (chunk extensions, trailers) must not grow without end.
                self._stall += len(data)
                if self._stall > self._limits.max_head_bytes:
                    resp.fail(protocol_error("response framing too large"))
                    return
            else:
                self._stall = 0
            if self.buffered > self._limits.high_water and not self.reading_paused \
                    and self.transport is not None:
                self.reading_paused = True
                self.transport.pause_reading()

    def _parse_failed(self, resp: LeanResponse, exc: Exception) -> None:
        """The parser refused the bytes (a callback of ours may have raised the reason)."""
        cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else exc
        if isinstance(cause, _TooManyHeaders):
            err = protocol_error("too many response headers")
        elif isinstance(exc, httptools.HttpParserUpgrade):
            err = protocol_error("unrequested protocol upgrade")
        else:
            err = protocol_error(type(cause or exc).__name__)
        err.__cause__ = cause or exc
        resp.fail(err)  # a response already whole stays readable; the connection goes regardless
        self.abort()

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

    # -- httptools callbacks: fill in ``resp`` ---------------------------------------------------

    def on_status(self, status: bytes) -> None:
        resp = self.resp
        if resp is None or resp.state != HEAD:
            raise _Unexpected
        self._reason += status  # llhttp reports a span piecewise when it straddles reads

    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self.resp
        if resp is None or resp.state != HEAD:
            return  # trailers: bounded by the stall limit, not relayed
        raw = self._raw
        raw.append((name.lower(), name, value))  # lower-cased once, here
        if len(raw) > self._limits.max_headers:
            raise _TooManyHeaders

    def on_headers_complete(self) -> None:
        resp = self.resp
        if resp is None or resp.state != HEAD:
            raise _Unexpected
        parser = self.parser
        status = parser.get_status_code()
        if status < 200:
            # An interim 1xx (100 Continue, 103 Early Hints): the final response follows.
            self._interim = True
            self._raw.clear()
            self._reason = b""
            return
        now = self._loop.time()
        resp.status = status
        resp.raw_reason = self._reason
        resp.keep_alive = parser.should_keep_alive()
        # perf_counter, like every duration the handler computes from it: the loop clock is the
        # watchdog's (uvloop caches it per iteration at millisecond resolution).
        resp.received_at = perf_counter()
        if resp.head_only:
            # llhttp would now wait for the body a HEAD answer announces but never sends.
            resp.state = DONE
            self._stale = True
        else:
            resp.state = BODY
            self.last_read = now
            self._pool.watchdog.watch(now + self._limits.idle_timeout)
        resp.wake()
        self._wake_drain()  # an early answer ends any upload waiting for the socket to drain

    def on_body(self, body: bytes) -> None:
        resp = self.resp
        if resp is None or resp.state != BODY:
            raise _Unexpected
        self.body_seen += len(body)
        sink = resp.sink
        if sink is not None:
            sink(body)  # the relay: written to its client and read for usage, here and now
            return
        resp.body.append(body)
        self.buffered += len(body)
        waiter = resp.waiter
        if waiter is not None:
            resp.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        resp = self.resp
        if resp is not None and resp.state == BODY:
            resp.state = DONE
            resp.wake()
