"""The outbound hop on aiohttp's ClientSession: pooled keep-alive, timeouts, safe retries, error mapping."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDictProxy

from ..config import Gateway as GatewaySettings
from ..errors import SidecarError
from ..http1 import Field
from .base import (
    Body,
    Sink,
    UpstreamError,
    backoff,
    broken_body,
    connect_timeout,
    first_byte_timeout,
    idle_timeout,
    protocol_error,
    reset,
    unreachable,
)

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler

#: aiohttp's read buffer limit: it stops reading the socket at twice this unread. Small, so a
#: stream whose client stopped reading holds little more than one socket read (issue 16).
READ_CHUNK_LIMIT = 2**14


def map_client_error(exc: BaseException, *, sent: bool) -> UpstreamError:
    """aiohttp's exception → ours. ``sent``: the request may have reached Lava."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return unreachable("dns", "DNS lookup failed")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return unreachable("tls", "TLS handshake failed")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return connect_timeout()
    if isinstance(exc, aiohttp.ClientConnectorError):
        return unreachable("connect", "connection refused or unreachable")
    if isinstance(exc, TimeoutError):
        return first_byte_timeout()
    if isinstance(exc, aiohttp.ServerDisconnectedError | ConnectionResetError | aiohttp.ClientOSError):
        return reset(sent=sent)
    return protocol_error(type(exc).__name__)


@dataclass(slots=True)
class AiohttpResponse:
    """An open response from Lava. Iterate ``chunks()``; always ``close()`` (idempotent)."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    _resp: aiohttp.ClientResponse
    _idle_timeout: float
    #: perf_counter() when the response headers arrived (for the overhead figure).
    received_at: float
    #: The connection's protocol while ``pause_reading`` holds it paused.
    _held: ResponseHandler | None = None
    #: ``stream_to`` waits on this while the sink's client is not draining.
    _paused: asyncio.Future[None] | None = None
    _stopped: bool = False

    def header_items(self) -> list[tuple[str, str]]:
        # Raw bytes keep the upstream's own header casing; latin-1 round-trips any octet.
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw_headers]

    @property
    def raw_reason(self) -> bytes:
        return self.reason.encode("latin-1", "replace")

    @property
    def fields(self) -> list[Field]:
        return [(k.lower(), k, v) for k, v in self.raw_headers]

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive. Raises ``UpstreamError`` on idle timeout or a broken body."""
        content = self._resp.content
        loop = asyncio.get_running_loop()
        idle = self._idle_timeout
        try:
            async with asyncio.timeout(loop.time() + idle) as deadline:
                while True:
                    chunk = await content.readany()
                    if not chunk:
                        return
                    deadline.reschedule(loop.time() + idle)
                    yield chunk
        except TimeoutError as exc:
            raise idle_timeout() from exc
        except aiohttp.ClientPayloadError as exc:
            raise broken_body() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise map_client_error(exc, sent=True) from exc

    async def stream_to(self, sink: Sink) -> None:
        """The push contract over aiohttp's pull: each chunk to ``sink``; while the sink has paused
        reading (its client is not draining) no next chunk is taken."""
        async for chunk in self.chunks():
            sink(chunk)
            if self._stopped:
                return
            if self._paused is not None:
                await self._paused

    def stop(self) -> None:
        self._stopped = True
        self._wake()

    def pause_reading(self) -> None:
        # aiohttp pauses its protocol itself when its buffer fills; this pause is ours only when
        # it was reading, so ``resume_reading`` never undoes aiohttp's own.
        if self._paused is None:
            self._paused = asyncio.get_running_loop().create_future()
        conn = self._resp.connection
        protocol = conn.protocol if conn is not None else None
        if protocol is not None and not getattr(protocol, "_reading_paused", True):
            protocol.pause_reading()
            self._held = protocol

    def resume_reading(self) -> None:
        self._wake()
        protocol, self._held = self._held, None
        if protocol is not None:
            protocol.resume_reading()

    def _wake(self) -> None:
        waiter, self._paused = self._paused, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, *, reusable: bool) -> None:
        """Return the connection to the pool when the body was read to the end, else drop it."""
        if reusable:
            self._resp.release()
        else:
            self._resp.close()


class AiohttpClient:
    """``UpstreamClient`` on one pooled aiohttp session."""

    def __init__(self, settings: GatewaySettings, *, on_retry: Callable[[], None] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context``: trust for https origins; None: aiohttp's default verified context."""
        self._settings = settings
        self._on_retry = on_retry
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        s = self._settings
        connector = aiohttp.TCPConnector(
            limit=s.max_connections, limit_per_host=0, keepalive_timeout=s.keepalive_expiry,
            ttl_dns_cache=60, family=socket.AF_UNSPEC, ssl=self._ssl)
        self._session = aiohttp.ClientSession(
            connector=connector,
            # The first-byte and idle timeouts are enforced per request (see open / chunks): a
            # session-wide sock_read would cut a reasoning model that thinks longer than idle.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout,
                                          connect=s.connect_timeout + 1.0),
            auto_decompress=False,  # relay bytes exactly; the usage reader decodes its own copy
            skip_auto_headers=("User-Agent", "Content-Type"),
            read_bufsize=READ_CHUNK_LIMIT,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def open(self, method: str, url: str, headers: list[tuple[bytes, bytes]],
                   body: Body) -> AiohttpResponse:
        """Send the request and wait for the response headers (bounded by first_byte_timeout)."""
        session = self._session
        if session is None:
            raise RuntimeError("AiohttpClient.open() before start()")
        # aiohttp takes text (and encodes values as UTF-8): surrogateescape gives back the bytes
        # a client sent, as before the headers stayed bytes.
        text = [(n.decode("latin-1"), v.decode("utf-8", "surrogateescape")) for n, v in headers]
        s = self._settings
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(s.first_byte_timeout):
                    resp = await session.request(method, url, headers=text, data=body,
                                                 allow_redirects=False, compress=None)
                break
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Nothing was sent: safe to retry, unless the body is a one-shot stream.
                if attempt >= s.connect_retries or not isinstance(body, bytes | None) \
                        or isinstance(exc, aiohttp.ClientConnectorCertificateError):
                    raise map_client_error(exc, sent=False) from exc
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                if self._on_retry is not None:
                    self._on_retry()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                if isinstance(exc.__cause__, SidecarError):
                    # Our own body stream stopped the upload (over limits.max_body_bytes): the
                    # caller's error to answer (413), not a gateway failure.
                    raise exc.__cause__ from None
                raise map_client_error(exc, sent=True) from exc
        return AiohttpResponse(resp.status, resp.reason or "", resp.headers, resp.raw_headers, resp,
                        s.idle_timeout, time.perf_counter())
