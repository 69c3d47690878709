"""``lava-sidecar mcp --http`` beside a running sidecar (``--sidecar``): the SDK's client over
streamable HTTP, the customer from --customer or the request's headers (as for the proxy), the
DNS-rebinding protection (Host and Origin), and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from proxy.emulator.server import RunningGateway, running_local_gateway
from proxy.lifecycle import running_sidecar

from ..conftest import TEST_SECRET
from ..stack import stack_settings
from .helpers import METER, start_http, subscribed_customer, wait_lines, write_config

pytestmark = pytest.mark.slow
ASK = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello over HTTP"}]}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "raw", "version": "0"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _customer(gw: RunningGateway, phone: str) -> str:
    return await subscribed_customer(gw.url, phone)


def _stopped(proc: subprocess.Popen[bytes], stderr: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    text = stderr.read_text(errors="replace")
    assert "Traceback" not in text
    assert TEST_SECRET not in text
    return text


async def test_streamable_http_beside_a_running_sidecar(tmp_path: Path) -> None:
    async with running_local_gateway(TEST_SECRET) as gw:
        alice, bob = await _customer(gw, "+15550100011"), await _customer(gw, "+15550100012")
        async with running_sidecar(stack_settings(gw.url, tmp_path)) as sc:
            (tmp_path / "mcp").mkdir()
            proc, url = start_http(gw.url, write_config(tmp_path / "mcp"),
                                   "--sidecar", sc.url, "--sidecar-admin", sc.admin_url,
                                   "--customer", alice, "--meter", METER,
                                   "--allow-origin", "https://app.example.com",
                                   stderr_path=tmp_path / "mcp.err")
            try:
                await _drive(gw, url, tmp_path, sc.url, sc.admin_url, alice, bob)
                await _rebinding(url)
            finally:
                if proc.poll() is None:
                    text = _stopped(proc, tmp_path / "mcp.err")
                    assert "stop signal received" in text


async def _drive(gw: RunningGateway, url: str, tmp: Path, sidecar: str, admin: str, alice: str,
                 bob: str) -> None:
    async with Client(url, mode="legacy") as agent:
        assert {t.name for t in (await agent.list_tools()).tools} == {
            "login", "prompt", "call", "providers", "usage"}
        login: Any = (await agent.call_tool("login", {})).structured_content
        assert (login["customer"], login["sidecar"], login["key_type"]) == (alice, sidecar, "test")
        answer = await agent.call_tool("prompt", ASK)
        assert not answer.is_error, answer.content[0].text
        huge = {**ASK, "messages": [{"role": "user", "content": "x" * (10 * 1024 * 1024)}]}
        big = await agent.call_tool("prompt", huge)
        assert big.is_error
        assert "413 argument_too_large" in big.content[0].text
        leave = await agent.call_tool("call", {"provider": "openai", "path": "//evil.example/v1/x"})
        assert leave.is_error
        assert "400 path_invalid" in leave.content[0].text
    lines = await wait_lines(tmp, 1)
    assert [(x["customer"], x["identity"], x["status"]) for x in lines] == [(alice, "mcp", 200)]
    assert gw.last.token is not None
    assert gw.last.token.customer_id == alice
    # Over HTTP the request's headers name the customer, as they do for the proxy.
    async with httpx2.AsyncClient(headers={"X-Lava-Customer-Id": bob}) as http, \
            Client(streamable_http_client(url, http_client=http)) as agent:
        result = await agent.call_tool("prompt", ASK)
        assert not result.is_error, result.content[0].text
        assert result.structured_content["customer"] == bob
        usage: Any = (await agent.call_tool("usage", {})).structured_content
    lines = await wait_lines(tmp, 2)
    assert [(x["customer"], x["identity"]) for x in lines] == [(alice, "mcp"), (bob, "mcp")]
    assert gw.last.token is not None
    assert gw.last.token.customer_id == bob
    async with httpx.AsyncClient() as plain:
        direct = (await plain.get(admin + "/usage", params={"customer": bob})).json()
    assert direct["customers"][bob]["total"]["requests"] == 1
    assert usage["sidecar"]["customers"] == direct["customers"]
    assert int(usage["lava"]["totals"]["total_requests"]) == 1


async def _rebinding(url: str) -> None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    async with httpx.AsyncClient() as http:
        evil = await http.post(url, json=INIT, headers={**MCP_HEADERS, "Origin": "http://evil.example"})
        assert evil.status_code == 403
        rebound = await http.post(url, json=INIT, headers={**MCP_HEADERS, "Host": f"evil.example:{port}"})
        assert rebound.status_code == 421
        listed = await http.post(url, json=INIT, headers={**MCP_HEADERS, "Origin": "https://app.example.com"})
        assert listed.status_code == 200
        local = await http.post(url, json=INIT, headers={**MCP_HEADERS, "Origin": f"http://localhost:{port}"})
        assert local.status_code == 200
