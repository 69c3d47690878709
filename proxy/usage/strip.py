"""Undoes the sidecar's ``include_usage`` opt-in on one chat/completions stream, byte-exactly, and
reads the stream's usage in the same pass.

Every other byte is forwarded unchanged and in order; only an incomplete event is held back.
"""

from __future__ import annotations

import re
from typing import Final

from .base import Usage
from .events import EventSplitter, decode_event, is_event
from .jsonscan import JsonDict, parse_object
from .openai import OpenAIStreamExtractor

_USAGE_OBJECT: Final = re.compile(rb'"usage"\s*:\s*\{')
_NULL_MEMBER: Final = b',"usage":null'
#: How the opt-in's usual chunk ends: ``"usage":null`` as its last member.
_NULL_END: Final = b',"usage":null}\n\n'
_NULL_END_KEY: Final = len(_NULL_END) - 1  # ``"usage"``'s offset from the end
_NULL_VALUE: Final = b'"usage":null'
_LF: Final = 0x0A
_COMMA: Final = 0x2C
#: What may follow ``"usage":null`` for it to be provably a member of the chunk itself: only
#: scalar members, then the chunk's closing brace and the end of the line (OpenAI's
#: ``,"obfuscation":"…"}``), so no bracket can open or close in between.
_SCALAR_TAIL: Final = re.compile(
    rb'(?:,"(?:[^"\\\r\n]|\\.)*":(?:"(?:[^"\\\r\n]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?'
    rb'|null|true|false))*\}[ \t]*(?:\r\n|\r|\n)*\Z')


