"""Input refused before (or instead of) a handler's answer: the access line no handler will write,
the refusal in the app's shape (its renderer), then a close that lets the client read it first."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ..errors import RequestRejected
from .head import refusal_response

if TYPE_CHECKING:
    from .server import InboundServer

#: After a response ends a request whose body was not read, how long unread bytes are drained so
#: the client can read the response (closing with unread data would reset the connection).
LINGER_SECONDS: Final = 2.0


def send_refusal(server: InboundServer, transport: asyncio.Transport, path: str,
                 err: RequestRejected, *, handled: bool) -> None:
    """Answer ``err`` for the request at ``path`` and close after a linger. ``handled``: a handler
    ran for it (and its completion hook writes the access line)."""
    access = server.access_log
    if access is not None and not handled:
        # No handler ran, so the pipeline's access line (its completion hook) never comes.
        target = path.partition("?")[0][:256]
        access.info('"%s" %d error_code=%s outcome=%s', target, err.status, err.code,
                    err.outcome, extra={"path": target, "status": err.status,
                                        "error_code": err.code, "outcome": err.outcome})
    headers, body = server.render_refusal(path, err)
    transport.write(refusal_response(err.status, headers, body, server.http_date()))
    if transport.can_write_eof():
        transport.write_eof()
    server.loop.call_later(LINGER_SECONDS, transport.close)


def describe(exc: Exception) -> str:
    """A parser error in a few words, for the refusal's sentence (never the request's bytes)."""
    text = str(exc).strip() or type(exc).__name__
    return text[:120]
