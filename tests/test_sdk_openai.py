"""The official ``openai`` SDK, unchanged, through the sidecar to the local Lava gateway.

Assertions are on what the gateway actually received (token fields, ``u=``, body, headers) and on
what the client got back, not on the sidecar's own bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import pytest

from proxy.emulator.state import Seen

from .conftest import TEST_SECRET
from .stack import CUSTOMER_HEADERS, Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_stack(tmp_path) as s:
        yield s


def client(stack: Stack, **headers: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="sk-app-dummy-credential",
                              default_headers={**CUSTOMER_HEADERS, **headers}, max_retries=0)


def sync_client(stack: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key="sk-app-dummy-credential",
                         default_headers=CUSTOMER_HEADERS, max_retries=0)


def assert_forwarded(seen: Seen, url: str, *, customer: str = "cus_alpha",
                     meter: str = "chat-tokens") -> None:
    """What every metered request must look like at the gateway."""
    assert seen.url == url
    assert seen.token is not None
    assert seen.token.secret_key.reveal() == TEST_SECRET
    assert (seen.token.customer_id, seen.token.meter_slug, seen.token.format) == (customer, meter, "current")
    names = {n.lower() for n, _ in seen.headers}
    assert "x-api-key" not in names
    assert "x-lava-customer-id" not in names
    assert "x-lava-meter" not in names
    assert all("sk-app-dummy" not in v for _, v in seen.headers)


async def test_chat_sync_client(stack: Stack) -> None:
    def call() -> tuple[object, str | None]:
        with sync_client(stack) as c:
            raw = c.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}])
            return raw.parse(), raw.headers.get("x-lava-request-id")

    completion, lava_id = await asyncio.to_thread(call)
    seen = await stack.gateway.last.finished()
    assert_forwarded(seen, "https://api.openai.com/v1/chat/completions")
    assert json.loads(seen.body) == {"model": "gpt-4o-mini",
                                     "messages": [{"role": "user", "content": "Say hello"}]}
    assert lava_id == seen.request_id
    assert completion.usage is not None  # type: ignore[attr-defined]
    assert completion.usage.prompt_tokens == seen.usage.input_tokens  # type: ignore[attr-defined]


async def test_chat_stream_injects_and_strips_usage(stack: Stack) -> None:
    async with client(stack) as c:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to five"}], stream=True)
        chunks = [c async for c in stream]
    seen = await stack.gateway.last.finished()
    # Upstream was asked for usage ...
    assert json.loads(seen.body)["stream_options"] == {"include_usage": True}
    # ... but the client sees exactly the stream it asked for: no usage-only chunk, no usage field.
    assert chunks
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert seen.usage.output_tokens
    assert seen.usage.input_tokens


async def test_chat_stream_with_client_usage_passes_through(stack: Stack) -> None:
    async with client(stack) as c:
        stream = await c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True})
        chunks = [c async for c in stream]
    seen = await stack.gateway.last.finished()
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == seen.usage.output_tokens
    assert json.loads(seen.body)["stream_options"] == {"include_usage": True}


async def test_embeddings_completions_models(stack: Stack) -> None:
    c = client(stack)
    stack.closers.append(c.close)
    emb = await c.embeddings.create(model="text-embedding-3-small", input=["a", "bb"])
    assert len(emb.data) == 2
    assert emb.usage.prompt_tokens > 0
    assert_forwarded(await stack.gateway.last.finished(), "https://api.openai.com/v1/embeddings")
    comp = await c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once", max_tokens=5)
    assert comp.choices
    assert comp.usage is not None
    models = await c.models.list()
    assert any(m.id for m in models.data)
    assert (await stack.gateway.last.finished()).method == "GET"
    one = await c.models.retrieve("gpt-4o-mini")
    assert one.id == "gpt-4o-mini"
    assert stack.gateway.last.url == "https://api.openai.com/v1/models/gpt-4o-mini"


async def test_responses_json_and_stream(stack: Stack) -> None:
    c = client(stack)
    stack.closers.append(c.close)
    resp = await c.responses.create(model="gpt-5-nano", input="hello")
    seen = await stack.gateway.last.finished()
    assert_forwarded(seen, "https://api.openai.com/v1/responses")
    assert resp.usage is not None
    assert resp.usage.input_tokens == seen.usage.input_tokens
    events = [e.type async for e in await c.responses.create(model="gpt-5-nano", input="hi", stream=True)]
    seen = await stack.gateway.last.finished()
    assert events[-1] == "response.completed"
    assert "stream_options" not in json.loads(seen.body)  # never injected on the Responses API


async def test_query_string_and_provider_prefix_routes(stack: Stack) -> None:
    c = openai.AsyncOpenAI(base_url=stack.url + "/groq/v1", api_key="x", default_headers=CUSTOMER_HEADERS,
                           max_retries=0)
    stack.closers.append(c.close)
    out = await c.chat.completions.create(model="llama-3.3-70b-versatile",
                                          messages=[{"role": "user", "content": "hi"}])
    assert out.choices
    assert stack.gateway.last.url == "https://api.groq.com/openai/v1/chat/completions"
    async with client(stack) as default:
        # The mock has no files API: its OpenAI-shaped 404 comes back; what matters is the URL.
        with pytest.raises(openai.NotFoundError):
            await default.files.list(purpose="batch", extra_query={"limit": 2})
    assert stack.gateway.last.url == "https://api.openai.com/v1/files?purpose=batch&limit=2"


async def test_lava_errors_relayed_and_ours_in_openai_shape(stack: Stack) -> None:
    async with openai.AsyncOpenAI(base_url=stack.url + "/v1", api_key="x", max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as info:
            await c.chat.completions.create(model="m", messages=[])
    assert info.value.code == "customer_missing"
    assert "X-Lava-Customer-Id" in info.value.message
    async with openai.AsyncOpenAI(base_url=stack.url + "/nope/v1", api_key="x", max_retries=0,
                                  default_headers=CUSTOMER_HEADERS) as c:
        with pytest.raises(openai.NotFoundError) as nf:
            await c.models.list()
    assert nf.value.code == "route_not_found"
    async with client(stack, **{"x-emulator-fault": "status=429"}) as c:
        with pytest.raises(openai.RateLimitError):  # provider 429 relayed with its status and body
            await c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])


async def test_missing_usage_is_estimated_only_when_enabled(tmp_path: Path) -> None:
    """A provider that reports no usage: ``missing`` by default, a labelled guess when enabled."""
    body = {"model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "x" * 400}]}
    for enabled, source in ((False, "missing"), (True, "estimated")):
        (tmp_path / source).mkdir()
        async with running_stack(tmp_path / source, estimate_missing_usage=enabled) as stack, \
                openai.AsyncOpenAI(base_url=stack.url + "/mistral/v1", api_key="x", max_retries=0,
                                   default_headers=CUSTOMER_HEADERS) as c:
            # A cut stream: the gateway resets before any usage was reported.
            with pytest.raises(openai.APIError):
                async for _ in await c.chat.completions.create(
                        **body, extra_headers={"x-emulator-fault": "reset-mid-stream"}):
                    pass
            await stack.gateway.last.finished()
        (line,) = stack.log_lines()
        assert line["source"] == source
        assert line["partial"] is True
        if enabled:
            assert line["input_tokens"] == 100  # 400 characters / 4, and nothing guessed for output
            assert line["output_tokens"] is None
