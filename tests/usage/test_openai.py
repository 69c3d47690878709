"""OpenAI-shaped streams and bodies: dialects, stream damage, and what is never parsed."""

from __future__ import annotations

import json

from proxy.usage.base import Usage
from proxy.usage.jsonbody import JsonExtractor
from proxy.usage.openai import OPENAI_KEYS, OpenAIStreamExtractor, read_openai

from .streamkit import run, sse

USAGE = {"prompt_tokens": 40, "completion_tokens": 9, "total_tokens": 49,
         "prompt_tokens_details": {"cached_tokens": 32},
         "completion_tokens_details": {"reasoning_tokens": 4}}
WANT = Usage(input_tokens=40, output_tokens=9, cache_read_tokens=32, reasoning_tokens=4,
             model="gpt-x-1", response_id="chatcmpl-1", source="provider")


def chunk(content: str | None = "hi", *, usage: object = None, with_usage_key: bool = True,
          choices: bool = True) -> dict[str, object]:
    c: dict[str, object] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                            "model": "gpt-x-1", "choices": []}
    if choices:
        c["choices"] = [{"index": 0, "delta": {"content": content}, "finish_reason": None}]
    if with_usage_key:
        c["usage"] = usage
    return c


def stream(**kw: object) -> OpenAIStreamExtractor:
    return OpenAIStreamExtractor(max_line_bytes=kw.get("max_line_bytes", 1 << 20))  # type: ignore[arg-type]


def test_usage_only_chunk_before_done() -> None:
    body = sse(chunk("a"), chunk("b"), chunk(choices=False, usage=USAGE), "[DONE]")
    assert run(stream, body) == WANT


def test_keepalive_comments_crlf_and_multiline_data() -> None:
    usage_json = json.dumps(chunk(choices=False, usage=USAGE), indent=1)
    body = (b": keep-alive\r\n\r\n" + sse(chunk("a"), end="\r\n") + b": ping\r\n\r\n"
            + b"".join(b"data: " + line.encode() + b"\r\n" for line in usage_json.split("\n"))
            + b"\r\n" + b"data: [DONE]\r\n\r\n")
    assert run(stream, body) == WANT


def test_usage_on_the_last_content_chunk_unasked() -> None:
    # DeepSeek, Mistral, Cerebras, OpenRouter: no choices-[] chunk, usage rides the last chunk
    body = sse(chunk("a", with_usage_key=False), chunk("", usage=USAGE), "[DONE]")
    assert run(stream, body) == WANT


def test_groq_usage_under_x_groq() -> None:
    last = chunk("", with_usage_key=False) | {"x_groq": {"usage": USAGE}}
    assert run(stream, sse(chunk("a", with_usage_key=False), last, "[DONE]")) == WANT


def test_latest_usage_object_wins() -> None:
    # servers with continuous usage stats repeat a growing usage on every chunk
    early = dict(USAGE, completion_tokens=3)
    assert run(stream, sse(chunk("a", usage=early), chunk("b", usage=USAGE), "[DONE]")) == WANT


def test_together_reasoning_tokens_at_usage_top_level() -> None:
    usage = {"prompt_tokens": 91, "completion_tokens": 82, "reasoning_tokens": 80}
    got = run(stream, sse(chunk("a"), chunk(choices=False, usage=usage), "[DONE]"))
    assert (got.input_tokens, got.output_tokens, got.reasoning_tokens) == (91, 82, 80)


def test_truncated_before_usage_is_missing_but_named() -> None:
    got = run(stream, sse(chunk("a"), chunk("b")))
    assert got == Usage(model="gpt-x-1", response_id="chatcmpl-1", source="missing")


def test_truncated_inside_the_usage_chunk() -> None:
    body = sse(chunk("a"), chunk(choices=False, usage=USAGE))
    got = run(stream, body[: len(body) - 20])
    assert got.source == "missing"
    assert got.model == "gpt-x-1"


def test_final_event_without_blank_line_still_counts() -> None:
    body = sse(chunk("a")) + b"data: " + json.dumps(chunk(choices=False, usage=USAGE)).encode()
    assert run(stream, body) == WANT


def test_error_event_mid_stream() -> None:
    body = sse(chunk("a"), {"error": {"message": "overloaded", "type": "server_error"}})
    got = run(stream, body + b"event: error\ndata: not json\n\n")
    assert got.source == "missing"
    assert got.response_id == "chatcmpl-1"


def test_overlong_usage_line_is_dropped_not_buffered() -> None:
    big = chunk(choices=False, usage=USAGE) | {"pad": "x" * 5000}
    extractor = OpenAIStreamExtractor(max_line_bytes=1024)
    extractor.feed(sse(chunk("a"), big, "[DONE]"))
    assert extractor.finish().source == "missing"
    assert extractor.overflows == 1


def test_first_chunks_without_names_are_skipped() -> None:
    body = b"data: not-json\n\n" + sse({"choices": []}, chunk("a"), chunk(choices=False, usage=USAGE))
    assert run(stream, body) == WANT


def test_json_body_readers() -> None:
    doc = {"id": "chatcmpl-1", "model": "gpt-x-1", "choices": [], "usage": USAGE}
    assert run(lambda: JsonExtractor(read_openai, OPENAI_KEYS), json.dumps(doc).encode()) == WANT
    embeddings = {"object": "list", "data": [], "model": "e", "usage": {"prompt_tokens": 7,
                                                                       "total_tokens": 7}}
    got = run(lambda: JsonExtractor(read_openai, OPENAI_KEYS), json.dumps(embeddings).encode())
    assert got == Usage(input_tokens=7, model="e", source="provider")
    assert got.total_tokens == 7
