"""The official ``anthropic`` SDK, unchanged (ANTHROPIC_BASE_URL=http://sidecar/anthropic)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anthropic
import pytest

from .conftest import TEST_SECRET
from .stack import CUSTOMER_HEADERS, Stack, running_stack


@pytest.fixture
async def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with running_stack(tmp_path) as s:
        yield s


def aclient(stack: Stack, **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=stack.url + "/anthropic", api_key="sk-ant-app-dummy",
                                    default_headers={**CUSTOMER_HEADERS, **headers}, max_retries=0)


async def test_messages_sync_client(stack: Stack) -> None:
    def call() -> anthropic.types.Message:
        with anthropic.Anthropic(base_url=stack.url + "/anthropic", api_key="sk-ant-app-dummy",
                                 default_headers={**CUSTOMER_HEADERS, "anthropic-version": "2023-06-01"},
                                 max_retries=0) as c:
            return c.messages.create(model="claude-haiku-4-5", max_tokens=64,
                                     messages=[{"role": "user", "content": "Say hello"}])

    msg = await asyncio.to_thread(call)
    seen = await stack.gateway.last.finished()
    assert seen.url == "https://api.anthropic.com/v1/messages"
    assert seen.token is not None
    assert seen.token.secret_key.reveal() == TEST_SECRET
    assert (seen.token.customer_id, seen.token.meter_slug) == ("cus_alpha", "chat-tokens")
    headers = {n.lower(): v for n, v in seen.headers}
    assert headers["anthropic-version"] == "2023-06-01"  # feature headers byte for byte
    assert "x-api-key" not in headers
    assert all("sk-ant-app" not in v for v in headers.values())
    assert json.loads(seen.body)["max_tokens"] == 64
    assert msg.usage.input_tokens == seen.usage.input_tokens  # no cache tokens: normalised == raw
    assert msg.usage.output_tokens == seen.usage.output_tokens


async def test_messages_stream_helper(stack: Stack) -> None:
    async with aclient(stack, **{"anthropic-beta": "prompt-caching-2024-07-31"}) as c, \
            c.messages.stream(model="claude-haiku-4-5", max_tokens=32,
                              messages=[{"role": "user", "content": "Count"}]) as s:
        text = "".join([t async for t in s.text_stream])
        final = await s.get_final_message()
    seen = await stack.gateway.last.finished()
    assert text
    assert final.usage.output_tokens == seen.usage.output_tokens
    assert dict((n.lower(), v) for n, v in seen.headers)["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "stream_options" not in json.loads(seen.body)


async def test_count_tokens_and_errors_in_anthropic_shape(stack: Stack) -> None:
    async with aclient(stack) as c:
        counted = await c.messages.count_tokens(model="claude-haiku-4-5",
                                                messages=[{"role": "user", "content": "hi"}])
        assert counted.input_tokens > 0
    async with anthropic.AsyncAnthropic(base_url=stack.url + "/anthropic", api_key="k", max_retries=0,
                                        default_headers={"X-Lava-Customer-Id": "bad id!"}) as c:
        with pytest.raises(anthropic.BadRequestError) as info:
            await c.messages.create(model="m", max_tokens=1, messages=[{"role": "user", "content": "x"}])
    body = info.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["code"] == "customer_id_invalid"
    async with aclient(stack, **{"x-emulator-fault": "status=529"}) as c:
        with pytest.raises(anthropic.APIStatusError) as over:
            await c.messages.create(model="claude-haiku-4-5", max_tokens=1,
                                    messages=[{"role": "user", "content": "x"}])
    assert over.value.status_code == 529
