"""``Exchange``: one request as the handler reads it and its response as the handler writes it.

The head of the response is held until the first body bytes (or the end), so both leave in one
write: a syscall per response saved, and the head of a short answer never travels alone.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..errors import SidecarError
from ..http1 import Field, Headers
from . import head as h

if TYPE_CHECKING:
    from .protocol import HttpProtocol

#: Body bytes buffered for a handler that is not reading before the socket stops being read.
HIGH_WATER: Final = 256 * 1024
#: A chunk at least this big goes out as (size line, data, CRLF) rather than one framed copy: a
#: stalled client then holds the relayed bytes once, not twice; small chunks are cheaper copied.
_NO_COPY_CHUNK: Final = 16 * 1024
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class ClientGone(ConnectionResetError):
    """The client's connection closed; nothing more can be read from or written to it."""


class Exchange:
    """Request facts (``method``, ``raw_path``, ``headers``, ``content_length``), the request body
    (``body_complete``/``take_body`` when it all arrived, else ``read``), and the response
    (``start`` → ``write``… → ``write_eof``, or ``respond`` in one go; ``abort`` cuts it)."""

    __slots__ = ("_buffered", "_chunks", "_conn", "_continue", "_error", "_framing", "_head", "_stall",
                 "_waiter", "body_complete", "bytes_sent", "content_length", "finished", "headers",
                 "http11", "keep_alive", "method", "raw_path", "started", "status")

    def __init__(self, conn: HttpProtocol, method: str, raw_path: str, headers: Headers, *,
                 http11: bool, keep_alive: bool, content_length: int | None, has_body: bool,
                 expect_continue: bool) -> None:
        self._conn = conn
        self.method = method
        self.raw_path = raw_path
        self.headers = headers
        self.http11 = http11
        #: Whether the connection may serve another request after this one.
        self.keep_alive = keep_alive
        self.content_length = content_length
        self.body_complete = not has_body
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        #: Why the rest of the body will never come (it stalled): raised by ``read``.
        self._error: SidecarError | None = None
        self._continue = expect_continue and has_body
        self._head: bytes | None = None
        self._framing = h.NONE
        #: Called when a write must wait for the client to drain, and when it may go on.
        self._stall: tuple[Callable[[], None], Callable[[], None]] | None = None
        self.status = 0
        self.started = False  # the response head was built (it may still be held)
        self.finished = False  # the whole response was handed to the transport
        self.bytes_sent = 0  # response bytes handed to the transport: head, framing and body

    @property
    def transport(self) -> asyncio.Transport | None:
        """The client connection's transport (None before it is made)."""
        return self._conn.transport

    # -- the request body, fed by the protocol ----------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause_reading()
        self.wake()

    def fail(self, err: SidecarError) -> None:
        """The body will not complete (``BodyTimeout``): ``read`` raises ``err`` once the bytes
        that did arrive are taken."""
        self._error = err
        self.wake()

    def end_of_body(self) -> None:
        self.body_complete = True
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def take_body(self) -> bytes:
        """The whole body, once ``body_complete`` (the usual case: it came with the head)."""
        data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks = []
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        """The next piece of the body; ``b""`` at its end. Raises ``ClientGone``, or the error the
        body failed with (``BodyTimeout``)."""
        if self._continue:
            # The client waits for this before it sends the body (curl does, for large uploads).
            self._continue = False
            self._conn.write_raw(_CONTINUE)
        while not self._chunks:
            if self.body_complete:
                return b""
            if self._error is not None:
                # A fresh copy each time: the stored error raised here would keep this frame in its
                # traceback, and the frame keeps ``self``, which keeps the error: a reference cycle
                # (with whatever the reader's frames hold, a refused body) that only a full GC
                # pass frees (issue 24). A copy carries no traceback and nothing here holds it.
                raise copy.copy(self._error)
            if self._conn.lost:
                raise ClientGone("the client disconnected while sending its request body")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        data = self._chunks.pop(0)
        self._buffered -= len(data)
        if self._buffered <= HIGH_WATER // 4:
            self._conn.resume_reading()
        return data

    # -- the response ----------------------------------------------------------------------------

    def start(self, status: int, reason: str, headers: list[tuple[str, str]]) -> None:
        """Build the head; it leaves with the first ``write`` (or ``send_head``)."""
        # A response begun before the request's body arrived (a refusal) ends the connection: the
        # head says so, or a client would reuse a connection the server is about to close.
        self._head, self._framing, self.keep_alive = h.build_head(
            status, reason, headers, method=self.method, http11=self.http11,
            keep_alive=self.keep_alive and self.body_complete and not self._conn.closing,
            date=self._conn.http_date())
        self.status, self.started = status, True

    def start_fields(self, status: int, reason: bytes, fields: list[Field]) -> None:
        """``start`` with the head's fields as bytes (a relayed head: nothing decoded)."""
        self._head, self._framing, self.keep_alive = h.build_head_fields(
            status, reason, fields, method=self.method, http11=self.http11,
            keep_alive=self.keep_alive and self.body_complete and not self._conn.closing,
            date=self._conn.http_date())
        self.status, self.started = status, True

    def send_head(self) -> None:
        """Send a held head now, alone (an SSE stream whose first event is slow)."""
        self._send(b"")

    def hold_while_stalled(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        """While a ``write`` waits for the client to drain its buffer (above the transport's
        high-water mark), ``pause`` is in force; ``resume`` once it is below the low-water mark.
        The relay stops reading from Lava this way; the fast path (no wait) never calls either."""
        self._stall = (pause, resume)

    async def write(self, data: bytes) -> None:
        if not self.push(data):
            await self._conn.drain(self._stall)

    def push(self, data: bytes) -> bool:
        """``write`` without waiting: the bytes go to the transport now. False when something was
        sent and the client's buffer is above its high-water mark: produce nothing more until
        ``when_writable`` calls back. Raises ``ClientGone`` when the client has left."""
        conn = self._conn
        if conn.lost:
            raise ClientGone("the client disconnected")
        framing = self._framing
        if framing == h.CHUNKED:
            # An empty chunk is the body's end: writing nothing must not end it.
            if len(data) >= _NO_COPY_CHUNK:
                self._send(b"%x\r\n" % len(data))
                conn.write_raw(data)
                conn.write_raw(b"\r\n")
                self.bytes_sent += len(data) + 2
                return not conn.write_paused
            data = h.chunk(data) if data else b""
        elif framing == h.NONE:
            data = b""
        return not self._send(data) or not conn.write_paused

    def when_writable(self, callback: Callable[[], None]) -> None:
        """After ``push`` returned False: ``callback`` once the client drained (or left)."""
        self._conn.when_writable(callback)

    async def write_eof(self) -> None:
        if self._conn.lost:
            raise ClientGone("the client disconnected")
        self._send(h.LAST_CHUNK if self._framing == h.CHUNKED else b"")
        self.finished = True
        await self._conn.drain()

    def respond(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        """A whole response in one write (errors the sidecar answers itself)."""
        headers.append(("Content-Length", str(len(body))))
        self.start(status, reason, headers)
        self._send(body if self._framing != h.NONE else b"")
        self.finished = True

    def _send(self, data: bytes) -> bool:
        """Write ``data`` with the held head in front of it, if one is held; whether anything went."""
        head, self._head = self._head, None
        if head is not None:
            data = head + data
        if not data:
            return False
        self.bytes_sent += len(data)
        self._conn.write_raw(data)  # a no-op once the client is gone
        return True

    def abort(self) -> None:
        """Cut the connection: a response left unfinished shows the client it is incomplete."""
        self._conn.abort()
