"""Reading the request body, bounded: whole when the sidecar needs to look inside it (JSON, to learn
the model and the stream flag), streamed straight through otherwise (multipart uploads).

A body read whole is held in memory until the request ends, so it takes its room in the
``BodyBudget`` (limits.max_buffered_body_bytes) first; ``read_body`` returns how much it took, for
``finish`` to give back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

from ..bounds import BodyBudget
from ..errors import BodyTooLarge
from ..inbound import Exchange

#: Bodies up to this size are read whole (to learn model and stream flags); larger non-JSON bodies
#: (multipart uploads) stream straight through.
BUFFER_LIMIT: Final = 1024 * 1024
#: A body without a declared length takes room in steps of this much as it arrives.
_STEP: Final = 256 * 1024


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
    held = declared or 0
    if held:
        await budget.take(held)
    try:
        chunks: list[bytes] = []
        size = 0
        while chunk := await ex.read():
            size += len(chunk)
            if size > limit:
                raise _too_big(limit)
            if size > held:  # no declared length: room as it grows
                step = min(max(size - held, _STEP), limit - held)
                await budget.take(step)
                held += step
            chunks.append(chunk)
    except BaseException:
        budget.give(held)
        raise
    return b"".join(chunks), held


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
