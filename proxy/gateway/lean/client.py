"""``LeanClient``: the ``UpstreamClient`` on a small keep-alive pool of asyncio Protocols + httptools.

Per request: one serialised head, a pooled connection, one write, one future for the head. Only
connection establishment is retried; once request bytes may have left, a failure is final.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

from ...config import Gateway as GatewaySettings
from ...http1 import LAST_CHUNK, chunk
from ..base import Body, UpstreamError, backoff, reset
from .connection import HIGH_WATER, MAX_HEAD_BYTES, MAX_HEADERS, Connection, Limits
from .dial import dial, retryable
from .pool import Pool
from .request import BODY_METHODS, CHUNKED, Origin, Targets, request_head
from .response import FAILED, HEAD, LeanResponse

#: Bodies up to this size go out in the same write as the head (one syscall, one segment).
_COALESCE: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Tuning:
    """Knobs beyond ``gateway.*`` settings; the defaults suit the sidecar."""

    #: Response head bytes (status line, headers, interim responses): a hostile upstream's bound.
    max_head_bytes: int = MAX_HEAD_BYTES
    max_headers: int = MAX_HEADERS
    #: Body bytes buffered for a slow reader before the socket stops being read.
    high_water: int = HIGH_WATER


class LeanClient:
    """``UpstreamClient`` on a keep-alive pool of httptools-parsed connections."""

    def __init__(self, settings: GatewaySettings, *, on_retry: Callable[[], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None, tuning: Tuning | None = None) -> None:
        """``ssl_context``: trust for https origins; None: ``ssl.create_default_context()``."""
        self._settings = settings
        self._on_retry = on_retry
        self._tuning = tuning or Tuning()
        self._limits = Limits(max_head_bytes=self._tuning.max_head_bytes,
                              max_headers=self._tuning.max_headers, high_water=self._tuning.high_water,
                              idle_timeout=settings.idle_timeout,
                              keepalive_expiry=settings.keepalive_expiry)
        self._targets = Targets()
        self._tls = ssl_context
        self._pool: Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        shortest = min(s.connect_timeout, s.first_byte_timeout, s.idle_timeout, s.keepalive_expiry)
        self._loop = loop
        self._pool = Pool(loop, s.max_connections, s.keepalive_expiry, resolution=max(shortest / 16, 0.001))

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def open(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                   body: Body) -> LeanResponse:
        """Send the request and wait for the response headers (bounded by first_byte_timeout)."""
        pool, loop = self._pool, self._loop
        if pool is None or loop is None:
            raise RuntimeError("LeanClient.open() before start()")
        origin, line = self._targets.line(method, url)
        stream: AsyncIterator[bytes] | None = None
        if isinstance(body, bytes):
            length: int | None = len(body)
        elif body is None:
            length = 0 if method in BODY_METHODS else None
        else:
            stream, length = body, CHUNKED
        head = request_head(line, headers, length)
        if body and isinstance(body, bytes) and len(body) <= _COALESCE:
            head, body = head + body, None

        # Waiting for a connection counts against the first byte: it is time the caller waits.
        deadline = loop.time() + self._settings.first_byte_timeout
        conn = pool.take_idle(origin.key)
        if conn is None:
            conn, deadline = await self._connect(pool, loop, origin, deadline, retry=stream is None)
        resp = LeanResponse(conn, loop, method == "HEAD")
        conn.begin(resp, deadline)
        transport = conn.transport
        try:
            if transport is None:  # closed between the pool and here: nothing was sent
                resp.fail(reset(sent=False))
            elif isinstance(body, bytes) and body:
                transport.writelines((head, body))
            else:
                transport.write(head)
            if stream is not None:
                await _upload(conn, resp, stream)
            if resp.state == HEAD:
                resp.waiter = waiter = loop.create_future()
                await waiter
            if resp.state == FAILED:
                raise resp.error  # type: ignore[misc]
        except BaseException:
            resp.close(reusable=False)
            raise
        return resp

    async def _connect(self, pool: Pool, loop: asyncio.AbstractEventLoop, origin: Origin,
                       deadline: float, *, retry: bool) -> tuple[Connection, float]:
        """A connection handed over by the pool or freshly dialled, retrying only the dial."""
        s = self._settings
        attempt = 0
        while True:
            got = await pool.acquire(origin.key, deadline)
            if got is not None:
                if got.closed:
                    continue
                return got, deadline
            try:
                tls = self._context() if origin.tls else None
                conn = await dial(loop, origin, lambda: Connection(pool, origin.key, loop, self._limits),
                                  tls, s.connect_timeout, deadline)
            except BaseException as exc:
                pool.dial_failed()
                if not isinstance(exc, UpstreamError) or exc.may_have_sent or not retry \
                        or attempt >= s.connect_retries or not retryable(exc):
                    raise
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                deadline = loop.time() + s.first_byte_timeout
                if self._on_retry is not None:
                    self._on_retry()
                continue
            pool.dialled(conn)
            return conn, deadline

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            # Built on first https use: loading the trust store costs milliseconds.
            self._tls = ssl.create_default_context()
        return self._tls


async def _upload(conn: Connection, resp: LeanResponse, stream: AsyncIterator[bytes]) -> None:
    """A one-shot body as chunked transfer-encoding. Stops early when Lava answers or fails first;
    the connection then can't be reused (its request never ended), which ``close`` sees."""
    async for piece in stream:
        transport = conn.transport
        if resp.state != HEAD or transport is None or conn.closed:
            resp.spoil()
            return
        if piece:
            transport.write(chunk(piece))
            if conn.writing_paused:
                await conn.drain()
    transport = conn.transport
    if resp.state == HEAD and transport is not None:
        transport.write(LAST_CHUNK)
    else:
        resp.spoil()
