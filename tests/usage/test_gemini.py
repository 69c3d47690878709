"""Gemini's usage rules (issue 20): thinking is output, the last chunk wins, the path names the call.

The recorded traffic is metered in every split by test_select.py (the reference reading is in
reference.py); these tests pin each rule on small documents, byte by byte and in random splits.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage import Api, NullExtractor, RequestFacts, Usage, make_extractor
from proxy.usage.gemini import (
    GeminiJsonExtractor,
    GeminiStreamExtractor,
    carries_usage,
    path_facts,
    read_event,
    usage_of,
)
from proxy.usage.select import NoUsageExtractor

from .recorded import random_splits, splits

MAX_LINE = 1 << 20


def chunk(meta: dict[str, Any] | None, text: str = "hi", **top: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}}]}
    if meta is not None:
        doc["usageMetadata"] = meta
    return {**doc, "modelVersion": "gemini-3.1-pro-preview", "responseId": "r1", **top}


def sse(*docs: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(d).encode() + b"\r\n\r\n" for d in docs)


def stream_usage(pieces: list[bytes]) -> Usage:
    ex = make_extractor(RequestFacts(Api.GENERATE_CONTENT, stream=True), "gemini",
                        "text/event-stream", None, max_line_bytes=MAX_LINE)
    for p in pieces:
        ex.feed(p)
    return ex.finish()


def json_usage(pieces: list[bytes], *, max_bytes: int = 8 << 20) -> Usage:
    ex = GeminiJsonExtractor(max_bytes=max_bytes)
    for p in pieces:
        ex.feed(p)
    return ex.finish()


# -- the path ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "api", "model", "stream"), [
    ("/v1beta/models/gemini-2.5-flash:generateContent", Api.GENERATE_CONTENT, "gemini-2.5-flash", False),
    ("/v1/models/gemini-2.5-flash:streamGenerateContent", Api.GENERATE_CONTENT, "gemini-2.5-flash", True),
    ("/v1alpha/models/gemini-3.1-pro-preview:streamGenerateContent", Api.GENERATE_CONTENT,
     "gemini-3.1-pro-preview", True),
    ("/v1beta/tunedModels/my-tune-7:generateContent", Api.GENERATE_CONTENT, "tunedModels/my-tune-7", False),
    ("/v1beta/models/gemini-2.5-flash:countTokens", Api.COUNT_TOKENS, "gemini-2.5-flash", False),
    ("/v1/models/gemini-embedding-001:embedContent", Api.EMBEDDINGS, "gemini-embedding-001", False),
    ("/v1/models/gemini-embedding-001:batchEmbedContents", Api.EMBEDDINGS, "gemini-embedding-001", False),
    ("/v1beta/models/imagen-4:predict", Api.OTHER, "imagen-4", False),
    ("/v1beta/models/gemini-2.5-flash:batchGenerateContent", Api.OTHER, "gemini-2.5-flash", False),
    ("/v1beta/models", Api.MODELS, None, False),
    ("/v1beta/models/", Api.MODELS, None, False),
    ("/v1beta/models/gemini-2.5-flash", Api.MODELS, "gemini-2.5-flash", False),
    ("/v1beta/cachedContents", Api.OTHER, None, False),
    ("/v1beta/cachedContents/abc", Api.OTHER, None, False),
    ("/upload/v1beta/files", Api.OTHER, None, False),
    ("", Api.OTHER, None, False),
])
def test_the_path_names_the_call(path: str, api: Api, model: str | None, stream: bool) -> None:
    assert path_facts(path) == RequestFacts(api=api, model=model, stream=stream)


# -- one usageMetadata ---------------------------------------------------------------------------

def test_thinking_is_output_and_reasoning() -> None:
    u = usage_of({"promptTokenCount": 9, "candidatesTokenCount": 2, "thoughtsTokenCount": 114,
                  "totalTokenCount": 125})
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (9, 116, 114)


def test_tool_use_prompt_is_input_and_cached_content_is_a_part_of_it() -> None:
    u = usage_of({"promptTokenCount": 1000, "cachedContentTokenCount": 800,
                  "toolUsePromptTokenCount": 241, "candidatesTokenCount": 50,
                  "totalTokenCount": 1291})
    assert (u.input_tokens, u.cache_read_tokens, u.tool_prompt_tokens, u.output_tokens) == (
        1241, 800, 241, 50)


def test_a_prompt_count_left_out_is_what_the_total_says_beyond_the_rest() -> None:
    # recorded: a prompt that is a file URL reports no promptTokenCount
    u = usage_of({"candidatesTokenCount": 1, "thoughtsTokenCount": 116, "totalTokenCount": 692})
    assert (u.input_tokens, u.output_tokens) == (575, 117)
    u = usage_of({"thoughtsTokenCount": 94, "totalTokenCount": 390})
    assert (u.input_tokens, u.output_tokens) == (296, 94)
    # a total smaller than its parts is not a count
    assert usage_of({"candidatesTokenCount": 10, "totalTokenCount": 5}).input_tokens is None


def test_absent_is_not_zero() -> None:
    assert usage_of({}) == Usage()
    u = usage_of({"candidatesTokenCount": 3})
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.cache_read_tokens) == (
        None, 3, None, None)


def test_modalities_are_kept_per_part_from_the_fixed_set() -> None:
    u = usage_of({
        "promptTokenCount": 300,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 42},
                                {"modality": "IMAGE", "tokenCount": 258},
                                {"modality": "HOLOGRAM", "tokenCount": 5},
                                {"modality": "AUDIO", "tokenCount": "7"}, "junk"],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 40}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
        "toolUsePromptTokensDetails": {"modality": "TEXT"},
    })
    assert u.modality_tokens == (("input", "image", 258), ("input", "text", 42),
                                 ("cache_read", "text", 40), ("output", "text", 12))


def test_wrong_types_are_absent() -> None:
    u = usage_of({"promptTokenCount": "9", "candidatesTokenCount": True, "thoughtsTokenCount": -1,
                  "cachedContentTokenCount": 1.5})
    assert u == Usage()


# -- streams ---------------------------------------------------------------------------------

def test_the_last_chunk_wins_nothing_is_summed() -> None:
    body = sse(chunk({"promptTokenCount": 9, "thoughtsTokenCount": 100, "totalTokenCount": 109}),
               chunk({"promptTokenCount": 9, "candidatesTokenCount": 5, "thoughtsTokenCount": 114,
                      "totalTokenCount": 128}, responseId="r-last"),
               chunk(None, text="a chunk without usage"))
    for how, pieces in splits(body, seed=7):
        u = stream_usage(pieces)
        assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (9, 119, 114), how
        assert (u.model, u.response_id, u.source) == ("gemini-3.1-pro-preview", "r-last", "provider")


def test_a_stream_cut_mid_chunk_reports_the_last_whole_chunk() -> None:
    body = sse(chunk({"promptTokenCount": 9, "candidatesTokenCount": 1, "totalTokenCount": 10}),
               chunk({"promptTokenCount": 9, "candidatesTokenCount": 30, "totalTokenCount": 39}))
    cut = body[:len(body) - 40]
    assert stream_usage([cut]).output_tokens == 1
    assert stream_usage([]).source == "missing"


def test_usage_named_in_text_or_a_broken_last_chunk_does_not_lose_the_count() -> None:
    words = 'the field "usageMetadata": {"promptTokenCount": 99999} is what you asked about'
    body = sse(chunk({"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13}),
               chunk(None, text=words))
    assert stream_usage([body]).output_tokens == 4
    broken = body + b'data: {"usageMetadata": {"promptTokenCount": 1,\r\n\r\n'
    for how, pieces in splits(broken, seed=3):
        assert stream_usage(pieces).output_tokens == 4, how


def test_lf_delimited_streams_read_the_same() -> None:
    body = sse(chunk({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}))
    assert stream_usage([body.replace(b"\r\n", b"\n")]) == stream_usage([body])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["usageMetadata", "usage", "x"]),
                       st.none() | st.integers() | st.text(max_size=20)
                       | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), max_size=3),
       st.text(max_size=40))
def test_the_bytes_test_never_misses_a_usage_object(doc: dict[str, Any], text: str) -> None:
    data = json.dumps({"candidates": [{"content": {"parts": [{"text": text}]}}], **doc}).encode()
    if isinstance(doc.get("usageMetadata"), dict):
        assert carries_usage(data)
        assert read_event(data) is not None
    elif not carries_usage(data):
        assert read_event(data) is None


# -- JSON bodies ---------------------------------------------------------------------------------

def test_a_json_body() -> None:
    body = json.dumps(chunk({"promptTokenCount": 9, "candidatesTokenCount": 2,
                             "thoughtsTokenCount": 114, "totalTokenCount": 125}), indent=2).encode()
    for how, pieces in splits(body, seed=1):
        u = json_usage(pieces)
        assert (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.response_id) == (
            9, 116, 114, "r1"), how


def test_a_stream_without_alt_sse_is_one_json_array() -> None:
    body = ("[" + ",\r\n".join(json.dumps(chunk(m)) for m in (
        {"promptTokenCount": 9, "candidatesTokenCount": 1, "totalTokenCount": 10},
        {"promptTokenCount": 9, "candidatesTokenCount": 6, "thoughtsTokenCount": 20,
         "totalTokenCount": 35})) + "]").encode()
    for how, pieces in splits(body, seed=2):
        u = json_usage(pieces)
        assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (9, 26, 20), how
    # past the buffer bound only the tail is kept: the last chunk is still found
    big = chunk({"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
                text="x" * 600_000)
    body = ("  [" + json.dumps(big) + ",\n" + json.dumps(chunk({
        "promptTokenCount": 7, "candidatesTokenCount": 8, "totalTokenCount": 15})) + "]\n").encode()
    pieces = random_splits(body, random.Random(5), 65536)
    assert (json_usage(pieces, max_bytes=300_000).output_tokens, json_usage(pieces).output_tokens) \
        == (8, 8)


def test_a_large_image_answer_is_read_without_parsing_it_whole() -> None:
    doc = chunk({"promptTokenCount": 12, "candidatesTokenCount": 1290, "totalTokenCount": 1302,
                 "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": 1290}]})
    doc["candidates"][0]["content"]["parts"] = [{"inlineData": {"mimeType": "image/png",
                                                                "data": "iVBORw0KGgo" * 200_000}}]
    body = json.dumps(doc).encode()
    for max_bytes in (1 << 20, 8 << 20):  # truncated to head and tail, and whole
        u = json_usage(random_splits(body, random.Random(1), 100_000), max_bytes=max_bytes)
        assert (u.output_tokens, u.modality_tokens) == (1290, (("output", "image", 1290),))


def test_embeddings_read_usage_when_given_and_are_missing_when_not() -> None:
    plain = b'{"embeddings": [{"values": [0.1, 0.2]}]}'
    assert json_usage([plain]).source == "missing"
    counted = b'{"embedding": {"values": [0.1]}, "usageMetadata": {"promptTokenCount": 5, ' \
              b'"totalTokenCount": 5}}'
    assert json_usage([counted]).input_tokens == 5


# -- which extractor -----------------------------------------------------------------------------

@pytest.mark.parametrize(("api", "ctype", "kind"), [
    (Api.GENERATE_CONTENT, "text/event-stream", GeminiStreamExtractor),
    (Api.GENERATE_CONTENT, "application/json; charset=UTF-8", GeminiJsonExtractor),
    (Api.GENERATE_CONTENT, "text/plain", NullExtractor),
    (Api.EMBEDDINGS, "application/json", GeminiJsonExtractor),
    (Api.COUNT_TOKENS, "application/json", NoUsageExtractor),  # nothing to bill: source none
    (Api.MODELS, "application/json", NoUsageExtractor),
    (Api.OTHER, "application/json", NullExtractor),   # cachedContents, files, batches
])
def test_choice_of_extractor(api: Api, ctype: str, kind: type) -> None:
    ex = make_extractor(RequestFacts(api=api), "gemini", ctype, None, max_line_bytes=MAX_LINE)
    assert type(ex) is kind


def test_an_event_a_thousand_times_over_the_bound_is_dropped_and_counted_in_any_split() -> None:
    # One read holding one whole event is the reader's quick path; over max_line_bytes it must be
    # dropped and counted exactly as when it arrives in pieces (the splitter's bound), never kept.
    small = chunk({"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 13})
    huge = chunk({"promptTokenCount": 9, "candidatesTokenCount": 900, "totalTokenCount": 909},
                 text="x" * 256_000)
    body = sse(small, huge)
    events = [sse(small), sse(huge)]
    for how, pieces in [("whole", [body]), ("per-event", events),
                        *((f"random{n}", random_splits(body, random.Random(n), n))
                          for n in (7, 4096))]:
        ex = GeminiStreamExtractor(max_line_bytes=256)
        for piece in pieces:
            ex.feed(piece)
        usage = ex.finish()
        assert usage.output_tokens == 4, how
        assert ex.overflows == 1, how
