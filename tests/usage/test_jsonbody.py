"""The JSON body extractor: fast and full reads agree; oversized bodies keep their tail."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.usage.base import Usage
from proxy.usage.jsonbody import JsonExtractor
from proxy.usage.jsonscan import parse_object
from proxy.usage.openai import OPENAI_KEYS, read_openai

USAGE = {"prompt_tokens": 7, "total_tokens": 7}


def extract(body: bytes, max_bytes: int = 8 << 20, piece: int = 65536) -> Usage:
    ex = JsonExtractor(read_openai, OPENAI_KEYS, max_bytes=max_bytes)
    for i in range(0, len(body), piece):
        ex.feed(body[i:i + piece])
    return ex.finish()


_usage = st.fixed_dictionaries({}, optional={
    "prompt_tokens": st.integers(-5, 10**6) | st.none(), "completion_tokens": st.integers(0, 9),
    "prompt_tokens_details": st.fixed_dictionaries({"cached_tokens": st.integers(0, 9)})})


@settings(max_examples=150, deadline=None)
@given(st.permutations(["id", "model", "data", "usage", "object"]), _usage,
       st.integers(0, 3000), st.sampled_from([None, 1]))
def test_fast_read_equals_full_read(order: list[str], usage: dict[str, object], n: int,
                                    indent: int | None) -> None:
    values = {"id": "e-1", "model": "text-embedding-x", "object": "list", "usage": usage,
              "data": [{"embedding": [0.5] * n, "index": 0, "usage": {"prompt_tokens": 99}}]}
    body = json.dumps({k: values[k] for k in order}, indent=indent).encode()
    full = read_openai(parse_object(body) or {})
    assert extract(body) == full


def test_oversized_body_keeps_head_and_tail() -> None:
    body = json.dumps({"id": "e-1", "object": "list", "data": [[0.25] * 300_000],
                       "model": "m", "usage": USAGE}).encode()
    assert len(body) > 1 << 20
    got = extract(body, max_bytes=1 << 20, piece=1000)
    assert got == Usage(input_tokens=7, model="m", response_id="e-1", source="provider")


def test_finish_is_idempotent_and_late_bytes_are_ignored() -> None:
    ex = JsonExtractor(read_openai, OPENAI_KEYS)
    ex.feed(json.dumps({"usage": USAGE}).encode())
    first = ex.finish()
    ex.feed(b"garbage")
    assert ex.finish() == first == Usage(input_tokens=7, source="provider")
