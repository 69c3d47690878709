"""One client connection: an asyncio Protocol whose httptools parser builds ``Exchange``s and hands
each to the handler in its own task, one at a time (pipelined requests wait their turn).

What aiohttp's server did for the proxy listener, at a fraction of its cost per request: limits on
the head, flow control both ways, the handler cancelled when the client leaves, keep-alive and a
close that lets the client read a refusal before the connection goes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import httptools

from ..errors import BodyTimeout, HeadTimeout, HeadTooLarge, InvalidHttp, RequestRejected, SidecarError
from ..http1 import Field, Headers
from .clock import SlowClientClock
from .exchange import ClientGone, Exchange
from .flow import WriteFlow
from .refusal import LINGER_SECONDS, describe, send_refusal

if TYPE_CHECKING:
    from .server import InboundServer

log = logging.getLogger("lava_sidecar.inbound")

#: Requests parsed ahead of the one being handled (pipelining) before the socket stops being read.
MAX_PIPELINED: Final = 8
#: The client transport's write buffer: above high the response waits (and Lava is not read),
#: below low it goes on.
WRITE_HIGH_WATER: Final = 32 * 1024
WRITE_LOW_WATER: Final = 8 * 1024


class _HeadTooLarge(Exception):
    """Raised inside a parser callback (httptools re-raises it, or chains it to its own error)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what

    def error(self) -> HeadTooLarge:
        return HeadTooLarge(f"The request's {self.what} is larger than the sidecar's limit "
                            "(limits.max_header_bytes, limits.max_headers).")


