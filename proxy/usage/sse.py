"""Sans-IO ``text/event-stream`` decoder: bytes in, events out, per the WHATWG rules.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
"""

from __future__ import annotations

from typing import Final, NamedTuple

_BOM: Final = b"\xef\xbb\xbf"
_CR: Final = 0x0D
_LF: Final = 0x0A
_COLON: Final = 0x3A
#: ``retry`` values longer than this are ignored: int() of a huge digit string is slow and useless.
_MAX_RETRY_DIGITS: Final = 12


class Event(NamedTuple):
    """One dispatched event. ``event`` is ``b"message"`` when the stream named no type.

    A NamedTuple rather than a frozen dataclass: one is built per event on the hot path, and a
    frozen dataclass's ``__init__`` costs several times more.
    """

    event: bytes
    data: bytes
    #: The stream's last event id when this event was dispatched (it carries over), or None.
    id: bytes | None = None


class SSEDecoder:
    """Incremental decoder: ``feed`` any split of the stream, ``flush`` once at its end.

    Modelled on httpx-sse's ``_decoders.py``, but on bytes, with bounded lines and events.

    Lines end at CR, LF or CRLF (a CRLF split across two feeds is one line end). A line longer
    than ``max_line_bytes``, or an event whose data grows past it, is dropped and counted in
    ``overflows``; nothing is ever buffered beyond that bound.
    """

    __slots__ = (
        "_at_start", "_data", "_data_len", "_discarding", "_event_type", "_head", "_last_id",
        "_max", "_pending", "_pending_len", "_skip_lf", "_spoiled", "overflows", "retry",
    )

    def __init__(self, max_line_bytes: int = 1 << 20) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self._max = max_line_bytes
        self._pending: list[bytes] = []   # pieces of the line not yet terminated
        self._pending_len = 0
        self._skip_lf = False     # the previous feed ended in CR: a leading LF completes a CRLF
        self._discarding = False  # inside an over-long line: drop bytes up to its end
        self._at_start = True     # a single leading UTF-8 BOM is not part of the stream
        self._head = b""
        self._event_type = b""
        self._data: list[bytes] = []
        self._data_len = 0
        self._spoiled = False     # this event's data went over the bound: drop it at dispatch
        self._last_id: bytes | None = None
        #: The last valid ``retry`` field (milliseconds), if any.
        self.retry: int | None = None
        #: Lines and events dropped for exceeding ``max_line_bytes``.
        self.overflows = 0

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished line and event (at most twice the bound)."""
        return self._pending_len + (0 if self._spoiled else self._data_len)

    def feed(self, chunk: bytes) -> list[Event]:
        events: list[Event] = []
        if self._at_start:
            chunk = self._strip_bom(chunk)
        if not chunk:
            return events
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return events
        if self._discarding:
            chunk = self._resume_after_long_line(chunk)
            if not chunk:
                return events
        has_cr = chunk.find(b"\r") >= 0
        if not has_cr and chunk.find(b"\n") < 0:
            self._hold(chunk)
            return events
        if self._pending:
            self._pending.append(chunk)
            buf = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            has_cr = buf.find(b"\r") >= 0
        else:
            buf = chunk
        if not has_cr:
            lines = buf.split(b"\n")  # the common case, and the fastest split
            tail = lines.pop()
        else:
            lines = buf.splitlines(keepends=True)
            tail = lines.pop() if lines[-1][-1] not in (_CR, _LF) else b""
            if buf[-1] == _CR:
                self._skip_lf = True
            lines = [_chomp(line) for line in lines]
        # The hot loop: "data:" lines and blank lines are handled inline (method calls cost).
        data, limit = self._data, self._max
        for line in lines:
            if not line:
                if data and not self._spoiled:
                    events.append(Event(self._event_type or b"message",
                                        data[0] if len(data) == 1 else b"\n".join(data),
                                        self._last_id))
                data.clear()
                self._data_len = 0
                self._spoiled = False
                self._event_type = b""
            elif line.startswith(b"data:") and len(line) <= limit:
                value = line[6:] if line[5:6] == b" " else line[5:]
                self._data_len += len(value) + 1
                if self._data_len <= limit:
                    data.append(value)
                else:
                    self._spoil()
            else:
                self._line(line, events)
        if tail:
            self._hold(tail)
        return events

    def flush(self) -> list[Event]:
        """End of stream: the unterminated last line and event are processed, not discarded.

        A browser drops an event whose blank line never came; for metering, a final event that
        arrived whole but unterminated still carries real usage, so it is dispatched.
        """
        events: list[Event] = []
        if self._head:
            self._at_start = False
            self._hold(self._head)
            self._head = b""
        if self._pending:
            line = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            self._line(line, events)
        self._discarding = False
        self._skip_lf = False
        self._dispatch(events)
        return events

    # -- internals -------------------------------------------------------------------------

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._head + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._head = head
            return b""
        self._at_start = False
        self._head = b""
        return head[len(_BOM):] if head.startswith(_BOM) else head

    def _hold(self, piece: bytes) -> None:
        self._pending.append(piece)
        self._pending_len += len(piece)
        if self._pending_len > self._max:
            self._pending.clear()
            self._pending_len = 0
            self.overflows += 1
            self._discarding = True

    def _resume_after_long_line(self, chunk: bytes) -> bytes:
        cr, lf = chunk.find(b"\r"), chunk.find(b"\n")
        ends = [i for i in (cr, lf) if i >= 0]
        if not ends:
            return b""
        self._discarding = False
        end = min(ends)
        if chunk[end] == _CR:
            if end + 1 == len(chunk):
                self._skip_lf = True
            elif chunk[end + 1] == _LF:
                end += 1
        return chunk[end + 1:]

    def _line(self, line: bytes, events: list[Event]) -> None:
        if not line:
            self._dispatch(events)
            return
        if len(line) > self._max:
            self.overflows += 1
            return
        if line[0] == _COLON:
            return  # a comment (keep-alive)
        field, value = split_field(line)
        if field == b"data":
            self._data_len += len(value) + 1
            if self._data_len > self._max:
                self._spoil()
            else:
                self._data.append(value)
        elif field == b"event":
            self._event_type = value
        elif field == b"id":
            if b"\x00" not in value:
                self._last_id = value
        elif field == b"retry" and value.isdigit() and len(value) <= _MAX_RETRY_DIGITS:
            self.retry = int(value)
        # any other field is ignored, as the spec says

    def _spoil(self) -> None:
        if not self._spoiled:
            self.overflows += 1
        self._spoiled = True
        self._data.clear()

    def _dispatch(self, events: list[Event]) -> None:
        if self._data and not self._spoiled:
            events.append(Event(self._event_type or b"message", b"\n".join(self._data),
                                self._last_id))
        self._data.clear()
        self._data_len = 0
        self._spoiled = False
        self._event_type = b""


def split_field(line: bytes) -> tuple[bytes, bytes]:
    """One non-comment line as (field, value): before the first colon, and after it less one
    leading space; a line without a colon is a field with an empty value (WHATWG)."""
    colon = line.find(b":")
    if colon < 0:
        return line, b""
    value = line[colon + 1:]
    return line[:colon], value[1:] if value[:1] == b" " else value


def _chomp(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line[-1:] in (b"\n", b"\r"):
        return line[:-1]
    return line
