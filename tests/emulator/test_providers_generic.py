"""Other OpenAI-compatible hosts (groq, mistral, …): usage on the finishing chunk unasked, as the
recordings in tests/data/recorded/genai show, and an open model catalogue."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import yaml

from proxy.emulator.server import running_gateway
from tests.emulator.gateway_helpers import (
    KEY,
    answer_words,
    openai_client,
    rule_tokens,
    sse_json,
    token,
    words,
)

GROQ = "https://api.groq.com/openai/v1"
MISTRAL = "https://api.mistral.ai/v1"
RECORDED = Path(__file__).parent.parent / "data" / "recorded" / "genai"


async def test_chat_through_the_sdk() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw, GROQ) as client:
        r = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=[{"role": "user", "content": "hey"}])
        assert r.usage is not None
        assert r.usage.prompt_tokens == rule_tokens("hey", messages=1)
        assert r.usage.prompt_tokens_details is None  # compatible APIs report plain counts
        stream = await client.chat.completions.create(
            model="llama-3.3-70b-versatile", messages=[{"role": "user", "content": "hey"}],
            stream=True)
        chunks = [c async for c in stream]
        assert chunks[-1].usage is not None
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert chunks[-1].usage.completion_tokens == 16
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert answer_words(text) == words(16)
        seen = await gw.last.finished()
        assert seen.url == GROQ + "/chat/completions"
        assert seen.served is not None
        assert seen.served.provider == "api.groq.com"
        assert seen.reported.output_tokens == 16


async def test_stream_shape_matches_mistral() -> None:
    doc = yaml.safe_load((RECORDED / "mistral" / "ministral-14b-2512" / "GenStream-Text.yaml")
                         .read_text())
    real = sse_json(str(doc["interactions"][0]["response"]["body"]).encode())
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s, s.post(
            gw.forward_url(MISTRAL + "/chat/completions"),
            json={"model": "ministral-14b-2512", "stream": True,
                  "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": "Bearer " + token()}) as r:
        mine = sse_json(await r.read())
    assert "usage" in mine[-1]
    assert "usage" in real[-1]
    assert set(mine[-1]["usage"]) == set(real[-1]["usage"])
    assert all("usage" not in c for c in mine[:-1])
    assert all("usage" not in c for c in real[:-1])


async def test_models_catalogue_is_open() -> None:
    async with running_gateway(KEY) as gw, openai_client(gw, GROQ) as client:
        assert [m.id async for m in client.models.list()]
        model = await client.models.retrieve("groq/compound-mini")
        assert model.id == "groq/compound-mini"
        assert model.owned_by == "api.groq.com"
