"""HTTP/1.1 wire details shared by the sidecar's own server (``inbound``) and client (``gateway.lean``)."""

from __future__ import annotations

from typing import Final

#: The last chunk of a chunked body, with no trailers (RFC 9112 section 7.1).
LAST_CHUNK: Final = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 section 7.1). Never call it with ``b""``: an empty
    chunk is the body's end."""
    return b"%x\r\n%b\r\n" % (len(data), data)
