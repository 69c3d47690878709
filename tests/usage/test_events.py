"""The one-pass splitter (``EventSplitter`` + ``decode_event``) against the WHATWG reference decoder
(``SSEDecoder``): the same events from recorded streams and from any text, in any split; and no
byte lost, so a stripper that forwards what it is given forwards the stream exactly."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage.events import BOM, EventSplitter, decode_event, is_event, one_line_event
from proxy.usage.sse import SSEDecoder

from .recorded import random_splits, recordings, splits

SSE = [r for r in recordings() if r.is_sse]


def reference(data: bytes) -> list[tuple[bytes, bytes]]:
    decoder = SSEDecoder(1 << 20)
    return [(e.event, e.data) for e in decoder.feed(data) + decoder.flush()]


def pieces_of(chunks: list[bytes], max_event_bytes: int = 1 << 20) -> tuple[list[bytes], EventSplitter]:
    splitter = EventSplitter(max_event_bytes)
    out: list[bytes] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
        assert splitter.buffered <= max_event_bytes
    rest = splitter.flush()
    return out + ([rest] if rest else []), splitter


def one_pass(chunks: list[bytes]) -> list[tuple[bytes, bytes]]:
    out = []
    pieces, _ = pieces_of(chunks)
    for i, raw in enumerate(pieces):
        if i == 0:
            raw = raw.removeprefix(BOM)
        elif not is_event(raw):
            continue
        if raw and (decoded := decode_event(raw)) is not None:
            out.append(decoded)
    return out


@pytest.mark.parametrize("rec", SSE, ids=str)
def test_recorded_streams_split_as_the_reference_decodes(rec: object) -> None:
    body = rec.body  # type: ignore[attr-defined]
    want = reference(body)
    assert want or rec.status != 200  # type: ignore[attr-defined]  # (errors: a JSON body, no events)
    for how, chunks in splits(body, seed=3):
        pieces, _ = pieces_of(chunks)
        assert b"".join(pieces) == body, how  # nothing lost, nothing added
        assert one_pass(chunks) == want, how


# Lines of every kind the rules name, joined by every line end.
_LINE = st.sampled_from([b"data: x", b"data:y", b"data", b"data:", b"event: e", b"event:", b": c",
                         b":", b"id: 1", b"retry: 5", b"other: z", b'data: {"usage":{"a":1}}', b""])
_END = st.sampled_from([b"\n", b"\r", b"\r\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_LINE, _END), max_size=30), st.booleans(), st.randoms(use_true_random=False))
def test_any_stream_in_any_split(lines: list[tuple[bytes, bytes]], bom: bool, rng: random.Random) -> None:
    body = (BOM if bom else b"") + b"".join(line + end for line, end in lines)
    want = reference(body)
    for chunks in ([body], [body[i:i + 1] for i in range(len(body))], random_splits(body, rng, 5)):
        pieces, _ = pieces_of(chunks)
        assert b"".join(pieces) == body
        assert one_pass(chunks) == want


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=30), st.sampled_from([b"\n", b"\r\n"]), st.randoms(use_true_random=False))
def test_one_line_end_throughout_in_any_split(lines: list[bytes], end: bytes, rng: random.Random) -> None:
    """LF-only and CRLF-only streams (OpenAI's, Gemini's) take the splitter's fast paths."""
    body = b"".join(line + end for line in lines)
    want = reference(body)
    for chunks in ([body], [body[i:i + 1] for i in range(len(body))], random_splits(body, rng, 9)):
        pieces, _ = pieces_of(chunks)
        assert b"".join(pieces) == body
        assert one_pass(chunks) == want


def test_an_over_long_event_is_spilled_once_and_skipped() -> None:
    splitter = EventSplitter(16)
    assert splitter.feed(b"data: 1\n\ndata: " + b"x" * 20) == [b"data: 1\n\n"]
    assert splitter.spilled == b"data: " + b"x" * 20
    assert splitter.overflows == 1
    assert splitter.buffered <= 16
    # the rest of it is skipped up to its blank line (here straddling two reads), then events again
    assert splitter.feed(b"xxx\n") == []
    assert splitter.spilled == b""
    assert splitter.feed(b"\ndata: 2\n\n") == [b"data: 2\n\n"]
    assert splitter.flush() == b""
    assert splitter.overflows == 1


def test_decode_fast_and_general_paths() -> None:
    assert decode_event(b"data: {}\n\n") == (b"message", b"{}")
    assert decode_event(b"data:{}\n\n") == (b"message", b"{}")
    assert decode_event(b"event: message_delta\r\ndata: {}\r\n\r\n") == (b"message_delta", b"{}")
    assert decode_event(b"data: a\ndata: b\n\n") == (b"message", b"a\nb")
    assert decode_event(b": keep-alive\n\n") is None
    assert decode_event(b"data: a\rb\n\n") == (b"message", b"a")
    assert decode_event(b"data: [DONE]") == (b"message", b"[DONE]")  # unterminated, at the end
    assert decode_event(b"data: {}\r\n\r\n") == (b"message", b"{}")
    assert decode_event(b"data: a\rb\r\n\r\n") == (b"message", b"a")
    assert decode_event(b"data: a\nb\r\n\r\n") == (b"message", b"a")


_BITS = [b"data:", b"data: ", b"event: x", b"{", b"}", b'"usageMetadata":', b"\r", b"\n", b"\r\n", b" ", b":"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_BITS), max_size=8),
       st.sampled_from([b"\n\n", b"\r\n\r\n", b"\r\r", b"\n", b"\r\n\n", b""]))
def test_one_line_event_is_exactly_what_the_splitter_returns_whole(bits: list[bytes], end: bytes) -> None:
    # The readers skip the splitter for such a read: it must be one the splitter gives back as is.
    chunk = b"".join(bits) + end
    if one_line_event(chunk):
        splitter = EventSplitter()
        assert splitter.feed(chunk) == [chunk]
        assert splitter.flush() == b""
        assert decode_event(chunk) is not None


def test_one_line_event_takes_the_providers_chunks() -> None:
    assert one_line_event(b'data: {"a":1}\n\n')
    assert one_line_event(b'data: {"a":1}\r\n\r\n')
    assert not one_line_event(b'data: {"a":1}\n\ndata: {"b":2}\n\n')  # two events
    assert not one_line_event(b'data: {"a":1}\r\n\n')                # mixed line ends
    assert not one_line_event(b'event: x\ndata: {"a":1}\n\n')        # two lines
    assert not one_line_event(b'data: {"a":1}\n')                      # unfinished
