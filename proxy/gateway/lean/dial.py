"""Opening a connection to an origin (DNS, TCP, TLS) within the connect timeout, errors mapped."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

from ..base import UpstreamError, connect_timeout, first_byte_timeout, unreachable
from .connection import Connection
from .request import Origin


async def dial(loop: asyncio.AbstractEventLoop, origin: Origin, factory: Callable[[], Connection],
               tls: ssl.SSLContext | None, within: float, deadline: float) -> Connection:
    """A connected ``Connection``. ``within``: connect_timeout (TCP + TLS); ``deadline``: the
    request's first-byte deadline, which wins when it is nearer."""
    connect_by = loop.time() + within
    at = min(connect_by, deadline)
    try:
        async with asyncio.timeout_at(at):
            transport, conn = await loop.create_connection(
                factory, origin.host, origin.port, ssl=tls,
                server_hostname=origin.host if tls is not None else None)
    except TimeoutError as exc:
        raise (connect_timeout() if connect_by <= deadline else first_byte_timeout()) from exc
    except OSError as exc:
        raise map_dial_error(exc) from exc
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        # Small request heads and chunk frames must not wait for Nagle.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def map_dial_error(exc: OSError) -> UpstreamError:
    if isinstance(exc, socket.gaierror):
        return unreachable("dns", "DNS lookup failed")
    if isinstance(exc, ssl.SSLError):
        return unreachable("tls", "TLS handshake failed")
    return unreachable("connect", "connection refused or unreachable")


def retryable(exc: BaseException) -> bool:
    """A failed dial worth another try: never a certificate the peer will present again."""
    cause = exc.__cause__
    return not isinstance(cause, ssl.SSLCertVerificationError)
