"""The event-stream decoder against the WHATWG rules, recorded streams, and any split."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage.sse import Event, SSEDecoder
from tests.usage.recorded import recordings, splits


def decode(pieces: list[bytes], max_line_bytes: int = 1 << 20) -> tuple[list[Event], SSEDecoder]:
    decoder = SSEDecoder(max_line_bytes)
    events: list[Event] = []
    for piece in pieces:
        events += decoder.feed(piece)
    events += decoder.flush()
    return events, decoder


def decode_all_ways(data: bytes, max_line_bytes: int = 1 << 20) -> list[Event]:
    """Decode whole, byte by byte and in random splits; every way must agree."""
    results = {name: decode(pieces, max_line_bytes)[0] for name, pieces in splits(data, seed=7)}
    first = results["whole"]
    for name, events in results.items():
        assert events == first, name
    return first


# -- the rules, one by one -------------------------------------------------------------------

def test_fields_and_dispatch() -> None:
    events = decode_all_ways(b"event: add\ndata: 1\nid: a\n\ndata: 2\n\n")
    assert events == [Event(b"add", b"1", b"a"), Event(b"message", b"2", b"a")]


def test_line_ends_cr_lf_crlf_mixed() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    assert decode_all_ways(stream) == [Event(b"message", b"a\nb\nc"), Event(b"message", b"d")]


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    events, _ = decode([b"data: x\r", b"\n", b"\r", b"\n"])
    assert events == [Event(b"message", b"x")]


def test_comments_are_keepalives() -> None:
    assert decode_all_ways(b": ping\n\n:\n\ndata: x\n: mid-event comment\n\n") == [
        Event(b"message", b"x")]


def test_multiline_data_joined_with_lf() -> None:
    assert decode_all_ways(b"data: {\ndata:  \"a\": 1\ndata: }\n\n") == [
        Event(b"message", b'{\n "a": 1\n}')]


def test_one_leading_space_is_removed_and_only_one() -> None:
    assert decode_all_ways(b"data:x\n\ndata:  y\n\n") == [
        Event(b"message", b"x"), Event(b"message", b" y")]


def test_field_without_colon_and_empty_data() -> None:
    # "data" alone appends an empty line: the event is dispatched with empty data
    assert decode_all_ways(b"data\n\ndata:\n\n") == [Event(b"message", b""), Event(b"message", b"")]


def test_no_data_no_event_and_type_resets() -> None:
    assert decode_all_ways(b"event: lonely\n\ndata: x\n\n") == [Event(b"message", b"x")]


def test_id_persists_and_nul_id_is_ignored() -> None:
    events = decode_all_ways(b"id: 1\ndata: a\n\nid: b\x00ad\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == [b"1", b"1", b""]


def test_retry_digits_only_and_unknown_fields_ignored() -> None:
    events, decoder = decode([b"retry: 1500\nretry: 1x\nfoo: bar\ndata: x\n\n"])
    assert events == [Event(b"message", b"x")]
    assert decoder.retry == 1500


def test_leading_bom_is_dropped_once_even_split() -> None:
    bom = b"\xef\xbb\xbf"
    assert decode_all_ways(bom + b"data: x\n\n") == [Event(b"message", b"x")]
    # a second BOM is content: the field name is then not "data"
    assert decode_all_ways(bom + bom + b"data: x\n\n") == []


def test_flush_dispatches_an_unterminated_final_event() -> None:
    assert decode_all_ways(b"data: 1\n\ndata: 2") == [
        Event(b"message", b"1"), Event(b"message", b"2")]
    assert decode_all_ways(b"data: 1\n\ndata: 2\n") == [
        Event(b"message", b"1"), Event(b"message", b"2")]


def test_anthropic_style_named_events() -> None:
    stream = (b"event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n"
              b"event: message_stop\ndata: {}\n\n")
    assert [e.event for e in decode_all_ways(stream)] == [b"message_start", b"ping", b"message_stop"]


# -- bounds ----------------------------------------------------------------------------------

def test_overlong_line_is_dropped_and_counted() -> None:
    long = b"data: " + b"x" * 200 + b"\n\n"
    stream = b"data: a\n\n" + long + b"data: b\n\n"
    for _, pieces in splits(stream, seed=3):
        events, decoder = decode(pieces, max_line_bytes=64)
        assert events == [Event(b"message", b"a"), Event(b"message", b"b")]
        assert decoder.overflows == 1


def test_overlong_line_is_never_buffered() -> None:
    decoder = SSEDecoder(1024)
    events = decoder.feed(b"data: ok\n\ndata: ")
    for _ in range(1000):   # a megabyte of one line, in small pieces
        events += decoder.feed(b"y" * 1000)
        assert decoder.buffered <= 1024 + 1000
    events += decoder.feed(b"\r")
    events += decoder.feed(b"\ndata: after\n\n")
    assert events == [Event(b"message", b"ok"), Event(b"message", b"after")]
    assert decoder.overflows == 1


def test_event_data_over_the_bound_drops_the_event() -> None:
    stream = b"data: 0123456789\n" * 10 + b"\ndata: next\n\n"
    events, decoder = decode([stream], max_line_bytes=64)
    assert events == [Event(b"message", b"next")]
    assert decoder.overflows == 1


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        SSEDecoder(0)


# -- recorded traffic ------------------------------------------------------------------------

def reference_events(body: bytes) -> list[tuple[bytes, bytes]]:
    """A deliberately naive parse, valid for the recordings: LF only (Gemini's CRLF made LF),
    one field per line."""
    out = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = b"message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[len(b"event: "):]
            elif line.startswith(b"data: "):
                data.append(line[len(b"data: "):])
        if data:
            out.append((name, b"\n".join(data)))
    return out


SSE_RECORDINGS = [r for r in recordings() if r.is_sse]


@pytest.mark.parametrize("rec", SSE_RECORDINGS, ids=str)
def test_recorded_streams_any_split(rec: object) -> None:
    body = rec.body  # type: ignore[attr-defined]
    assert b"\r" not in body.replace(b"\r\n", b"")  # no lone CR: the reference parse relies on it
    events = decode_all_ways(body)
    assert [(e.event, e.data) for e in events] == reference_events(body)
    assert events or rec.status != 200  # type: ignore[attr-defined]  # Gemini's 400s: JSON as SSE


# -- properties ------------------------------------------------------------------------------

_value = st.binary(max_size=30).filter(lambda v: b"\r" not in v and b"\n" not in v)
_name = _value.filter(lambda v: v != b"" and b"\x00" not in v)
_event = st.fixed_dictionaries({
    "event": st.none() | _name,
    "id": st.none() | _name,
    "data": st.lists(_value, min_size=1, max_size=4),
    "comment": st.booleans(),
})
_ending = st.sampled_from([b"\n", b"\r", b"\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Event]]:
    """A stream built line by line with random line ends, and the events it must decode to."""
    out = bytearray()
    expected: list[Event] = []
    last_id: bytes | None = None
    for ev in draw(st.lists(_event, max_size=6)):
        lines: list[bytes] = []
        if ev["comment"]:
            lines.append(b": keep-alive")
        if ev["event"] is not None:
            lines.append(b"event: " + ev["event"])
        if ev["id"] is not None:
            lines.append(b"id: " + ev["id"])
            last_id = ev["id"]
        lines += [b"data: " + d for d in ev["data"]]
        for line in [*lines, b""]:
            ending = draw(_ending)
            if not line and out.endswith(b"\r") and ending.startswith(b"\n"):
                ending = b"\r"  # CR then LF would be one CRLF, not two line ends
            out += line + ending
        expected.append(Event(ev["event"] or b"message", b"\n".join(ev["data"]), last_id))
    return bytes(out), expected


@settings(max_examples=300)
@given(streams(), st.randoms(use_true_random=False))
def test_any_split_any_line_ends_same_events(stream: tuple[bytes, list[Event]],
                                             rng: random.Random) -> None:
    data, expected = stream
    cuts = sorted(rng.sample(range(len(data) + 1), k=min(len(data) + 1, rng.randint(0, 12))))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert decode(pieces)[0] == expected


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_garbage_never_raises_and_stays_bounded(pieces: list[bytes]) -> None:
    decoder = SSEDecoder(16)
    for piece in pieces:
        decoder.feed(piece)
        assert decoder.buffered <= 16 + 40
    decoder.flush()
