"""The official ``google-genai`` SDK, unchanged: ``HttpOptions(base_url="http://sidecar/gemini")``
with the customer as a header, plain, streamed and async, against the local Lava's mock Gemini.

google-genai 3.x with a base URL set calls ``/v1/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` and sends its API key as ``x-goog-api-key``: the sidecar must
route both, bill thinking as output, and never let the app's Google key reach Lava.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from proxy.emulator.providers import gemini as mock

from .stack import CUSTOMER_HEADERS, Stack, running_stack

# google-genai's async client subclasses aiohttp's ClientSession (aiohttp warns; not ours to fix).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning")

APP_KEY = "AIzaSyA-the-apps-own-google-key-0123456789"
GEMINI = "https://generativelanguage.googleapis.com"


def client(stack: Stack, **headers: str) -> genai.Client:
    c = genai.Client(api_key=APP_KEY, http_options=types.HttpOptions(
        base_url=stack.url + "/gemini", headers={**CUSTOMER_HEADERS, **headers},
        retry_options=types.HttpRetryOptions(attempts=1)))
    stack.closers.append(c.aio.aclose)
    return c


def assert_no_google_key(stack: Stack) -> None:
    for seen in stack.gateway.state.seen:
        assert seen.url is None or "key=" not in seen.url
        assert all(APP_KEY not in v and n.lower() != "x-goog-api-key" for n, v in seen.headers)


async def test_generate_content_plain_sync_client(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        c = client(stack)
        resp = await asyncio.to_thread(
            c.models.generate_content, model="gemini-2.5-flash", contents="Say hello",
            config=types.GenerateContentConfig(max_output_tokens=8))
        seen = await stack.gateway.last.finished()
        assert seen.url == GEMINI + "/v1/models/gemini-2.5-flash:generateContent"
        assert seen.token is not None
        assert (seen.token.customer_id, seen.token.meter_slug) == ("cus_alpha", "chat-tokens")
        assert_no_google_key(stack)
        assert resp.text
        meta = resp.usage_metadata
        assert meta is not None
        assert meta.thoughts_token_count == mock.THOUGHTS
        assert meta.candidates_token_count == 8
    (line,) = stack.log_lines()
    assert (line["provider"], line["api"], line["model"], line["stream"]) == (
        "gemini", "generate_content", "gemini-2.5-flash", False)
    assert line["input_tokens"] == meta.prompt_token_count
    # thinking is billed as output: candidates + thoughts, the reasoning part kept apart
    assert line["output_tokens"] == 8 + mock.THOUGHTS == seen.usage.output_tokens
    assert line["reasoning_tokens"] == mock.THOUGHTS
    assert line["modality_tokens"] == {"input": {"text": meta.prompt_token_count}}
    assert line["source"] == "provider"


async def test_stream_async_client(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        c = client(stack)
        chunks = [ch async for ch in await c.aio.models.generate_content_stream(
            model="gemini-2.5-pro", contents="Count to five",
            config=types.GenerateContentConfig(
                thinking_config=types.ThinkingConfig(thinking_budget=10)))]
        seen = await stack.gateway.last.finished()
        assert seen.url == GEMINI + "/v1/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        assert len(chunks) > 3
        text = "".join(ch.text or "" for ch in chunks)
        last = chunks[-1].usage_metadata
        assert last is not None
        assert_no_google_key(stack)
    assert text
    (line,) = stack.log_lines()
    assert (line["api"], line["stream"], line["partial"]) == ("generate_content", True, False)
    assert line["output_tokens"] == last.candidates_token_count + 10 == seen.usage.output_tokens
    assert (line["input_tokens"], line["reasoning_tokens"]) == (last.prompt_token_count, 10)
    assert stack.sample("lava_sidecar_tokens_total", provider="gemini", api="generate_content",
                        model="gemini-2.5-pro", customer="cus_alpha", meter="chat-tokens",
                        type="reasoning") == 10


async def test_count_tokens_embeddings_and_models_are_forwarded_and_recorded(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        c = client(stack)
        counted = await c.aio.models.count_tokens(model="gemini-2.5-flash", contents="hello there")
        embedded = await c.aio.models.embed_content(model="gemini-embedding-001",
                                                    contents=["a", "b"])
        listed = [m.name async for m in await c.aio.models.list()]
        assert_no_google_key(stack)
    assert (counted.total_tokens or 0) > 0
    assert embedded.embeddings is not None
    assert len(embedded.embeddings) == 2
    assert "models/gemini-2.5-flash" in listed
    lines = stack.log_lines()
    assert [(ln["api"], ln["model"], ln["source"], ln["status"]) for ln in lines] == [
        ("count_tokens", "gemini-2.5-flash", "none", 200),  # nothing to bill by nature
        ("embeddings", "gemini-embedding-001", "missing", 200),  # billable; Google says nothing
        ("models", None, "none", 200)]


async def test_errors_come_back_in_googles_shape(tmp_path: Path) -> None:
    async with running_stack(tmp_path) as stack:
        bad = client(stack, **{"X-Lava-Customer-Id": "bad id!"})
        with pytest.raises(genai_errors.ClientError) as ours:
            await bad.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
        limited = client(stack, **{"x-emulator-fault": "status=429"})
        with pytest.raises(genai_errors.ClientError) as theirs:
            await limited.aio.models.generate_content(model="gemini-2.5-flash", contents="x")
        unknown = client(stack)
        with pytest.raises(genai_errors.ClientError) as missing_model:
            await unknown.aio.models.generate_content(model="palm-2", contents="x")
    assert (ours.value.code, ours.value.status) == (400, "INVALID_ARGUMENT")
    assert ours.value.details["error"]["details"][0]["reason"] == "customer_id_invalid"
    assert (theirs.value.code, theirs.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert (missing_model.value.code, missing_model.value.status) == (404, "NOT_FOUND")


async def test_a_raw_rest_client_with_key_in_the_query_and_a_json_array_stream(tmp_path: Path) -> None:
    """curl-style: ``?key=`` in the URL and ``streamGenerateContent`` without ``alt=sse``."""
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}
    async with running_stack(tmp_path) as stack, httpx.AsyncClient(base_url=stack.url) as http:
        resp = await http.post(f"/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?key={APP_KEY}",
                               json=body, headers=CUSTOMER_HEADERS)
        seen = await stack.gateway.last.finished()
        assert_no_google_key(stack)
    assert resp.status_code == 200
    chunks = json.loads(resp.content)
    assert isinstance(chunks, list)
    assert seen.url == GEMINI + "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    (line,) = stack.log_lines()
    final = chunks[-1]["usageMetadata"]
    assert line["output_tokens"] == final["candidatesTokenCount"] + final["thoughtsTokenCount"]
    assert line["stream"] is True
