"""The fake upstream speaks OpenAI's chat API and Gemini's streamGenerateContent exactly enough for
the official SDKs, and Lava's forward."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import aiohttp
import pytest
from google import genai
from google.genai import types
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


# google-genai's async client subclasses aiohttp's ClientSession (aiohttp warns; not ours to fix).
@pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning")
async def test_google_genai_streams_the_gemini_answer(fake: tuple[Fake, int]) -> None:
    state, port = fake
    client = genai.Client(api_key="AIza-test", http_options=types.HttpOptions(
        base_url=f"http://127.0.0.1:{port}", retry_options=types.HttpRetryOptions(attempts=1)))
    text, last = "", None
    try:
        async for chunk in await client.aio.models.generate_content_stream(
                model=payloads.GEMINI_MODEL, contents="hi"):
            text += chunk.text or ""
            last = chunk
    finally:
        await client.aio.aclose()
    assert text == EXPECTED_TEXT
    assert last is not None
    assert last.usage_metadata is not None
    assert last.candidates
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.candidates_token_count == len(payloads.STREAM_TOKENS)
    assert last.usage_metadata.thoughts_token_count == payloads.GEMINI_THOUGHTS_TOKENS
    assert (state.counters.gemini_streams, state.counters.rejected) == (1, 0)


async def test_forward_takes_a_gemini_stream_only_without_the_apps_key(fake: tuple[Fake, int]) -> None:
    state, port = fake
    gemini = "https://generativelanguage.googleapis.com" + payloads.gemini_path()
    base = f"http://127.0.0.1:{port}/v1/forward?u="
    cases = [
        (base + quote(gemini, safe=""), {"Authorization": GOOD}, 200),
        (base + quote(gemini, safe=""), {"Authorization": GOOD, "x-goog-api-key": "AIza-x"}, 400),
        (base + quote(gemini + "&key=AIza-x", safe=""), {"Authorization": GOOD}, 400),
        (base + quote(gemini.replace("?alt=sse", ""), safe=""), {"Authorization": GOOD}, 400),
        (base + quote(gemini.replace("generativelanguage", "example"), safe=""),
         {"Authorization": GOOD}, 400),
        (f"http://127.0.0.1:{port}" + payloads.gemini_path(), {"x-goog-api-key": "AIza-x"}, 200),
        (f"http://127.0.0.1:{port}" + payloads.gemini_path() + "&key=AIza-x", {}, 400),
    ]
    async with aiohttp.ClientSession() as session:
        for url, headers, status in cases:
            async with session.post(url, data=payloads.gemini_request_body(), headers=headers) as resp:
                assert resp.status == status, url
                body = await resp.read()
                if status == 200:
                    assert resp.headers["Content-Type"] == "text/event-stream"
                    assert body == b"".join(payloads.gemini_stream_script(payloads.STREAM_TOKENS).writes)
    assert state.counters.gemini_streams == 2
    assert state.counters.reasons == {"credential": 1, "u": 3, "gemini": 1}
