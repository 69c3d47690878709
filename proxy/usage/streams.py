"""The common shell of the SSE extractors: an ``SSEDecoder`` feeding one ``_on(event)`` per event."""

from __future__ import annotations

import re
from typing import Final

from .base import Usage
from .sse import Event, SSEDecoder

#: ``"type":"…"`` near the start of the data: the event's name when no ``event:`` line gave one.
_TYPE: Final = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.]{1,64})"')
_TYPE_WINDOW: Final = 256


class StreamExtractor:
    """Base class: subclasses implement ``_on`` (cheap unless the event matters) and ``_result``."""

    __slots__ = ("_sse",)

    def __init__(self, *, max_line_bytes: int) -> None:
        self._sse = SSEDecoder(max_line_bytes)

    @property
    def overflows(self) -> int:
        return self._sse.overflows

    def feed(self, chunk: bytes) -> None:
        for event in self._sse.feed(chunk):
            self._on(event)

    def finish(self) -> Usage:
        for event in self._sse.flush():
            self._on(event)
        return self._result()

    def _on(self, event: Event) -> None:
        raise NotImplementedError

    def _result(self) -> Usage:
        raise NotImplementedError


def event_type(event: Event) -> bytes:
    """The ``event:`` name, or the JSON ``type`` when the server sent data lines only."""
    if event.event != b"message":
        return event.event
    m = _TYPE.search(event.data, 0, _TYPE_WINDOW)
    return m.group(1) if m else b""
