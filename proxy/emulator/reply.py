"""What a mock (or recorded) provider answers, before pacing and faults: status, headers and the
body as parts, each part knowing the output tokens it delivers and the usage its bytes state.

Keeping that knowledge next to the bytes is what lets a cut stream be settled with exactly what
was served, without the emulator parsing its own output.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from ..usage.base import MISSING, Usage


@dataclass(frozen=True, slots=True)
class Part:
    data: bytes
    #: Output tokens the client has received once this part is fully written.
    output_tokens: int = 0
    #: The usage these bytes state (an SSE usage chunk, a JSON body's ``usage``); latest wins.
    reports: Usage | None = None
    #: Write ``data`` this many times (large padding without holding it all in memory).
    repeat: int = 1

    @property
    def size(self) -> int:
        return len(self.data) * self.repeat


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    parts: tuple[Part, ...]
    #: An event stream: parts are paced and sent as separate chunks, no Content-Length.
    stream: bool = False
    #: The usage of the whole response when it is served in full (``MISSING`` when none).
    usage: Usage = MISSING
    model: str | None = None
    response_id: str | None = None
    #: Recorded or relayed bytes: usage is read from what was delivered, not known beforehand.
    measured: bool = False

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def content_type(self) -> str | None:
        return next((v for n, v in self.headers if n.lower() == "content-type"), None)


def delivered_usage(reply: Reply, sent: Iterable[Part], *, headers_sent: bool,
                    complete: bool) -> Usage:
    """The usage of what actually reached the client: input once a success status went out, output
    for the parts fully written; all of ``reply.usage`` when the whole reply was served."""
    if not headers_sent or reply.usage is MISSING or reply.status >= 400:
        return MISSING
    if complete:
        return reply.usage
    if reply.usage.output_tokens is None:
        return reply.usage
    return dataclasses.replace(reply.usage, output_tokens=sum(p.output_tokens for p in sent))


def reported_usage(sent: Iterable[Part]) -> Usage:
    """The usage the delivered bytes state (what a correct usage reader must find): latest wins."""
    latest = MISSING
    for part in sent:
        if part.reports is not None:
            latest = part.reports
    return latest