class HttpProtocol(asyncio.Protocol):
    """``busy`` while a request is handled; ``since`` is when it last went idle (loop time)."""

    __slots__ = ("_clock", "_deferred", "_flow", "_head_bytes", "_headers", "_in_head",
                 "_lingering", "_parser", "_parsing", "_pending", "_reading_paused", "_server",
                 "_task", "_url", "current", "lost", "since", "transport")

    def __init__(self, server: InboundServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[Field] = []
        self._head_bytes = 0
        self._parsing: Exchange | None = None  # the request whose body is arriving
        self.current: Exchange | None = None  # the request being handled
        self._task: asyncio.Task[None] | None = None
        self._pending: list[Exchange] = []
        self._flow = WriteFlow(server.loop)
        self._reading_paused = False
        self._lingering = False
        #: Input refused behind requests already parsed: (target for its shape, error), sent after them.
        self._deferred: tuple[str, RequestRejected] | None = None
        self._in_head = False
        self._clock = SlowClientClock(server.loop, head_timeout=server.header_timeout,
                                      body_idle=server.body_idle_timeout, on_fire=self._expire)
        self.lost = False
        self.since = server.loop.time()

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # Stated, not left to the loop: what a client that stops reading costs before the relay
        # stops reading from Lava for it (pause_writing above high, resume_writing below low).
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)  # type: ignore[attr-defined]
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._clock.close()
        self._server.connections.discard(self)
        self._pending.clear()
        # A body that never completed (refused, stalled) no longer hangs off the connection: the
        # parser keeps this protocol in a reference cycle, and the exchange with its unread bytes
        # would wait in that cycle for a full GC pass (issue 24). Its handler, if any, still has it.
        self._parsing = None
        self._flow.wake()
        ex = self.current
        if ex is not None:
            ex.wake()  # a handler waiting for body bytes sees ClientGone
            if not ex.finished and self._task is not None and self._server.cancel_on_disconnect:
                # The client left: its handler ends now (it records what was served so far).
                self._task.cancel()

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        try:
            self._parser.feed_data(data)
        except _HeadTooLarge as exc:
            self._refuse(exc.error())
        except httptools.HttpParserUpgrade:
            # Upgrades (WebSocket) are not proxied: the request was handled as plain HTTP, and
            # whatever follows it on this connection is not HTTP/1.1 we can read.
            self._lingering = True
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause.error() if isinstance(cause, _HeadTooLarge) else InvalidHttp(
                f"The request is not valid HTTP/1.1 ({describe(exc)})."))
            return
        if self._in_head or self._parsing is not None:
            self._clock.watch(body=self._parsing is not None)

    def pause_writing(self) -> None:
        self._flow.pause()

    def resume_writing(self) -> None:
        self._flow.resume()

    def eof_received(self) -> bool | None:
        # The client finished sending (half-close): an unfinished request can never complete.
        if self._parsing is not None and self.current is not self._parsing:
            self.abort()
        return None

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._in_head = True
        self._clock.head_started()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > self._server.max_header_bytes:
            raise _HeadTooLarge("request line")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        # Lower-cased once, here; the name as sent is kept for the request to Lava.
        self._headers.append((name.lower(), name, value))
        if self._head_bytes > self._server.max_header_bytes:
            raise _HeadTooLarge("header section")
        if len(self._headers) > self._server.max_headers:
            raise _HeadTooLarge("header count")

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        headers = Headers(self._headers)
        length = headers.value(b"content-length")
        content_length = int(length) if length is not None else None  # llhttp checked the digits
        chunked = headers.value(b"transfer-encoding") is not None
        expect = headers.value(b"expect")
        ex = Exchange(
            self, parser.get_method().decode("ascii"), self._url.decode("utf-8", "surrogateescape"),
            headers, http11=parser.get_http_version() == "1.1",
            keep_alive=parser.should_keep_alive(), content_length=content_length,
            has_body=chunked or bool(content_length),
            expect_continue=expect is not None and expect.lower() == b"100-continue")
        self._parsing = ex
        if self.current is None:
            self._dispatch(ex)
        else:
            self._pending.append(ex)
            if len(self._pending) >= MAX_PIPELINED:
                self.pause_reading()

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.feed(body)

    def on_message_complete(self) -> None:
        ex, self._parsing = self._parsing, None
        if ex is not None:
            ex.end_of_body()

    # -- the slow-client clock -------------------------------------------------------------------

    def _expire(self) -> None:
        """The clock fired (``clock.py``): a 408 if the client really was too slow."""
        if self.lost or self._lingering:
            return
        ex = self._parsing
        if ex is None and not self._in_head:
            return  # finished in time: the clock stops
        if self._reading_paused:
            # The sidecar stopped reading (a handler not taking its body yet, pipelined requests
            # waiting): the silence is ours, not the client's.
            self._clock.extend(body=ex is not None)
        elif self._clock.expired():
            if ex is not None:
                self._body_expired(ex)
            else:
                self._head_expired()
            return
        self._clock.rearm()

    def _body_expired(self, ex: Exchange) -> None:
        """The body stalled: its handler's next read raises the 408 (it answers it in the caller's
        shape and records the request, which was attributed by then); nothing more is read."""
        server = self._server
        server.count_timeout("body")
        self._lingering = True
        ex.fail(BodyTimeout(
            f"The request body stalled: no byte arrived for {server.body_idle_timeout:g} s "
            "(limits.body_idle_timeout_seconds). Send the body without pauses; the request was "
            "not forwarded."))

    def _head_expired(self) -> None:
        """The head did not complete in time: 408 (in the shape its path so far announces) and
        close; no handler ran, so nothing is recorded."""
        server = self._server
        server.count_timeout("head")
        self._lingering = True  # nothing more of it is parsed
        err = HeadTimeout(
            f"The request head (request line and headers) did not arrive within "
            f"{server.header_timeout:g} s (limits.header_timeout_seconds); send it in one go.")
        if self.current is None and not self._pending:
            self._send_refusal(self._url.decode("latin-1"), err)
        else:
            # Answered after the responses in progress, in order (``_next``).
            self._deferred = (self._url.decode("latin-1"), err)

    # -- serving ---------------------------------------------------------------------------------

    def _dispatch(self, ex: Exchange) -> None:
        self.current = ex
        self._task = self._server.loop.create_task(self._run(ex))
        self._server.tasks.add(self._task)

    async def _run(self, ex: Exchange) -> None:
        server = self._server
        try:
            await server.handler(ex)
        except (asyncio.CancelledError, ClientGone):
            # The client left (or the shutdown ended this request): nothing more can reach it.
            if not ex.finished:
                self.abort()
        except Exception:
            log.exception("unhandled error serving a request")
            if ex.started:
                self.abort()
            else:
                err = SidecarError("The sidecar failed while serving this request; its log has "
                                   "the details.")
                headers, body = server.render_refusal(ex.raw_path, err)
                ex.respond(err.status, "Internal Server Error", headers, body)
        finally:
            task, self._task = self._task, None
            if task is not None:
                server.tasks.discard(task)
            self.current = None
        self._next(ex)

    def _next(self, ex: Exchange) -> None:
        if self.lost:
            return
        if not ex.finished:
            self.abort()
        elif not ex.keep_alive or self._server.closing:
            self._close_after(ex)
        elif self._parsing is ex or not ex.body_complete:
            # Answered before its body was read (a refusal): the rest of it is not a request.
            self._close_after(ex)
        elif self._pending:
            self.resume_reading()
            self._dispatch(self._pending.pop(0))
        elif self._deferred is not None:
            self._send_refusal(*self._deferred)
        else:
            self.since = self._server.loop.time()

    def _close_after(self, ex: Exchange) -> None:
        """Close once the response is out. Unread request bytes are drained for a moment first:
        closing a socket with unread data sends a reset, which can destroy the response in flight."""
        transport = self.transport
        if transport is None:
            return
        if ex.body_complete and self._parsing is None:
            transport.close()
            return
        self._lingering = True
        self.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        self._server.loop.call_later(LINGER_SECONDS, transport.close)

    def _refuse(self, err: RequestRejected) -> None:
        """Input refused: answer (unless a response is under way), then close."""
        ex = self.current
        if ex is not None and ex is self._parsing and not ex.started:
            # The body of the request being handled is what is invalid (a bad chunk size): the
            # refusal is its response and its handler ends, once that handler has made its first
            # step (a task cancelled before it starts never runs its cleanup).
            self._lingering = True
            self._server.loop.call_soon(self._refuse_handled, ex, err)
            return
        if self.current is None:
            self._send_refusal(self._url.decode("latin-1"), err)
            return
        broken = self._parsing
        if broken is self.current:
            self.abort()  # the body of a request whose response began is invalid: cut it
            return
        # Bytes after requests already parsed are invalid (a body sent without Content-Length or
        # Transfer-Encoding looks like a next request): those requests are answered first, in
        # order, then the refusal, then the connection closes. Nothing more is parsed.
        if broken is not None:
            self._pending.remove(broken)  # its body is what is invalid: the refusal answers it
            self._parsing = None
        last = broken or (self._pending[-1] if self._pending else self.current)
        self._lingering = True
        self._deferred = (self._url.decode("latin-1") or last.raw_path, err)

    def _refuse_handled(self, ex: Exchange, err: RequestRejected) -> None:
        if self.lost or ex.finished:
            return  # answered meanwhile, and the close after it is under way
        if ex.started or self.transport is None:
            self.abort()  # its response began meanwhile: cutting it is all that is left
            return
        ex.status, ex.finished = err.status, True
        if self._task is not None:
            self._task.cancel()
        self._send_refusal(ex.raw_path, err, handled=True)

    def _send_refusal(self, path: str, err: RequestRejected, *, handled: bool = False) -> None:
        if self.transport is None:
            return
        self._lingering = True
        send_refusal(self._server, self.transport, path, err, handled=handled)

    # -- used by Exchange and the server --------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._server.closing

    def http_date(self) -> bytes:
        return self._server.http_date()

    @property
    def idle(self) -> bool:
        return self.current is None and not self._pending

    def write_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    async def drain(self, hold: tuple[Callable[[], None], Callable[[], None]] | None = None) -> None:
        """Until the transport's buffer is below its low-water mark. ``hold``: (pause, resume)
        called around the wait (the relay stops reading from Lava meanwhile)."""
        if self._flow.paused and not self.lost:
            await self._flow.wait(hold)
        if self.lost:
            raise ClientGone("the client disconnected")

    @property
    def write_paused(self) -> bool:
        """The transport's buffer is above its high-water mark (and not yet below the low one)."""
        return self._flow.paused

    def when_writable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the buffer drains below its low-water mark, or the client is
        gone (at once, if either is already so): a writer that does not await waits this way."""
        self._flow.when_writable(callback, gone=self.lost)

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None and not self.lost:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self.lost:
            self._reading_paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.lost:
            self.transport.close()

