"""The common shell of the event-stream extractors, and the one hook an API family implements.

One ``EventSplitter`` cuts the stream into whole events; the family's ``wants(raw)`` (a prefilter:
``bytes.find`` on the raw event, never a parse) says which of them may carry what it reads; only
those are decoded (``decode_event``) and handed to ``on_event(name, data)``, where the family
parses, at most once per event, and keeps the latest usage (envoyproxy/ai-gateway's
``extractUsageFromBufferEvent`` does the same). ``_result()`` gives the ``Usage`` at the end.

How a stream family plugs in (Anthropic, Responses, OpenAI chat and audio streams use exactly
this; a new one, such as Gemini's native stream, does the same)::

    class GeminiStreamExtractor(StreamExtractor):
        def wants(self, raw: bytes) -> bool:          # every event that can carry usage
            return raw.find(b"usageMetadata") >= 0
        def on_event(self, name: bytes, data: bytes) -> None:
            self._latest = data                        # cumulative: the last one wins; keep the
        def _result(self) -> Usage:                    # bytes and parse once, here
            return read_gemini(parse_object(self._latest) or {})

    # and in select._choose: return GeminiStreamExtractor(max_line_bytes=max_line_bytes)

The splitter knows LF, CR and CRLF line ends and a leading BOM; events longer than
``max_line_bytes`` are dropped (counted in ``overflows``), never buffered beyond that bound.
``take(raw)`` feeds one event that was already cut (the ``include_usage`` stripper's events: one
split serves both).
"""

from __future__ import annotations

import re
from typing import Final

from .base import Usage
from .events import BOM, EventSplitter, decode_event, is_event, one_line_event

#: ``"type":"…"`` near the start of the data: the event's name when no ``event:`` line gave one.
_TYPE: Final = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.]{1,64})"')
_TYPE_WINDOW: Final = 256


class StreamExtractor:
    """Base class: subclasses implement ``wants`` (cheap), ``on_event`` and ``_result``."""

    __slots__ = ("_dropped", "_max", "_split", "_started")

    def __init__(self, *, max_line_bytes: int) -> None:
        self._split = EventSplitter(max_line_bytes)
        self._max = max_line_bytes
        self._started = False  # the first event seen (a BOM may lead it)
        self._dropped = 0

    @property
    def overflows(self) -> int:
        """Events dropped for exceeding ``max_line_bytes``."""
        return self._split.overflows + self._dropped

    def feed(self, chunk: bytes) -> None:
        if self._started and self._split.clear:
            # The read ends where an event ends (a line end then an empty line) and no event in
            # it holds what the family reads (``wants`` is a byte search, so false for the whole
            # read means false for each of its events): nothing to cut, nothing to read. Most of
            # an Anthropic stream (``content_block_delta``), every OpenAI chunk with no usage.
            if chunk.endswith(b"\n\n") and not self.wants(chunk):
                return
            if one_line_event(chunk):
                self.take(chunk)  # the usual read: one whole event, nothing held (nothing to cut)
                return
        for raw in self._split.feed(chunk):
            self.take(raw)

    def take(self, raw: bytes) -> None:
        """One whole event, as its raw bytes (a piece from an ``EventSplitter``)."""
        if self._started:
            if not is_event(raw):
                return  # a blank line between events
        else:
            # The stream's first piece: a BOM before it is not part of the stream, and what
            # follows the BOM may be a blank line before the first event (decoded as it is).
            self._started = True
            raw = raw.removeprefix(BOM)
            if not raw:
                return
        if not self.wants(raw):
            return
        if len(raw) > self._max:
            self._dropped += 1
            return
        decoded = decode_event(raw)
        if decoded is not None:
            self.on_event(*decoded)

    def finish(self) -> Usage:
        """What was read; an unterminated last event that arrived whole still counts."""
        rest = self._split.flush()
        if rest:
            self.take(rest)
        return self._result()

    # -- the family's part -----------------------------------------------------------------------

    def wants(self, raw: bytes) -> bool:
        """Whether this raw event may carry what the family reads (C-speed checks only).

        Must be a test of what the bytes contain (``find``, a regex ``search``), never of where:
        ``feed`` asks it of a whole read, and skips a read it refuses, events and all."""
        raise NotImplementedError

    def on_event(self, name: bytes, data: bytes) -> None:
        """One event ``wants`` let through: its type (``b"message"`` when unnamed) and data."""
        raise NotImplementedError

    def _result(self) -> Usage:
        raise NotImplementedError


def event_type(name: bytes, data: bytes) -> bytes:
    """The ``event:`` name, or the JSON ``type`` when the server sent data lines only."""
    if name != b"message":
        return name
    m = _TYPE.search(data, 0, _TYPE_WINDOW)
    return m.group(1) if m else b""
