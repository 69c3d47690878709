"""Reading the request body, bounded: whole when the sidecar needs to look inside it (JSON, to learn
the model and the stream flag), streamed straight through otherwise (multipart uploads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from ..errors import BodyTooLarge
from ..inbound import Exchange

#: Bodies up to this size are read whole (to learn model and stream flags); larger non-JSON bodies
#: (multipart uploads) stream straight through.
BUFFER_LIMIT: Final = 1024 * 1024


async def read_body(ex: Exchange, limit: int) -> bytes | AsyncIterator[bytes]:
    declared = ex.content_length
    too_big = BodyTooLarge(f"The request body is larger than the sidecar's limit of {limit} bytes "
                           "(limits.max_body_bytes).")
    if declared is not None and declared > limit:
        raise too_big
    if (declared is None or declared > BUFFER_LIMIT) and "json" not in ex.headers.get("Content-Type", ""):
        return _stream_body(ex, limit, too_big)
    if ex.body_complete:
        # The usual case: the body came in the same packets as the head.
        body = ex.take_body()
        if len(body) > limit:
            raise too_big
        return body
    chunks: list[bytes] = []
    size = 0
    while chunk := await ex.read():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def _stream_body(ex: Exchange, limit: int, too_big: BodyTooLarge) -> AsyncIterator[bytes]:
    size = 0
    while chunk := await ex.read():
        size += len(chunk)
        if size > limit:
            raise too_big
        yield chunk
