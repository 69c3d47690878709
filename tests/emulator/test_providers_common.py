"""The mock providers' pure core, over open-ended inputs: answers split into any number of chunks,
the usage rules, and each stream's parts adding up to the usage it claims."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxy.emulator.providers import MockRequest, Pacing, mock_reply
from proxy.emulator.providers.common import answer_length, answer_pieces, answer_text, prompt_tokens
from proxy.emulator.reply import reported_usage
from proxy.emulator.target import parse_forward_query

pacings = st.builds(Pacing, chunks=st.none() | st.integers(1, 80), delay=st.just(0.0),
                    output_tokens=st.integers(1, 200))
texts = st.text(max_size=60)


@given(st.integers(0, 300), pacings)
def test_pieces_join_to_the_answer(tokens: int, pacing: Pacing) -> None:
    pieces = answer_pieces(tokens, pacing)
    assert "".join(text for text, _ in pieces) == answer_text(tokens)
    assert sum(n for _, n in pieces) == tokens
    assert len(pieces) == (min(pacing.chunks or tokens, tokens) if tokens else 0)
    assert all(n >= 1 for _, n in pieces)


@given(st.lists(texts, max_size=6), texts)
def test_prompt_rule(contents: list[str], system: str) -> None:
    doc = {"model": "m", "system": system, "tools": [{"description": "not counted"}],
           "messages": [{"role": "user", "content": [{"type": "text", "text": c}]}
                        for c in contents]}
    expected = max(1, math.ceil((len(system) + sum(map(len, contents))) / 4) + 3 * len(contents))
    assert prompt_tokens(doc) == expected


@given(st.none() | st.integers(1, 400), st.integers(1, 100))
def test_answer_length(limit: int | None, default: int) -> None:
    doc = {} if limit is None else {"max_tokens": limit}
    tokens, cut = answer_length(doc, Pacing(output_tokens=default))
    assert tokens == (default if limit is None else min(limit, default))
    assert cut == (limit is not None and limit <= default)


def request(url: str, doc: dict[str, Any], pacing: Pacing) -> MockRequest:
    return MockRequest("POST", parse_forward_query("u=" + url), {}, json.dumps(doc).encode(), doc,
                       "req_01ARZ3NDEKTSV4RRFFQ69G5FAV", pacing, 1_700_000_000)


ENDPOINTS = st.sampled_from([
    ("https://api.openai.com/v1/chat/completions", "messages"),
    ("https://api.mistral.ai/v1/chat/completions", "messages"),
    ("https://api.openai.com/v1/completions", "prompt"),
    ("https://api.openai.com/v1/responses", "input"),
    ("https://api.anthropic.com/v1/messages", "messages"),
])


@settings(max_examples=150)
@given(ENDPOINTS, pacings, st.booleans(), st.none() | st.integers(1, 300), texts)
def test_every_reply_adds_up(endpoint: tuple[str, str], pacing: Pacing, stream: bool,
                             limit: int | None, prompt: str) -> None:
    url, field = endpoint
    doc: dict[str, Any] = {"model": "m", "stream": stream, "max_tokens": limit or 4096,
                           "stream_options": {"include_usage": True}}
    doc[field] = prompt if field == "prompt" else [{"role": "user", "content": prompt}]
    reply = mock_reply(request(url, doc, pacing))
    assert reply.status == 200
    assert reply.usage.output_tokens is not None
    assert sum(p.output_tokens for p in reply.parts) == reply.usage.output_tokens
    assert reply.usage.output_tokens == min(limit or 4096, pacing.output_tokens)
    assert reported_usage(reply.parts) == reply.usage  # the bytes end up stating all of it
    assert reply.stream == stream


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5000) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20)
FIELDS = ("model", "messages", "prompt", "input", "max_tokens", "max_output_tokens", "stream",
          "stream_options", "system", "instructions", "dimensions", "encoding_format",
          "response_format")
PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses",
         "/v1/audio/speech", "/v1/audio/transcriptions", "/v1/messages",
         "/v1/messages/count_tokens")


@settings(max_examples=300)
@example("api.openai.com", "/v1/embeddings", {"input": "x", "dimensions": True}, True)
@example("api.openai.com", "/v1/embeddings", {"input": [True]}, True)
@example("api.openai.com", "/v1/embeddings", {"input": [[1, False]]}, True)
@given(st.sampled_from(["api.openai.com", "api.anthropic.com", "api.groq.com"]),
       st.sampled_from(PATHS), st.dictionaries(st.sampled_from(FIELDS), json_values),
       st.booleans())
def test_any_body_gets_an_answer_never_an_exception(host: str, path: str, doc: dict[str, Any],
                                                    with_model: bool) -> None:
    if with_model:
        doc["model"] = "m"
    reply = mock_reply(request(f"https://{host}{path}", doc, Pacing()))
    assert reply.status in (200, 400, 404)
    if reply.status == 200:
        # FIELDS includes "model": without with_model the random dict may still carry one.
        assert reply.model == doc["model"]
        assert sum(p.output_tokens for p in reply.parts) == (reply.usage.output_tokens or 0)
    else:
        assert json.loads(b"".join(p.data for p in reply.parts))
