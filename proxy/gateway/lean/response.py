"""One exchange on a connection: the httptools callbacks that parse the response, and ``LeanResponse``,
the ``UpstreamResponse`` the handler reads (status, headers, ``chunks()``, ``close()``).

A fresh parser per exchange keeps exchanges independent (no parser state survives a HEAD or an
interim 1xx into the next request). Waiters are plain futures that only ever get ``None``: the
outcome lives in fields, so no exception is left unretrieved on a future nobody awaits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import httptools
from multidict import CIMultiDict

from ..base import UpstreamError, broken_body, protocol_error, reset

if TYPE_CHECKING:
    from .connection import Connection

#: Exchange states.
HEAD: Final = 0  # request (being) written, waiting for the final response head
BODY: Final = 1  # head received, body arriving
DONE: Final = 2  # message received to its end
FAILED: Final = 3  # ended by an error (``_error``)


class _Unexpected(Exception):
    """A second response where none was asked for: the connection's framing can't be trusted."""


class _TooManyHeaders(Exception):
    pass


class LeanResponse:
    """An open response from Lava. Iterate ``chunks()`` once; always ``close()`` (idempotent)."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_error",
        "_head_only",
        "_headers",
        "_interim",
        "_items",
        "_keep_alive",
        "_loop",
        "_max_headers",
        "_raw",
        "_reason",
        "_spoilt",
        "_waiter",
        "parser",
        "received_at",
        "state",
        "status",
    )

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, *, head_only: bool,
                 max_headers: int) -> None:
        self._conn: Connection | None = conn
        self._loop = loop
        self._head_only = head_only
        self._max_headers = max_headers
        self.parser = httptools.HttpResponseParser(self)
        self.state = HEAD
        self.status = 0
        self._reason = b""
        self._raw: list[tuple[bytes, bytes]] = []
        self._items: list[tuple[str, str]] | None = None
        self._headers: CIMultiDict[str] | None = None
        self._interim = False
        self._keep_alive = False
        self._spoilt = False
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None
        #: Loop time the response headers arrived (for the overhead figure).
        self.received_at = 0.0

    # -- the UpstreamResponse surface ------------------------------------------------------------

    @property
    def reason(self) -> str:
        return self._reason.decode("latin-1")

    @property
    def headers(self) -> CIMultiDict[str]:
        """Case-insensitive lookups; built on first use."""
        if self._headers is None:
            self._headers = CIMultiDict(self._decoded())
        return self._headers

    def header_items(self) -> list[tuple[str, str]]:
        """Every header as received, in order, original casing, repeats kept (latin-1 decoded)."""
        return list(self._decoded())

    def _decoded(self) -> list[tuple[str, str]]:
        if self._items is None:
            self._items = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw]
        return self._items

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes (transfer-decoded, content-encoding untouched) as they arrive.
        Raises ``UpstreamError`` on idle timeout or a broken body."""
        finished = False
        try:
            while True:
                if self._chunks:
                    got = self._chunks
                    data = got[0] if len(got) == 1 else b"".join(got)
                    self._chunks = []
                    self._buffered = 0
                    conn = self._conn
                    if conn is not None and conn.reading_paused:
                        conn.resume()
                    yield data
                elif self.state == DONE:
                    finished = True
                    return
                elif self._error is not None:
                    finished = True
                    raise self._error
                else:
                    self._waiter = waiter = self._loop.create_future()
                    await waiter
        finally:
            if not finished:
                # Left early (cancelled, or the consumer stopped): the rest of the body is still on
                # the wire, so this connection can never carry another request.
                self.close(reusable=False)

    def close(self, *, reusable: bool) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if reusable and self.state == DONE and self._keep_alive and not self._spoilt:
            conn.release(self)
        else:
            conn.abort()

    # -- driven by the client and the connection --------------------------------------------------

    async def wait_head(self) -> None:
        """Until the final response head (or the exchange failed: then raise its error)."""
        if self.state == HEAD:
            self._waiter = waiter = self._loop.create_future()
            await waiter
        if self.state == FAILED:
            raise self._error  # type: ignore[misc]

    def fail(self, err: UpstreamError) -> None:
        """End the exchange with ``err`` and drop the connection. A completed body stays readable."""
        if self.state >= DONE:
            return
        self.state = FAILED
        self._error = err
        self._wake()
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.abort()

    def parse_failed(self, exc: BaseException) -> None:
        """The parser refused the bytes; the cause is ours when a callback raised it."""
        cause = exc.__context__ if isinstance(exc, httptools.HttpParserCallbackError) else exc
        if isinstance(cause, _Unexpected) and self.state >= DONE:
            return  # the response is whole; only the connection is spoilt (the caller drops it)
        if isinstance(cause, _TooManyHeaders):
            err = protocol_error("too many response headers")
        elif isinstance(exc, httptools.HttpParserUpgrade):
            err = protocol_error("unrequested protocol upgrade")
        else:
            err = protocol_error(type(cause or exc).__name__)
        err.__cause__ = cause or exc
        self.fail(err)

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport closed. Ends a close-delimited body; anything else unfinished is broken."""
        state = self.state
        if state == HEAD:
            err = reset(sent=True)
        elif state == BODY:
            if exc is None and self._until_eof():
                self.state = DONE
                self._keep_alive = False
                self._wake()
                return
            err = broken_body()
        else:
            return
        if exc is not None:
            err.__cause__ = exc
        self.fail(err)

    def spoil(self) -> None:
        """The request did not end cleanly (an upload cut short): never reuse this connection."""
        self._spoilt = True

    def buffered(self) -> int:
        return self._buffered

    def _until_eof(self) -> bool:
        """Neither Content-Length nor a final chunked coding: the body ends when the connection does."""
        te: bytes | None = None
        for name, value in self._raw:
            lname = name.lower()
            if lname == b"content-length":
                return False
            if lname == b"transfer-encoding":
                te = value
        return te is None or te.rsplit(b",", 1)[-1].strip().lower() != b"chunked"

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        if self.state != HEAD:
            raise _Unexpected
        # llhttp reports spans piecewise when they straddle reads.
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.state != HEAD:
            return  # trailers: bounded by the connection's stall limit, not relayed
        raw = self._raw
        raw.append((name, value))
        if len(raw) > self._max_headers:
            raise _TooManyHeaders

    def on_headers_complete(self) -> None:
        if self.state != HEAD:
            raise _Unexpected
        status = self.parser.get_status_code()
        if status < 200:
            # An interim 1xx (100 Continue, 103 Early Hints): the final response follows.
            self._interim = True
            self._raw = []
            self._reason = b""
            return
        self.status = status
        self._keep_alive = self.parser.should_keep_alive()
        self.received_at = time.perf_counter()  # a figure, not a deadline: see base.py
        # HEAD: llhttp would wait for the announced body, so the exchange ends here.
        self.state = DONE if self._head_only else BODY
        self._wake()
        conn = self._conn
        if conn is not None:
            conn.head_received(self)

    def on_body(self, body: bytes) -> None:
        if self.state != BODY:
            raise _Unexpected
        self._chunks.append(body)
        self._buffered += len(body)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.state == BODY:
            self.state = DONE
            self._wake()
