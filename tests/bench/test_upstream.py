"""The fake upstream speaks OpenAI's chat API exactly enough for the official SDK, and Lava's forward."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import aiohttp
from openai import AsyncOpenAI

from bench import payloads
from bench.streams import EXPECTED_TEXT
from bench.upstream import Fake

CHAT = "https://api.openai.com/v1/chat/completions"


def _token(**doc: str) -> str:
    return "Bearer " + base64.b64encode(json.dumps(doc).encode()).decode()


GOOD = _token(secret_key="aks_test_x", customer_id="cus_1", meter_slug="chat")


async def test_openai_sdk_reads_the_json_reply_and_its_usage(fake: tuple[Fake, int]) -> None:
    _, port = fake
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test") as client:
        reply = await client.chat.completions.create(
            model=payloads.MODEL, messages=[{"role": "user", "content": "hi"}])
    expected = json.loads(payloads.chat_json())
    assert reply.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert reply.usage is not None
    assert reply.usage.total_tokens == expected["usage"]["total_tokens"]
    assert 1000 <= len(payloads.chat_json()) <= 2048  # "realistic size" is part of the contract


async def test_openai_sdk_streams_every_chunk_and_usage_only_when_asked(fake: tuple[Fake, int]) -> None:
    state, port = fake
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test") as client:
        for include_usage in (False, True):
            stream = await client.chat.completions.create(
                model=payloads.MODEL, messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True} if include_usage else None)
            text, usage, chunks = "", None, 0
            async for chunk in stream:
                chunks += 1
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
                if chunk.usage is not None:
                    usage = chunk.usage
            assert text == EXPECTED_TEXT
            # 64 content chunks and the finish chunk, plus the usage-only chunk when asked for.
            assert chunks == len(payloads.STREAM_TOKENS) + 1 + include_usage
            assert (usage is not None) == include_usage
            if usage is not None:
                assert usage.completion_tokens == len(payloads.STREAM_TOKENS)
    assert state.counters.streams == 2
    assert state.counters.streams_open == 0


async def test_forward_requires_a_forward_token_and_a_provider_url(fake: tuple[Fake, int]) -> None:
    state, port = fake
    base = f"http://127.0.0.1:{port}/v1/forward?u="
    body = payloads.request_body(stream=False)
    cases = [
        (base + quote(CHAT, safe=""), {}, 401),
        (base + quote(CHAT, safe=""), {"Authorization": "Bearer not-base64!"}, 401),
        (base + quote(CHAT, safe=""), {"Authorization": _token(secret_key="aks_live_x")}, 401),
        (base + quote("https://api.openai.com/v1/embeddings", safe=""), {"Authorization": GOOD}, 400),
        (f"http://127.0.0.1:{port}/v1/forward", {"Authorization": GOOD}, 400),
        (base + quote(CHAT, safe=""), {"Authorization": GOOD}, 200),
        (f"http://127.0.0.1:{port}/v2/elsewhere", {}, 404),
    ]
    async with aiohttp.ClientSession() as session:
        for url, headers, status in cases:
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == status, url
                doc = await resp.json()
                if status == 200:
                    assert doc == json.loads(payloads.chat_json())
    assert state.counters.rejected == sum(1 for *_, s in cases if s != 200)
    assert set(state.counters.reasons) == {"token", "u", "path"}


async def test_openai_sdk_lists_the_models(fake: tuple[Fake, int]) -> None:
    state, port = fake
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test") as client:
        models = [m.id async for m in client.models.list()]
    assert set(models) == {payloads.MODEL, payloads.HOLD_MODEL, payloads.FAST_MODEL}
    assert state.counters.rejected == 0


async def test_stats_endpoint_reports_the_counters(fake: tuple[Fake, int]) -> None:
    state, port = fake
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                data=payloads.request_body(stream=False)) as resp:
            assert resp.status == 200
        async with session.get(f"http://127.0.0.1:{port}/__stats") as resp:
            doc = await resp.json()
    assert doc["requests"] == state.counters.requests == 2
    assert doc["rejected"] == 0
