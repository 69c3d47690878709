"""The mock providers' pure core, over open-ended inputs: answers split into any number of chunks,
the usage rules, and each stream's parts adding up to the usage it claims."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
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
