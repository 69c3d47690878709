"""The signals a supervisor may send, on a real ``lava-sidecar serve`` process: SIGINT and SIGQUIT
drain like SIGTERM (the stream in flight finishes and is recorded, exit 0)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest

from ..quotas.countinggateway import counting_gateway
from .process import eventually, sidecar_process

STREAM = json.dumps({"model": "gpt-4o-mini", "stream": True,
                     "messages": [{"role": "user", "content": "hi"}]})
WHO = {"X-Lava-Customer-Id": "cus_a", "X-Lava-Meter": "chat-tokens", "Content-Type": "application/json"}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT])
async def test_sigint_and_sigquit_drain_like_sigterm(tmp_path: Path, sig: signal.Signals) -> None:
    async with counting_gateway(delay=1.0) as gw, sidecar_process(tmp_path, gw.url) as sc:

        async def stream() -> int:
            async with aiohttp.ClientSession() as http, http.post(
                    sc.url + "/v1/chat/completions", data=STREAM, headers=WHO) as r:
                await r.read()
                return r.status

        running = asyncio.ensure_future(stream())

        async def reached() -> bool:
            return gw.inflight == 1

        await eventually(reached, within=10)
        sc.proc.send_signal(sig)
        assert await running == 200
        assert await sc.exit_code(within=20) == 0
        assert [r["outcome"] for r in sc.records()] == ["ok"]
