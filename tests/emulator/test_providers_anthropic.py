"""The Anthropic mock through the official SDK (async, sync, the streaming helpers) and its raw
event sequence against the recorded real stream."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
import yaml
from anthropic import Anthropic

from proxy.emulator.server import running_gateway
from tests.emulator.gateway_helpers import (
    ANTHROPIC,
    KEY,
    answer_words,
    anthropic_client,
    rule_tokens,
    sse_events,
    token,
    words,
)

RECORDED = Path(__file__).parent.parent / "data" / "recorded" / "genai" / "anthropic"
PROMPT = "Say hello. Use only one word."
MESSAGES: list[Any] = [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}]


async def test_messages_json() -> None:
    async with running_gateway(KEY) as gw, anthropic_client(gw) as client:
        m = await client.messages.create(model="claude-haiku-4-5", max_tokens=1024,
                                         system="Be brief.", messages=MESSAGES)
        assert answer_words(m.content[0].text) == words(16)  # type: ignore[union-attr]
        assert m.stop_reason == "end_turn"
        assert (m.usage.input_tokens, m.usage.output_tokens) == (
            rule_tokens("Be brief.", PROMPT, messages=1), 16)
        assert m.usage.cache_read_input_tokens == 0
        seen = await gw.last.finished()
        assert seen.usage.input_tokens == m.usage.input_tokens
        assert seen.usage.output_tokens == 16
        assert seen.usage.cache_read_tokens == 0
        assert seen.served is not None
        assert seen.served.provider == "anthropic"
        # provider feature headers reach the gateway as the SDK sent them
        assert seen.header("anthropic-version") == client.default_headers["anthropic-version"]


async def test_stream_helper_and_final_message() -> None:
    async with running_gateway(KEY) as gw, anthropic_client(gw) as client:
        async with client.messages.stream(model="claude-sonnet-5", max_tokens=6,
                                          messages=MESSAGES) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert answer_words(text) == words(6)
        assert final.stop_reason == "max_tokens"
        assert (final.usage.input_tokens, final.usage.output_tokens) == (
            rule_tokens(PROMPT, messages=1), 6)
        seen = await gw.last.finished()
        assert seen.usage.output_tokens == 6
        assert seen.complete


async def test_sync_client() -> None:
    async with running_gateway(KEY) as gw:
        def call() -> Any:
            with Anthropic(base_url=gw.sdk_base_url(ANTHROPIC), api_key=token(),
                           max_retries=0) as client, client.messages.stream(
                    model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES) as stream:
                return stream.get_final_message()
        final = await asyncio.to_thread(call)
        assert final.usage.output_tokens == 16


async def test_event_sequence_matches_the_real_stream() -> None:
    doc = yaml.safe_load((RECORDED / "claude-haiku-4-5-20251001" / "GenStream-Text.yaml")
                         .read_text())
    real = sse_events(str(doc["interactions"][0]["response"]["body"]).encode())
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s, s.post(
            gw.forward_url(ANTHROPIC + "/v1/messages"),
            json={"model": "claude-haiku-4-5", "max_tokens": 3, "messages": MESSAGES,
                  "stream": True},
            headers={"x-api-key": token(), "anthropic-version": "2023-06-01"}) as r:
        ours = sse_events(await r.read())
    names = [e for e, _ in ours]
    assert names == ["message_start", "content_block_start", "ping"] + \
        ["content_block_delta"] * 3 + ["content_block_stop", "message_delta", "message_stop"]
    assert [e for e, _ in real] == [n for i, n in enumerate(names)
                                    if n != "content_block_delta" or i == 3]
    mine = {e: json.loads(d) for e, d in ours}
    theirs = {e: json.loads(d) for e, d in real}
    for name in theirs:
        assert set(mine[name]) == set(theirs[name]), name
    assert set(mine["message_start"]["message"]["usage"]) <= \
        set(theirs["message_start"]["message"]["usage"])
    assert set(mine["message_delta"]["usage"]) == set(theirs["message_delta"]["usage"])
    # cumulative: message_delta carries the totals, input included
    assert mine["message_delta"]["usage"]["output_tokens"] == 3
    assert mine["message_delta"]["usage"]["input_tokens"] == \
        mine["message_start"]["message"]["usage"]["input_tokens"]


async def test_count_tokens_matches_messages() -> None:
    async with running_gateway(KEY) as gw, anthropic_client(gw) as client:
        counted = await client.messages.count_tokens(model="claude-haiku-4-5",
                                                     system="Be brief.", messages=MESSAGES)
        m = await client.messages.create(model="claude-haiku-4-5", max_tokens=2,
                                         system="Be brief.", messages=MESSAGES)
        assert counted.input_tokens == m.usage.input_tokens
        assert gw.seen[0].usage.total_tokens is None  # counting consumes nothing


async def test_models() -> None:
    async with running_gateway(KEY) as gw, anthropic_client(gw) as client:
        ids = [m.id async for m in client.models.list()]
        assert "claude-haiku-4-5" in ids
        assert (await client.models.retrieve("claude-haiku-4-5")).display_name
        with pytest.raises(anthropic.NotFoundError):
            await client.models.retrieve("claude-none")


async def test_missing_max_tokens_is_an_anthropic_400() -> None:
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s, s.post(
            gw.forward_url(ANTHROPIC + "/v1/messages"),
            json={"model": "claude-haiku-4-5", "messages": MESSAGES},
            headers={"x-api-key": token()}) as r:
        body = await r.json()
    assert r.status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
