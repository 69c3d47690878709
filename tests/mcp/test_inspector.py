"""Conformance with a client no one here wrote: the MCP Inspector's CLI (npm
``@modelcontextprotocol/inspector``, pinned in tests/mcp/inspector and installed there with ``npm ci``
by ``.ci/run``, or here when missing) launches ``lava-sidecar mcp`` over stdio, lists its tools and
calls them. Skipped only when node is absent."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.emulator.server import running_local_gateway

from ..conftest import TEST_SECRET
from .helpers import METER, server_env, subscribed_customer, wait_lines, write_config

pytestmark = [pytest.mark.external, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
PREFIX = Path(__file__).resolve().parent / "inspector"
BIN = PREFIX / "node_modules" / ".bin" / "mcp-inspector"


async def _inspector() -> Path:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the MCP Inspector is a Node program (.ci/run installs it)")
    if not BIN.exists():  # .ci/run installs it; a developer's first run does it here
        npm = shutil.which("npm") or str(Path(found).with_name("npm"))
        proc = await asyncio.create_subprocess_exec(
            npm, "ci", "--prefix", str(PREFIX), "--no-audit", "--no-fund", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
        if proc.returncode != 0 or not BIN.exists():
            pytest.fail("node is installed but the MCP Inspector is not, and `npm ci --prefix "
                        f"tests/mcp/inspector` failed:\n{out.decode(errors='replace')[-2000:]}")
    return BIN


async def _cli(gw_url: str, config: Path, *args: str) -> Any:
    env = server_env(gw_url, config)
    cmd = [str(await _inspector()), "--cli"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [sys.executable, "-m", "proxy", "mcp", *args]
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert TEST_SECRET not in out.decode()
    return json.loads(out)


async def test_the_inspector_lists_and_calls_the_tools_over_stdio(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    async with running_local_gateway(TEST_SECRET) as gw:
        customer = await subscribed_customer(gw.url, "+15550100021")
        bound = ("--customer", customer, "--meter", METER)

        listed = await _cli(gw.url, config, *bound, "--allow-billing-admin", "--method", "tools/list")
        tools = {t["name"]: t for t in listed["tools"]}
        assert set(tools) == {"login", "prompt", "call", "providers", "usage", "create_meter", "create_plan",
                              "create_checkout_session", "list_customers", "customer_subscription"}
        assert tools["prompt"]["inputSchema"]["required"] == ["model", "messages"]
        assert "\n" not in tools["prompt"]["description"]

        login = await _cli(gw.url, config, *bound, "--method", "tools/call", "--tool-name", "login")
        assert login["structuredContent"]["key_last4"] == TEST_SECRET[-4:]
        answer = await _cli(gw.url, config, *bound, "--method", "tools/call", "--tool-name", "prompt",
                            "--tool-arg", "model=gpt-4o-mini",
                            "--tool-arg", 'messages=[{"role":"user","content":"Hello from the Inspector"}]')
        assert not answer.get("isError")
        assert answer["structuredContent"]["customer"] == customer
        lines = await wait_lines(tmp_path, 1)
        assert [(x["customer"], x["identity"], x["status"]) for x in lines] == [(customer, "mcp", 200)]
        assert gw.last.token is not None
        assert gw.last.token.customer_id == customer

        bad = await _cli(gw.url, config, *bound, "--method", "tools/call", "--tool-name", "call",
                         "--tool-arg", "provider=openai", "--tool-arg", "path=/../../etc/passwd")
        assert bad["isError"] is True
        assert "400 path_invalid" in bad["content"][0]["text"]
