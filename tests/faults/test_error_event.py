"""The error event the relay appends to a broken stream is always an event of its own, wherever the
upstream stopped: mid-line, mid-event, after a lone CR, or cleanly between events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proxy.errors import GatewayUnreachable, Shape, error_body
from proxy.pipeline import sse_error_event
from proxy.usage.sse import Event, SSEDecoder

ERR = GatewayUnreachable("The Lava gateway closed the connection after the request was sent.")

# SSE-ish bytes: field names, separators and every kind of line end, in any order.
_pieces = st.sampled_from([b"data: ", b"data:", b"event: ", b"id: 1", b": c", b"\n", b"\r", b"\r\n",
                           b"\n\n", b'{"a":1}', b"x", b"retry: 5", b"\xff"])
prefixes = st.lists(_pieces, max_size=30).map(b"".join) | st.binary(max_size=200)


def decode(stream: bytes, cuts: list[int]) -> list[Event]:
    decoder = SSEDecoder(1 << 20)
    events: list[Event] = []
    start = 0
    for cut in sorted({min(c, len(stream)) for c in cuts}):
        events += decoder.feed(stream[start:cut])
        start = cut
    return events + decoder.feed(stream[start:])


@given(prefix=prefixes, shape=st.sampled_from(["openai", "anthropic"]),
       cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_error_event_is_dispatched_last_and_whole(prefix: bytes, shape: Shape, cuts: list[int]) -> None:
    before = decode(prefix, [])
    events = decode(prefix + sse_error_event(shape, ERR, after=prefix[-8:]), cuts)
    last = events[-1]
    assert last.data == error_body(shape, ERR.status, ERR.code, ERR.message)
    assert last.event == (b"error" if shape == "anthropic" else b"message")
    # At most one more: the upstream's unfinished event, closed so ours stands alone.
    assert len(before) <= len(events) - 1 <= len(before) + 1


def test_nothing_extra_between_clean_events() -> None:
    """At an event boundary the event is written as is: no stray blank lines."""
    for end in (b"", b"data: {}\n\n", b"data: {}\r\n\r\n", b"data: {}\r\r"):
        assert sse_error_event("openai", ERR, after=end[-8:]).startswith(b"data: ")
