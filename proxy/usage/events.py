"""One pass over an event stream: ``EventSplitter`` cuts it into whole events, ``decode_event`` reads
one event's type and data (WHATWG rules), and only for the events a usage reader asks for.

The relay's hot path on every SSE chunk: the stripper (``strip.py``) forwards or drops whole
events, the extractors (``streams.py``) read usage from them, and with ``include_usage`` injected
both work from the one split. An event is cut in C (``bytes.find`` of the blank line; a regex
only when the stream uses CR); decoding it costs a few slices, and is done for the few events a
family's prefilter lets through.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
(``sse.SSEDecoder`` is the complete decoder of that text, ``id`` and ``retry`` included: the
reference these functions are tested against, event for event, in any split.)
"""

from __future__ import annotations

import re
from typing import Final

from .sse import split_field

#: Two line ends in a row end an event (CR, LF or CRLF each; a CR before LF is one CRLF).
_BOUNDARY: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
BOM: Final = b"\xef\xbb\xbf"
_CR: Final = 0x0D
_LF: Final = 0x0A
_COLON: Final = 0x3A
#: While an over-long event is skipped, the last bytes seen are kept: a boundary may straddle reads.
_KEEP: Final = 3


class EventSplitter:
    """``feed`` any split of a stream; each call returns the events it completed, as their raw bytes
    (the blank line that ended each included), in order. A blank line between events comes back
    as a piece of its own (it starts with CR or LF: not an event). ``flush`` returns what is left.

    Holding is bounded: when an unfinished event grows past ``max_event_bytes`` its bytes are
    handed back once in ``spilled`` (a stripper forwards them as they are), counted in
    ``overflows``, and the rest of that event is skipped up to its blank line.
    """

    __slots__ = ("_buf", "_max", "_skipping", "overflows", "spilled")

    def __init__(self, max_event_bytes: int = 1 << 20) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be positive")
        self._max = max_event_bytes
        self._buf = b""
        self._skipping = False
        self.overflows = 0
        #: Bytes of an over-long event given up by the last ``feed`` (b"" when none).
        self.spilled = b""

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def clear(self) -> bool:
        """Nothing held and nothing being skipped: the next byte fed starts an event."""
        return not self._buf and not self._skipping

    def feed(self, chunk: bytes) -> list[bytes]:
        self.spilled = b""
        buf = self._buf + chunk if self._buf else chunk
        pos, n = 0, len(buf)
        if self._skipping:
            m = _BOUNDARY.search(buf)
            if m is None or (m.end() == n and buf[n - 1] == _CR):
                self._buf = buf[-_KEEP:]  # the boundary may straddle this read and the next
                return []
            self._skipping = False
            pos = m.end()
        out: list[bytes] = []
        # Providers end lines with LF (OpenAI, Anthropic) or CRLF (Gemini); then an event ends at
        # the next b"\n\n" or b"\r\n\r\n", which bytes.find locates in C. The regex, which also
        # knows a lone CR and mixed line ends, costs ~2 µs an event.
        lf_only = buf.find(b"\r", pos) < 0
        crlf_only = not lf_only and buf.count(b"\r\n", pos) == buf.count(b"\r", pos) \
            == buf.count(b"\n", pos)
        while pos < n:
            first = buf[pos]
            if first in (_LF, _CR):
                # a stray blank line between events: its own piece
                if first == _CR and pos + 1 == n:
                    break  # CR or CRLF? the next byte says
                end = pos + 2 if buf[pos:pos + 2] == b"\r\n" else pos + 1
            elif lf_only:
                end = buf.find(b"\n\n", pos)
                if end < 0:
                    break
                end += 2
            elif crlf_only:
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                end += 4
            else:
                m = _BOUNDARY.search(buf, pos)
                if m is None or (m.end() == n and buf[n - 1] == _CR):
                    break
                end = m.end()
            out.append(buf if pos == 0 and end == n else buf[pos:end])
            pos = end
        rest = buf[pos:] if pos else buf
        if len(rest) > self._max:
            self.spilled = rest
            self.overflows += 1
            self._skipping = True
            rest = rest[-_KEEP:]
        self._buf = rest
        return out

    def flush(self) -> bytes:
        """The stream ended: the unfinished last event (b"" when there is none, or it was
        skipped as over-long)."""
        rest, self._buf = self._buf, b""
        if self._skipping:
            self._skipping = False
            return b""
        return rest


def one_line_event(chunk: bytes) -> bool:
    """``chunk`` is exactly one whole one-line ``data:`` event, LF (OpenAI's
    ``data: {...}\n\n``) or CRLF (Gemini's ``data: {...}\r\n\r\n``) throughout, as a provider
    writes each chunk: fed to an ``EventSplitter`` holding nothing, it would come back as the one
    event, so a reader may skip the splitter. A few scans in C."""
    if chunk[:5] != b"data:":
        return False
    n = len(chunk)
    end = chunk.find(b"\n")
    if end == n - 2:
        return chunk[-1] == _LF and chunk.find(b"\r") < 0
    return end == n - 3 and chunk.endswith(b"\r\n\r\n") and chunk.find(b"\r") == end - 1


def decode_event(raw: bytes) -> tuple[bytes, bytes] | None:
    """One whole event → (its type, ``b"message"`` when unnamed; its data lines joined by LF), or
    None when it has no data line (the WHATWG rules dispatch nothing then). ``raw`` is one piece
    from ``EventSplitter`` (a leading BOM already removed from the stream's first)."""
    # The common cases, OpenAI's "data: {...}\n\n" and Gemini's "data: {...}\r\n\r\n": one
    # line, then the blank line, no other line end anywhere.
    if raw[:5] == b"data:":
        end = raw.find(b"\n")
        if end == len(raw) - 2 and raw[end + 1] == _LF and raw.find(b"\r") < 0:
            return b"message", raw[6:end] if raw[5:6] == b" " else raw[5:end]
        if end == len(raw) - 3 and raw.endswith(b"\r\n\r\n") and raw.find(b"\r") == end - 1:
            end -= 1
            return b"message", raw[6:end] if raw[5:6] == b" " else raw[5:end]
    name = b""
    data: list[bytes] | None = None
    for line in raw.splitlines():  # bytes: CR, LF and CRLF only
        if not line or line[0] == _COLON:
            continue  # the blank line that ended it, or a comment (a keep-alive)
        field, value = split_field(line)
        if field == b"data":
            if data is None:
                data = [value]
            else:
                data.append(value)
        elif field == b"event":
            name = value
    if data is None:
        return None
    return name or b"message", data[0] if len(data) == 1 else b"\n".join(data)


def is_event(raw: bytes) -> bool:
    """Whether a piece from ``EventSplitter`` is an event (not a stray blank line)."""
    return raw[0] != _LF and raw[0] != _CR
