"""Each fault over a real connection: what the client experiences, and that the gateway still
settles exactly what it served."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from proxy.emulator.server import RunningGateway, running_gateway
from proxy.emulator.state import Seen
from proxy.emulator.writer import Limits
from tests.emulator.gateway_helpers import (
    ANTHROPIC,
    KEY,
    OPENAI,
    answer_words,
    anthropic_client,
    openai_client,
    sse_json,
    token,
)

CHAT = OPENAI + "/chat/completions"
STREAM = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}],
          "stream": True, "stream_options": {"include_usage": True}}
JSON = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]}


def headers(fault: str, **extra: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + token(), "x-emulator-fault": fault, **extra}


async def fetch(gw: RunningGateway, fault: str, body: dict[str, Any],
                **extra: str) -> tuple[int, bytes, Exception | None, Seen]:
    """Status, the bytes received before the end (or the break), and the break if any."""
    received = bytearray()
    status, error = 0, None
    async with aiohttp.ClientSession() as s:
        try:
            async with s.post(gw.forward_url(CHAT), json=body,
                              headers=headers(fault, **extra)) as r:
                status = r.status
                async for chunk in r.content.iter_any():
                    received += chunk
        except (aiohttp.ClientError, ConnectionError) as exc:
            error = exc
    return status, bytes(received), error, await gw.last.finished()


def delivered_tokens(body: bytes) -> int:
    """Answer tokens in the content deltas the client got (one word per token)."""
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in sse_json(body)
                   if c.get("choices"))
    return len(answer_words(text))


async def test_reset_before_headers() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "reset-before-headers", STREAM)
    assert isinstance(error, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError)
    assert (status, body, seen.status) == (0, b"", 0)
    assert seen.served is not None
    assert seen.served.status == "error"
    assert seen.served.usage.total_tokens is None


async def test_reset_mid_stream_settles_the_delivered_part() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "reset-mid-stream", STREAM)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)
    got = delivered_tokens(body)
    assert 0 < got < 16
    assert seen.served is not None
    assert seen.served.status == "error"
    assert seen.served.usage.output_tokens == got
    assert seen.reported.output_tokens is None  # the usage chunk never went out


async def test_reset_mid_json_body() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "reset-mid-stream", JSON)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert body
    assert seen.served is not None
    assert seen.served.usage.output_tokens == 0


async def test_stall_before_headers_then_serves() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "stall-before-headers=0.2", STREAM)
    assert (status, error) == (200, None)
    assert sse_json(body)[-1]["usage"]["completion_tokens"] == 16
    assert seen.served is not None
    assert seen.served.status == "completed"


async def test_stall_before_headers_and_the_client_gives_up() -> None:
    async with running_gateway(KEY) as gw, aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=0.2)) as s:
        with pytest.raises(asyncio.TimeoutError):
            async with s.post(gw.forward_url(CHAT), json=STREAM,
                              headers=headers("stall-before-headers=1")):
                pass
        seen = await gw.last.finished()
    assert seen.served is not None
    assert seen.served.status == "error"
    assert seen.served.usage.total_tokens is None


async def test_stall_mid_stream_completes() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "stall-mid-stream=0.2", STREAM)
    assert (status, error) == (200, None)
    assert delivered_tokens(body) == 16
    assert seen.complete
    assert seen.served is not None
    assert seen.served.usage.output_tokens == 16


async def test_status_faults_are_provider_shaped() -> None:
    async with running_gateway(KEY) as gw:
        async with openai_client(gw) as client:
            with pytest.raises(openai.RateLimitError) as info:
                await client.chat.completions.create(
                    model="gpt-5-nano", messages=[{"role": "user", "content": "hi"}],
                    extra_headers={"x-emulator-fault": "status=429"})
            assert "status=429" in info.value.message
        async with anthropic_client(gw) as ac:
            with pytest.raises(anthropic.APIStatusError) as ainfo:
                await ac.messages.create(model="claude-haiku-4-5", max_tokens=5,
                                         messages=[{"role": "user", "content": "hi"}],
                                         extra_headers={"x-emulator-fault": "status=529"})
            assert ainfo.value.status_code == 529
            body = ainfo.value.body
            assert isinstance(body, dict)
            assert body["error"]["type"] == "overloaded_error"
        seen = await gw.last.finished()
        assert seen.url == ANTHROPIC + "/v1/messages"
        assert seen.status == 529
        assert seen.served is not None
        assert seen.served.status == "error"
        status, raw, error, seen = await fetch(gw, "status=500,empty", JSON)
    assert (status, raw, error) == (500, b"", None)


async def test_truncated_json() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "truncated-json", JSON)
    assert (status, error) == (200, None)  # the HTTP exchange itself is well formed
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert seen.served is not None
    assert seen.served.status == "error"
    assert seen.served.usage.output_tokens == 0


async def test_malformed_sse_still_carries_the_usage() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "malformed-sse", STREAM)
    assert (status, error) == (200, None)
    assert b"\xc3\x28" in body
    assert b'"unterminated\n' in body
    assert b'"choices":[],"usage":{"prompt_tokens"' in body
    assert seen.complete
    assert seen.reported.output_tokens == 16


async def test_endless_line() -> None:
    async with running_gateway(KEY) as gw, aiohttp.ClientSession() as s:
        async with s.post(gw.forward_url(CHAT), json=STREAM,
                          headers=headers("endless-line")) as r:
            got = bytearray()
            async for chunk in r.content.iter_any():
                got += chunk
                if len(got) > 1 << 20:
                    break
        seen = await gw.last.finished()
    tail = bytes(got).rsplit(b"\n", 1)[1]
    assert tail.startswith(b"data: xxxx")
    assert len(tail) > 1 << 19
    assert seen.served is not None
    assert seen.served.status == "error"


async def test_huge_body() -> None:
    size = 5 * 1024 * 1024
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, f"huge={size}", JSON)
    assert (status, error, len(body)) == (200, None, size)
    assert json.loads(body)["usage"]["completion_tokens"] == 16
    assert seen.complete
    assert seen.served is not None
    assert seen.served.usage.output_tokens == 16


async def test_never_ends_until_the_client_leaves() -> None:
    async with running_gateway(KEY, keepalive_interval=0.01) as gw, \
            aiohttp.ClientSession() as s:
        async with s.post(gw.forward_url(CHAT), json=STREAM,
                          headers=headers("never-ends")) as r:
            got = bytearray()
            async for chunk in r.content.iter_any():
                got += chunk
                if got.count(b": keep-alive\n\n") >= 5:
                    break
        seen = await gw.last.finished()
    assert got.startswith(b"data: {")  # the stream's first event, then nothing but comments
    assert seen.served is not None
    assert seen.served.status == "error"
    assert seen.served.usage.output_tokens == 0


async def test_never_ends_is_bounded_by_the_gateway() -> None:
    async with running_gateway(KEY, keepalive_interval=0.01, limits=Limits(seconds=0.2)) as gw:
        status, body, error, seen = await fetch(gw, "never-ends", STREAM)
    assert status == 200
    assert isinstance(error, aiohttp.ClientPayloadError)
    assert body.count(b": keep-alive") >= 1
    assert seen.served is not None


async def test_slow_drip_delivers_everything() -> None:
    async with running_gateway(KEY) as gw:
        status, body, error, seen = await fetch(gw, "slow-drip=1,64", STREAM)
    assert (status, error) == (200, None)
    assert delivered_tokens(body) == 16
    assert sse_json(body)[-1]["usage"]["completion_tokens"] == 16
    assert seen.complete


async def test_unknown_fault_is_a_400() -> None:
    async with running_gateway(KEY) as gw:
        status, body, _, seen = await fetch(gw, "meltdown", JSON)
    assert status == 400
    assert json.loads(body)["error"]["code"] == "emulator_fault_invalid"
    assert seen.served is None
