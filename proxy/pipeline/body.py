"""Reading the request body, bounded: whole when the sidecar needs to look inside it (JSON, to learn
the model and the stream flag), streamed straight through otherwise (multipart uploads).

A body read whole is held in memory until the request ends: it takes its room in the
``BodyBudget`` (limits.max_buffered_body_bytes) as its bytes arrive (``bounds.BodyBuffer``), and a
refused one lets go of them before its error leaves; ``read_body`` returns how much room the body
holds, for ``finish`` to give back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from ..bounds import BodyBudget, BodyBuffer
from ..errors import BodyTooLarge
from ..inbound import Exchange

#: Bodies up to this size are read whole (to learn model and stream flags); larger non-JSON bodies
#: (multipart uploads) stream straight through.
BUFFER_LIMIT: Final = 1024 * 1024


async def read_body(ex: Exchange, limit: int, budget: BodyBudget) -> tuple[bytes | AsyncIterator[bytes], int]:
    """The body (whole, or a stream), and the bytes of room it holds in ``budget``."""
    declared = ex.content_length
    if declared is not None and declared > limit:
        raise _too_big(limit)
    if (declared is None or declared > BUFFER_LIMIT) and "json" not in ex.headers.get("Content-Type", ""):
        return _stream_body(ex, limit), 0
    if ex.body_complete:
        # The usual case: the body came in the same packets as the head. It is in memory already.
        body = ex.take_body()
        if len(body) > limit:
            raise _too_big(limit)
        budget.count(len(body))
        return body, len(body)
    buf = BodyBuffer(budget)  # counts each chunk as it is held: what is in memory, not Content-Length
    try:
        while chunk := await ex.read():
            if buf.size + len(chunk) > limit:
                raise _too_big(limit)
            await buf.add(chunk)
    except BaseException:
        # Refused (408 stalled, 413, 503) or cancelled: the bytes go now, not when the exception
        # does. Its traceback keeps this frame (and ``buf``) for as long as the error is kept.
        buf.release()
        chunk = b""
        raise
    return buf.join()


async def _stream_body(ex: Exchange, limit: int) -> AsyncIterator[bytes]:
    size = 0
    while chunk := await ex.read():
        size += len(chunk)
        if size > limit:
            raise _too_big(limit)
        yield chunk


def _too_big(limit: int) -> BodyTooLarge:
    # Built when raised, not per request (an exception and its message cost ~1 µs to make).
    return BodyTooLarge(f"The request body is larger than the sidecar's limit of {limit} bytes "
                        "(limits.max_body_bytes).")
