"""Anthropic streams: cumulative deltas, latest value per field, never a sum."""

from __future__ import annotations

import json

from proxy.usage.anthropic import ANTHROPIC_KEYS, AnthropicStreamExtractor, read_anthropic
from proxy.usage.base import Usage
from proxy.usage.jsonbody import JsonExtractor

from .streamkit import run, sse


def start(usage: dict[str, object]) -> dict[str, object]:
    return {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x",
                                                 "usage": usage}}


def delta(usage: dict[str, object]) -> dict[str, object]:
    return {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}


TEXT = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}


def body(*events: dict[str, object], named: bool = True) -> bytes:
    return sse(*events, event_names=[str(e["type"]) for e in events] if named else None)


def stream() -> AnthropicStreamExtractor:
    return AnthropicStreamExtractor(max_line_bytes=1 << 20)


def named(**counts: int | None) -> Usage:
    return Usage(**counts, model="claude-x", response_id="msg_1", source="provider")


def test_cumulative_deltas_repeating_input_fields_are_not_summed() -> None:
    events = (start({"input_tokens": 10, "cache_read_input_tokens": 5,
                     "cache_creation_input_tokens": 2, "output_tokens": 1}),
              TEXT,
              delta({"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 7}),
              delta({"output_tokens": 12}),
              {"type": "message_stop"})
    assert run(stream, body(*events)) == named(
        input_tokens=17, output_tokens=12, cache_read_tokens=5, cache_write_tokens=2)


def test_input_reported_only_at_the_end() -> None:
    # Anthropic-compatible backends that fill message_start with zeros (ai-gateway#2290)
    events = (start({"input_tokens": 0, "output_tokens": 0}),
              delta({"input_tokens": 500, "output_tokens": 20}))
    assert run(stream, body(*events)) == named(input_tokens=500, output_tokens=20)


def test_null_delta_fields_keep_the_earlier_value() -> None:
    events = (start({"input_tokens": 30, "output_tokens": 1}),
              delta({"input_tokens": None, "output_tokens": 9}))
    assert run(stream, body(*events)) == named(input_tokens=30, output_tokens=9)


def test_thinking_tokens_are_reasoning() -> None:
    events = (start({"input_tokens": 27, "output_tokens": 2}),
              delta({"output_tokens": 20, "output_tokens_details": {"thinking_tokens": 15}}))
    assert run(stream, body(*events)) == named(input_tokens=27, output_tokens=20,
                                               reasoning_tokens=15)


def test_error_mid_stream_keeps_what_message_start_said() -> None:
    events = (start({"input_tokens": 30, "output_tokens": 1}), TEXT,
              {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert run(stream, body(*events)) == named(input_tokens=30, output_tokens=1)


def test_truncated_stream_gives_partial_usage() -> None:
    full = body(start({"input_tokens": 30, "output_tokens": 1}), TEXT,
                delta({"output_tokens": 40}))
    cut = full[: full.index(b"event: message_delta") + 30]
    assert run(stream, cut) == named(input_tokens=30, output_tokens=1)


def test_data_only_stream_names_events_by_type() -> None:
    events = (start({"input_tokens": 3, "output_tokens": 1}), delta({"output_tokens": 4}))
    assert run(stream, body(*events, named=False)) == named(input_tokens=3, output_tokens=4)


def test_padding_spaces_inside_data() -> None:
    # real Anthropic streams pad the JSON with spaces before its closing brace
    raw = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
           b'"model":"claude-x","usage":{"input_tokens":8,"output_tokens":1}}          }\n\n'
           b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":5}'
           b'      }\n\n')
    assert run(stream, raw) == named(input_tokens=8, output_tokens=5)


def test_json_body_sums_cache_into_input() -> None:
    doc = {"id": "msg_1", "model": "claude-x", "usage": {
        "input_tokens": 15, "cache_creation_input_tokens": 837, "cache_read_input_tokens": 100,
        "output_tokens": 81}}
    got = run(lambda: JsonExtractor(read_anthropic, ANTHROPIC_KEYS), json.dumps(doc).encode())
    assert got == named(input_tokens=952, output_tokens=81, cache_read_tokens=100,
                        cache_write_tokens=837)


def test_an_event_whose_first_line_says_nothing_is_read_whole_in_any_split() -> None:
    # Data lines join with LF (WHATWG): this message_delta names itself only on its second line.
    # A read that ends after the first line holds nothing the reader wants, yet is half an event:
    # only a read that ends where an event ends may be skipped unread.
    first = b'data: {"usage":{"output_tokens":7},\n'
    event = first + b'data: "type":"message_delta"}\n\n'
    head = b"event: message_start\ndata: " + json.dumps(start({"input_tokens": 3})).encode() + b"\n\n"
    text = b"event: content_block_delta\ndata: " + json.dumps(TEXT).encode() + b"\n\n"
    want = named(input_tokens=3, output_tokens=7)
    for pieces in ([head + text + event], [head, text, event], [head, text, first, event[len(first):]],
                   [head + text + first, event[len(first):]]):
        s = stream()
        for piece in pieces:
            s.feed(piece)
        assert s.finish() == want, pieces
