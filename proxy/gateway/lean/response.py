"""``LeanResponse``: one exchange's response as the handler reads it (status, headers, ``chunks()``,
``close()``). Its connection's parser callbacks fill it in.

Waiters are plain futures that only ever get ``None``: the outcome lives in fields, so no exception
is left unretrieved on a future nobody awaits. Status and headers stay readable after ``close``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

from ...http1 import Field, Headers
from ..base import Sink, UpstreamError, broken_body, reset

if TYPE_CHECKING:
    from .connection import Connection

#: Exchange states.
HEAD: Final = 0  # request (being) written, waiting for the final response head
BODY: Final = 1  # head received, body arriving
DONE: Final = 2  # message received to its end
FAILED: Final = 3  # ended by an error (``error``)
#: Waiting pieces are joined into one (one write instead of many) while they total at most this.
_JOIN_LIMIT: Final = 64 * 1024


class LeanResponse:
    """An open response from Lava. Iterate ``chunks()`` once; always ``close()`` (idempotent)."""

    __slots__ = ("_conn", "_headers", "_loop", "_spoilt", "_stopped", "body", "error", "fields",
                 "head_only", "keep_alive", "raw_reason", "received_at", "sink", "state", "status",
                 "waiter")

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop, head_only: bool) -> None:
        self._conn: Connection | None = conn
        self._loop = loop
        self.head_only = head_only
        self.state = HEAD
        self.status = 0
        self.raw_reason = b""
        #: Every header as received: (lower-case name, name, value) bytes, in order, repeats kept.
        self.fields: list[Field] = []
        self._headers: Headers | None = None
        self.keep_alive = False
        self._spoilt = False
        #: Body pieces received and not yet handed to the reader.
        self.body: list[bytes] = []
        #: While ``stream_to`` runs: where the connection's parser hands each body piece.
        self.sink: Sink | None = None
        self._stopped = False
        self.error: UpstreamError | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: Loop time the response headers arrived (for the overhead figure).
        self.received_at = 0.0

    # -- the UpstreamResponse surface ------------------------------------------------------------

    @property
    def reason(self) -> str:
        return self.raw_reason.decode("latin-1")

    @property
    def headers(self) -> Headers:
        """Case-insensitive lookups (latin-1 decoded, only what is read); built on first use."""
        if self._headers is None:
            self._headers = Headers(self.fields, latin1=True)
        return self._headers

    def header_items(self) -> list[tuple[str, str]]:
        """Every header as received, in order, original casing, repeats kept (latin-1 decoded)."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for _, k, v in self.fields]

    def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes (transfer-decoded, content-encoding untouched) as they arrive.
        Raises ``UpstreamError`` on idle timeout or a broken body."""
        # The response is its own iterator: an async generator would cost a WeakSet entry (the
        # loop tracks them for shutdown) and its finaliser on every request.
        return self

    def __aiter__(self) -> LeanResponse:
        return self

    async def __anext__(self) -> bytes:
        body = self.body
        while True:
            if body:
                conn = self._conn
                if len(body) == 1:
                    data = body.pop()
                elif conn is None or conn.buffered <= _JOIN_LIMIT:
                    data = b"".join(body)
                    body.clear()
                else:
                    # Plenty waiting (the relay fell behind): pieces go out as they were read,
                    # never copied into one big piece a stalled client would then hold.
                    data = body.pop(0)
                if conn is not None:
                    conn.buffered = conn.buffered - len(data) if body else 0
                    if conn.reading_paused and not conn.held \
                            and conn.buffered <= conn.high_water // 2:
                        conn.resume()
                return data
            if self.state == DONE:
                raise StopAsyncIteration
            if self.error is not None:
                raise self.error
            self.waiter = waiter = self._loop.create_future()
            try:
                await waiter
            except BaseException:
                # Cancelled mid-body: the rest is still on the wire, so this connection can never
                # carry another request.
                self.close(reusable=False)
                raise

    async def stream_to(self, sink: Sink) -> None:
        """Push every body piece to ``sink``: from the connection's ``on_body`` as it is parsed (no
        future, no coroutine resumed per piece); one future waits for the end."""
        body, self.body = self.body, []
        conn = self._conn
        if conn is not None and body:
            conn.buffered = 0
            if conn.reading_paused and not conn.held:
                conn.resume()
        for piece in body:  # what arrived with the head, before there was a sink
            if self._stopped:
                return
            sink(piece)
        if self.state == BODY and not self._stopped:
            self.sink = sink
            self.waiter = waiter = self._loop.create_future()
            try:
                await waiter
            except BaseException:
                # Cancelled mid-body: the rest is still on the wire, so this connection can never
                # carry another request.
                self.close(reusable=False)
                raise
            finally:
                self.sink = None
        if self.state == FAILED and not self._stopped:
            raise self.error  # type: ignore[misc]

    def stop(self) -> None:
        self._stopped = True
        self.sink = None
        self.pause_reading()  # nothing more is wanted; close() drops the connection
        self.wake()

    def pause_reading(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.hold()

    def resume_reading(self) -> None:
        conn = self._conn
        if conn is not None:
            conn.unhold()

    def close(self, *, reusable: bool) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if reusable and self.state == DONE and self.keep_alive and not self._spoilt:
            conn.release(self)
        else:
            conn.abort()

    # -- driven by the client and the connection --------------------------------------------------

    async def wait_head(self) -> None:
        """Until the final response head; raises the exchange's error if it failed first."""
        if self.state == HEAD:
            self.waiter = waiter = self._loop.create_future()
            await waiter
        if self.state == FAILED:
            raise self.error  # type: ignore[misc]

    def fail(self, err: UpstreamError) -> None:
        """End the exchange with ``err`` and drop the connection. A completed body stays readable."""
        if self.state >= DONE:
            return
        self.state = FAILED
        self.error = err
        self.wake()
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.abort()

    def connection_lost(self, exc: BaseException | None) -> None:
        """The transport closed. Ends a close-delimited body; anything else unfinished is broken."""
        state = self.state
        if state == HEAD:
            err = reset(sent=True)
        elif state == BODY:
            if exc is None and self._until_eof():
                self.state = DONE
                self.keep_alive = False
                self.wake()
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

    def _until_eof(self) -> bool:
        """Neither Content-Length nor a final chunked coding: the body ends when the connection does."""
        te: bytes | None = None
        for lname, _, value in self.fields:
            if lname == b"content-length":
                return False
            if lname == b"transfer-encoding":
                te = value
        return te is None or te.rsplit(b",", 1)[-1].strip().lower() != b"chunked"

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)
