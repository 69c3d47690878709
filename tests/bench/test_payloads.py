"""The bench's Gemini stream is Gemini's wire format, as the real recordings have it, and the
sidecar's reader meters it exactly, whatever the TCP boundaries."""

from __future__ import annotations

import json
from typing import Any

from bench import payloads
from proxy.usage.gemini import GeminiStreamExtractor

from ..usage.recorded import gemini_recordings, splits

WIRE = b"".join(payloads.gemini_stream_script(payloads.STREAM_TOKENS).writes)
#: A thinking model's streamed answer (gemini-pro-latest, thoughts on): its events are the model.
MODEL_RECORDING = "genai/gemini/gemini-pro-latest_thinking/GenStream-Citations-text-markdown"


def _events(body: bytes) -> list[bytes]:
    """``data: {json}\\r\\n\\r\\n`` events → their JSON (asserting that is all the body holds)."""
    pieces = body.split(b"\r\n\r\n")
    assert pieces[-1] == b""
    assert all(p.startswith(b"data: ") and b"\n" not in p and b"\r" not in p for p in pieces[:-1])
    return [p[6:] for p in pieces[:-1]]


def _google(doc: Any) -> bytes:
    """Google's serialization: "," between members, ": " after keys, UTF-8 as it is."""
    return json.dumps(doc, separators=(",", ": "), ensure_ascii=False).encode()


def _paths(value: Any, prefix: str = "") -> list[str]:
    """Every member's path, in order (a list by its first item): the shape, values aside."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in (f"{prefix}/{k}", *_paths(v, f"{prefix}/{k}"))]
    if isinstance(value, list) and value:
        return _paths(value[0], prefix + "[]")
    return []


def test_gemini_events_are_serialized_as_google_serializes_them() -> None:
    recorded = [e for r in gemini_recordings(200) if r.is_sse for e in _events(r.body)]
    # HTML-sensitive characters are escaped by Google (\u003c): the bench's text has none.
    plain = [e for e in recorded if b"\\u003c" not in e and b"\\u003e" not in e]
    assert len(plain) >= 150
    assert all(_google(json.loads(e)) == e for e in plain)
    ours = _events(WIRE)
    assert all(_google(json.loads(e)) == e for e in ours)
    assert b"[DONE]" not in WIRE  # Gemini ends with the response, not a sentinel


def test_gemini_chunks_have_the_shape_of_a_thinking_models_chunks() -> None:
    rec = next(r for r in gemini_recordings(200) if r.name == MODEL_RECORDING)
    real = [json.loads(e) for e in _events(rec.body)]
    ours = [json.loads(e) for e in _events(WIRE)]
    # 64 content chunks, then the final one (empty text, the thought signature, finishReason).
    assert len(ours) == payloads.gemini_stream_events() == 65
    content = [d for d in real if "thoughtsTokenCount" in d["usageMetadata"]
               and "finishReason" not in d["candidates"][0]]
    assert content
    assert all(_paths(d) == _paths(content[0]) for d in content)
    assert all(_paths(d) == _paths(content[0]) for d in ours[:-1])
    assert _paths(ours[-1]) == _paths(real[-1])
    assert ours[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "".join(d["candidates"][0]["content"]["parts"][0]["text"] for d in ours) \
        == "".join(payloads.STREAM_TOKENS)
    # Cumulative usage, as Google sends it: the candidates grow, prompt and thoughts stay.
    counts = [d["usageMetadata"]["candidatesTokenCount"] for d in ours]
    assert counts == [*range(1, 65), 64]
    assert all(d["usageMetadata"]["totalTokenCount"] == 61 + c + payloads.GEMINI_THOUGHTS_TOKENS
               for d, c in zip(ours, counts, strict=True))


def test_the_request_is_what_google_genai_sends() -> None:
    doc = json.loads(payloads.gemini_request_body())
    assert list(doc) == ["contents", "systemInstruction", "generationConfig"]
    assert payloads.gemini_request_body() == json.dumps(doc).encode()  # the SDK's json.dumps
    assert payloads.gemini_path().endswith(":streamGenerateContent?alt=sse")


def test_the_sidecars_reader_meters_the_bench_stream_in_any_split() -> None:
    for how, pieces in splits(WIRE, seed=20):
        reader = GeminiStreamExtractor(max_line_bytes=1 << 20)
        for piece in pieces:
            reader.feed(piece)
        usage = reader.finish()
        assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) \
            == (61, 64 + payloads.GEMINI_THOUGHTS_TOKENS, payloads.GEMINI_THOUGHTS_TOKENS), how
        assert usage.model == payloads.GEMINI_MODEL, how


def test_the_anthropic_stream_has_anthropics_event_shapes_and_meters_exactly() -> None:
    # bench.stream_readers' anthropic row: the recorded Claude stream's event names and members
    # (tests/data/recorded/genai/anthropic/claude-haiku-4-5-20251001/GenStream-Text), one delta a
    # token, and the reader's usage from message_start and message_delta, in any split.
    from proxy.usage.anthropic import AnthropicStreamExtractor

    wire = b"".join(payloads.anthropic_stream_script(payloads.STREAM_TOKENS).writes)
    events = [e for e in wire.split(b"\n\n") if e]
    assert len(events) == payloads.anthropic_stream_events() == 69
    names, docs = [], []
    for event in events:
        name_line, data_line = event.split(b"\n")
        names.append(name_line.removeprefix(b"event: ").decode())
        docs.append(json.loads(data_line.removeprefix(b"data: ")))
    assert names == ["message_start", "content_block_start", *["content_block_delta"] * 64,
                     "content_block_stop", "message_delta", "message_stop"]
    assert [d["type"] for d in docs] == names
    assert "".join(d["delta"]["text"] for d in docs if d["type"] == "content_block_delta") \
        == "".join(payloads.STREAM_TOKENS)
    for how, pieces in splits(wire, seed=4):
        reader = AnthropicStreamExtractor(max_line_bytes=1 << 20)
        for piece in pieces:
            reader.feed(piece)
        usage = reader.finish()
        assert (usage.input_tokens, usage.output_tokens, usage.model) == (
            46, 64, "claude-haiku-4-5-20251001"), how
