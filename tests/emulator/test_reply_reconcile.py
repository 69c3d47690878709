"""The mock's own account of its usage (``Served.usage``, ``Seen.reported``) against what the
sidecar's usage extractor (``proxy.usage.make_extractor``) reads from the very bytes it sent:
they must agree, whole or cut, or reconciliation tests downstream would be meaningless."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from proxy.emulator.providers import api_of, shape_of
from proxy.emulator.server import running_gateway
from proxy.emulator.state import Seen
from proxy.usage import make_extractor
from proxy.usage.base import RequestFacts, Usage
from tests.emulator.gateway_helpers import ANTHROPIC, KEY, OPENAI, token

GROQ = "https://api.groq.com/openai/v1"
MSG = [{"role": "user", "content": "Tell me something."}]
CASES: list[tuple[str, dict[str, Any]]] = [
    (OPENAI + "/chat/completions", {"model": "gpt-5-nano", "messages": MSG}),
    (OPENAI + "/chat/completions", {"model": "gpt-5-nano", "messages": MSG, "stream": True,
                                    "stream_options": {"include_usage": True}}),
    (OPENAI + "/completions", {"model": "babbage-002", "prompt": "x", "max_tokens": 5}),
    (OPENAI + "/completions", {"model": "babbage-002", "prompt": "x", "stream": True,
                               "stream_options": {"include_usage": True}}),
    (OPENAI + "/embeddings", {"model": "text-embedding-3-small", "input": ["a", "bcde"]}),
    (OPENAI + "/responses", {"model": "gpt-5-nano", "input": "hi", "max_output_tokens": 3}),
    (OPENAI + "/responses", {"model": "gpt-5-nano", "input": MSG, "stream": True}),
    (ANTHROPIC + "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 50,
                                  "messages": MSG}),
    (ANTHROPIC + "/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 7,
                                  "messages": MSG, "stream": True}),
    (GROQ + "/chat/completions", {"model": "llama", "messages": MSG, "stream": True}),
    (GROQ + "/chat/completions", {"model": "llama", "messages": MSG}),
]


async def fetch(url: str, doc: dict[str, Any], fault: str | None = None
                ) -> tuple[bytes, dict[str, str], Seen]:
    headers = {"Authorization": "Bearer " + token()}
    if fault:
        headers["x-emulator-fault"] = fault
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s:
        got = bytearray()
        resp_headers: dict[str, str] = {}
        try:
            async with s.post(gw.forward_url(url), json=doc, headers=headers) as r:
                resp_headers = dict(r.headers)
                async for chunk in r.content.iter_any():
                    got += chunk
        except aiohttp.ClientPayloadError:
            pass
        return bytes(got), resp_headers, await gw.last.finished()


def extracted(url: str, doc: dict[str, Any], body: bytes, headers: dict[str, str]) -> Usage:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    facts = RequestFacts(api=api_of(host, parts.path), model=doc.get("model"),
                         stream=bool(doc.get("stream")),
                         client_wants_usage="stream_options" in doc)
    extractor = make_extractor(facts, shape_of(host), headers.get("Content-Type"), None,
                               max_line_bytes=1 << 20)
    for i in range(0, len(body), 13):  # odd splits, as a relay would see them
        extractor.feed(body[i:i + 13])
    return extractor.finish()


def counts(u: Usage) -> tuple[int | None, ...]:
    return (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens,
            u.reasoning_tokens)


@pytest.mark.parametrize(("url", "doc"), CASES)
async def test_whole_responses_agree(url: str, doc: dict[str, Any]) -> None:
    body, headers, seen = await fetch(url, doc)
    assert seen.served is not None
    assert seen.complete
    got = extracted(url, doc, body, headers)
    assert counts(got) == counts(seen.served.usage) == counts(seen.reported)
    assert got.input_tokens is not None


@pytest.mark.parametrize(("url", "doc"), [c for c in CASES if c[1].get("stream")])
@pytest.mark.parametrize("fault", ["reset-mid-stream", "truncated-json", "malformed-sse"])
async def test_cut_or_damaged_streams_agree_on_what_the_bytes_say(
        url: str, doc: dict[str, Any], fault: str) -> None:
    body, headers, seen = await fetch(url, doc, fault)
    got = extracted(url, doc, body, headers)
    assert counts(got) == counts(seen.reported)