class UsageChunkStripper:
    """``feed`` returns what to forward now; ``flush`` what is left at the end of the stream.

    The evidence, in tests/data/recorded/envoy-ai-gateway/openai: without the opt-in OpenAI's
    chunks have no ``usage`` member at all (chat-streaming, completion-streaming); with it every
    chunk carries ``"usage":null`` and one extra chunk with ``choices: []`` carries the usage
    before ``[DONE]`` (chat-streaming-detailed-usage, completion-streaming-usage, and genai's
    openaichat recordings). So both are removed and the client sees the stream it asked for: the
    usage-only chunk crashes clients that index ``choices[0]`` (shell_gpt#738, Portkey#1629).

    With ``usage`` (the stream's extractor), the one split serves both: each whole event is
    shown to it once, and the usage chunk is parsed once, for both the usage and the decision to
    drop it (``usage.finish()`` then gives the stream's usage; its own ``feed`` is not used).
    Removing ``"usage":null`` costs a copy of each chunk; docs/performance.md measures it and
    says why it is kept.
    """

    __slots__ = ("_passthrough", "_quick", "_split", "_usage", "removed_chunks", "removed_nulls")

    def __init__(self, *, max_event_bytes: int = 1 << 20,
                 usage: OpenAIStreamExtractor | None = None) -> None:
        self._split = EventSplitter(max_event_bytes)
        self._usage = usage
        # An event over the bound is forwarded as it is, and so is the rest of the stream.
        self._passthrough = False
        #: The quick test in ``feed`` applies: nothing held or skipped, no passthrough, and the
        #: usage reader (if any) past the first events, which it reads whole to name the response.
        self._quick = usage is None
        #: Usage-only chunks removed, and ``"usage":null`` members removed.
        self.removed_chunks = 0
        self.removed_nulls = 0

    def feed(self, chunk: bytes) -> bytes:
        # Nearly every read once the stream is under way: one LF event whose only usage key is
        # ``,"usage":null`` closing the chunk, the member the opt-in added. Removing it is all
        # there is to do, and deciding so takes five C calls and no call of ours (this path was
        # ~1.5 us a chunk through ``_event``; the general path below decides the same, byte for
        # byte: tests/usage/test_strip.py holds the two to each other).
        n = len(chunk)
        if self._quick and chunk.endswith(_NULL_END) and chunk.find(b'"usage"') == n - _NULL_END_KEY \
                and chunk.find(b"\n") == n - 2 and chunk.find(b"\r") < 0 and chunk.startswith(b"data:"):
            self.removed_nulls += 1
            return chunk[:n - len(_NULL_END)] + b"}\n\n"  # one copy
        out = self._feed(chunk)
        usage = self._usage
        self._quick = not self._passthrough and self._split.clear and (usage is None or not usage.probing)
        return out

    def _feed(self, chunk: bytes) -> bytes:
        # The usual read: one whole one-line LF event (OpenAI writes each chunk as one
        # ``data: {...}\n\n``) and nothing held from the reads before: that it is one event is
        # a few scans in C, so the splitter has nothing to cut (it would return ``chunk``).
        # (``events.one_line_event`` inlined, LF only: the call alone cost 0.2 us an event.)
        n = len(chunk)
        if n > 2 and chunk.find(b"\n") == n - 2 and chunk[-1] == _LF and chunk.find(b"\r") < 0 \
                and not self._passthrough and self._split.clear:
            return self._event(chunk)
        events = self._split.feed(chunk)
        if self._passthrough:
            self._read(events)
            return chunk
        if self._split.spilled:
            # The held event outgrew the bound: it and everything after it go as they are.
            self._passthrough = True
            out = [self._event(raw) for raw in events]
            out.append(self._split.spilled)
            return b"".join(out)
        if len(events) == 1:
            return self._event(events[0])
        return b"".join([self._event(raw) for raw in events])

    def flush(self) -> bytes:
        """The stream ended: its last event, even without its blank line, is judged as it is."""
        rest = self._split.flush()
        if not rest:
            return b""
        if self._passthrough:
            self._read([rest])
            return b""  # forwarded already, as it arrived
        if not is_event(rest):
            return rest
        return self._event(rest)

    def finish(self) -> Usage:
        """The usage read (needs ``usage``); an unfinished last event is read, not forwarded."""
        if self._usage is None:
            raise RuntimeError("UsageChunkStripper.finish() without a usage extractor")
        rest = self._split.flush()
        if rest:
            self._usage.take(rest)
        return self._usage.finish()

    def _read(self, events: list[bytes]) -> None:
        usage = self._usage
        if usage is not None:
            for raw in events:
                usage.take(raw)

    def _event(self, raw: bytes) -> bytes:
        # A real usage key is a quoted "usage" (inside JSON strings quotes are escaped): find it
        # in C first, then let the whitespace-tolerant regex confirm from there.
        key = raw.find(b'"usage"')
        if key > 0 and raw.startswith(_NULL_VALUE, key) and raw[key - 1] == _COMMA \
                and raw.find(b'"usage"', key + 7) < 0:
            return self._null_member(raw, key)
        has_object = key >= 0 and _USAGE_OBJECT.search(raw, key) is not None
        usage = self._usage
        doc: JsonDict | None = None
        if usage is not None and (has_object or usage.probing) and is_event(raw):
            # Only the events that may carry usage (or name the response) are shown to the
            # reader; a usage chunk is parsed there, once, for both of us.
            usage.last = None
            usage.take(raw)
            doc = usage.last
        if key < 0:
            return raw
        if has_object and b'"choices"' in raw and _usage_only(raw, doc):
            self.removed_chunks += 1
            return b""
        at = raw.find(_NULL_MEMBER, key - 1)
        if at < 0 or raw.find(_NULL_MEMBER, at + 1) >= 0 or not raw.startswith(b"data:"):
            return raw
        end = at + len(_NULL_MEMBER)
        if not _SCALAR_TAIL.match(raw, end):
            return raw
        self.removed_nulls += 1
        return raw.replace(_NULL_MEMBER, b"", 1)  # the one occurrence (checked): one copy

    def _null_member(self, raw: bytes, key: int) -> bytes:
        """``_event`` for the chunk the opt-in makes of nearly every chunk: its one usage key, at
        ``key``, holds null and follows a comma. What the general path decides, in fewer scans:
        no usage object to read or drop, and ``,"usage":null`` removed if it is the chunk's own."""
        usage = self._usage
        if usage is not None and usage.probing and is_event(raw):
            usage.last = None
            usage.take(raw)
        end = key + len(_NULL_VALUE)
        if not raw.startswith(b"data:"):
            return raw
        # The member closing the chunk at the end of its line (the usual place) needs no regex.
        if not (end == len(raw) - 3 and raw.endswith(b"}\n\n")) and not _SCALAR_TAIL.match(raw, end):
            return raw
        self.removed_nulls += 1
        return raw[:key - 1] + raw[end:]  # one copy


class StrippedStreamUsage:
    """The ``Extractor`` face of a stripper that reads the usage in its own pass: nothing to feed
    (the stripper saw every byte), ``finish`` is the stripper's."""

    __slots__ = ("_stripper",)

    def __init__(self, stripper: UsageChunkStripper) -> None:
        self._stripper = stripper

    def feed(self, chunk: bytes) -> None:
        return None

    def finish(self) -> Usage:
        return self._stripper.finish()


def _usage_only(raw: bytes, parsed: JsonDict | None) -> bool:
    """The event is a chunk with ``choices: []`` and a usage object: the one the opt-in adds.
    ``parsed``: the chunk, when the usage reader parsed it already."""
    chunk = parsed
    if chunk is None:
        decoded = decode_event(raw)
        chunk = parse_object(decoded[1]) if decoded is not None else None
    return chunk is not None and chunk.get("choices") == [] and isinstance(chunk.get("usage"), dict)
