"""Bad input and failures are MCP tool errors (``isError: true``) with the proxy's status, stable
code and sentence; nothing leaves the provider, nothing oversized is sent on, no secret shows, and
the server keeps answering afterwards. Over stdio, with the SDK's client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from proxy.emulator.server import running_local_gateway

from ..conftest import TEST_SECRET
from .helpers import METER, stdio_params, subscribed_customer, usage_lines, wait_lines, write_config

pytestmark = pytest.mark.slow
TEN_MIB = 10 * 1024 * 1024


def refused(result: Any, status: int | None = None, code: str | None = None) -> str:
    assert result.is_error
    text = result.content[0].text
    assert TEST_SECRET not in text
    assert TEST_SECRET[-12:] not in text
    if status is not None:
        assert f"{status} {code or ''}" in text, text
    return str(text)


LEAVING = ["/../../etc/passwd", "/embeddings/../../x", "//evil.example/v1/x", "https://evil.example/v1/x",
           "http://127.0.0.1:1/x", "/embeddings/%2e%2e/x", "/a%2fb", "embeddings", "/a\\b", "/./models",
           "/ok\r\nHost: evil"]


async def test_bad_input_is_a_clean_tool_error_and_nothing_is_sent(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    async with running_local_gateway(TEST_SECRET) as gw, \
            Client(stdio_params(gw.url, config, "--customer", "cus_bad", "--meter", METER),
                   mode="legacy") as agent:
        names = {t.name for t in (await agent.list_tools()).tools}
        assert names == {"login", "prompt", "call", "providers", "usage"}  # no billing admin
        assert "Unknown tool" in refused(await agent.call_tool("create_meter", {"name": "x", "rate": "1"}))
        assert "Unknown tool" in refused(await agent.call_tool("no_such_tool", {}))

        text = refused(await agent.call_tool("prompt", {"model": 3, "messages": "hello"}))
        assert "model" in text
        assert "messages" in text
        refused(await agent.call_tool("prompt", {"model": "gpt-4o-mini", "messages": []}))
        refused(await agent.call_tool("prompt", {"messages": [{"role": "user", "content": "x"}]}))
        refused(await agent.call_tool("call", {"provider": "openai", "path": "/models", "method": "TRACE"}))
        refused(await agent.call_tool("prompt", {"model": "m", "provider": "nowhere",
                                                 "messages": [{"role": "user", "content": "x"}]}),
                400, "provider_unknown")
        refused(await agent.call_tool("call", {"provider": "nowhere", "path": "/models"}),
                400, "provider_unknown")
        for path in LEAVING:
            refused(await agent.call_tool("call", {"provider": "openai", "method": "GET", "path": path}),
                    400, "path_invalid")

        huge = "x" * TEN_MIB
        refused(await agent.call_tool("prompt", {"model": "gpt-4o-mini",
                                                 "messages": [{"role": "user", "content": huge}]}),
                413, "argument_too_large")
        refused(await agent.call_tool("call", {"provider": "openai", "path": "/embeddings",
                                               "body": {"input": huge}}), 413, "argument_too_large")
        refused(await agent.call_tool("prompt", {"model": "gpt-4o-mini", "customer": "cus_other",
                                                 "messages": [{"role": "user", "content": "x"}]}),
                403, "customer_argument_refused")
        refused(await agent.call_tool("usage", {"since": "yesterday-ish"}), 400, "since_invalid")

        assert gw.seen == []  # none of it reached the gateway
        assert usage_lines(tmp_path) == []
        login = await agent.call_tool("login", {})
        assert not login.is_error  # still answering
        assert login.structured_content["key_last4"] == TEST_SECRET[-4:]


async def test_gateway_refusals_keep_their_status_and_code(tmp_path: Path) -> None:
    """402 (credit used up, from Lava) and an unknown customer (401): the proxy's code and sentence."""
    config = write_config(tmp_path)
    async with running_local_gateway(TEST_SECRET) as gw:
        customer = await subscribed_customer(gw.url, "+15550100002", credit="0.00005")
        async with Client(stdio_params(gw.url, config, "--customer", customer, "--meter", METER),
                          mode="legacy") as agent:
            ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "One more, please."}]}
            sent = 0
            while sent < 30:
                sent += 1
                result = await agent.call_tool("prompt", ask)
                if result.is_error:
                    break
            text = refused(result, 402, "insufficient_balance")
            assert "credit" in text
            lines = await wait_lines(tmp_path, sent)
            assert len(lines) == sent  # the refused call is one record too
            assert (lines[-1]["status"], lines[-1]["identity"]) == (402, "mcp")
        async with Client(stdio_params(gw.url, config, "--customer", "cus_nobody", "--meter", METER),
                          mode="legacy") as agent:
            text = refused(await agent.call_tool("prompt", ask))
            assert text.split("Error executing tool prompt: ")[-1].startswith("401 ")


async def test_quota_and_unreachable_gateway(tmp_path: Path) -> None:
    config = write_config(tmp_path, quotas={"default": {"requests_per_minute": 1}})
    ask = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    async with running_local_gateway(TEST_SECRET) as gw:
        customer = await subscribed_customer(gw.url, "+15550100003")
        async with Client(stdio_params(gw.url, config, "--customer", customer, "--meter", METER),
                          mode="legacy") as agent:
            assert not (await agent.call_tool("prompt", ask)).is_error
            text = refused(await agent.call_tool("prompt", ask), 429, "customer_requests_exceeded")
            assert "Quota exceeded" in text
    # The gateway is gone now: the sidecar answers 502 and the tool says so.
    async with Client(stdio_params(gw.url, config, "--customer", "cus_x", "--meter", METER),
                      mode="legacy") as agent:
        text = refused(await agent.call_tool("prompt", ask), 502, "gateway_unreachable")
        assert "nothing was billed" in text
