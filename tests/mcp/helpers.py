"""Starting ``lava-sidecar mcp`` as a real process for the SDK's client (stdio) or over HTTP, with a
config file that keeps the usage log in the test's directory."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcp.client.stdio import StdioServerParameters

from proxy.billing import AsyncLavaClient

from ..conftest import TEST_SECRET

METER = "chat-tokens"


def write_config(tmp: Path, mcp: dict[str, Any] | None = None, **sections: Any) -> Path:
    """A config file: usage log in ``tmp``, the meter's price (for /usage charges), the ``mcp:``
    keys and any other sections given."""
    doc: dict[str, Any] = {
        "usage_log": {"path": str(tmp / "usage.jsonl"), "fsync_interval_seconds": 0.05},
        "meters": [{"slug": METER, "tier_type": "tokens_1m", "tiers": [{"start": 0, "rate": "3.00"}]}],
        "shutdown": {"grace_seconds": 2, "drain_delay_seconds": 0},
        "logging": {"level": "info"},
    }
    if mcp:
        doc["mcp"] = mcp
    doc.update(sections)
    path = tmp / "sidecar.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def server_env(gateway_url: str, config: Path) -> dict[str, str]:
    return {"LAVA_SECRET_KEY": TEST_SECRET, "LAVA_GATEWAY_URL": gateway_url,
            "LAVA_SIDECAR_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}


def stdio_params(gateway_url: str, config: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "proxy", "mcp", *args],
                                 env=server_env(gateway_url, config), cwd=str(Path(__file__).parents[2]))


def usage_lines(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "usage.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def wait_lines(tmp: Path, count: int) -> list[dict[str, Any]]:
    """The usage log once it holds ``count`` lines (the writer flushes every 50 ms; 10 s at most)."""
    deadline = time.monotonic() + 10.0
    while True:
        lines = usage_lines(tmp)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.02)


def start_http(gateway_url: str, config: Path, *args: str,
               stderr_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``lava-sidecar mcp --http 127.0.0.1:0 …`` and the URL it announces on stderr."""
    with stderr_path.open("wb") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxy", "mcp", "--http", "127.0.0.1:0", *args],
            env={**os.environ, **server_env(gateway_url, config)}, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in stderr_path.read_text(errors="replace").splitlines():
            if "streamable HTTP on " in line:
                return proc, line.split("streamable HTTP on ", 1)[1].strip()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the MCP server did not start: " + stderr_path.read_text(errors="replace")[-2000:])


async def subscribed_customer(gateway_url: str, phone: str, *, credit: str = "20") -> str:
    """A customer on a plan with ``credit`` on the chat meter, through Lava's own flow (meter, plan,
    checkout completed locally); the meter is made once per gateway."""
    async with AsyncLavaClient(base_url=gateway_url, secret_key=TEST_SECRET) as lava:
        meters = (await lava.meters.list()).data
        meter = meters[0] if meters else await lava.meters.create(name="Chat", meter_slug=METER,
                                                                  rate="3.00")
        plan = await lava.plans.create(name="Pro", period_amount=credit, included_credit=credit,
                                       meter_ids=[meter.meter_id])
        session = await lava.checkout_sessions.create(plan_id=plan.plan_id)
        done = await lava.checkout_sessions.complete_local(session.checkout_session_id, phone=phone)
    assert done.customer_id is not None
    return done.customer_id
