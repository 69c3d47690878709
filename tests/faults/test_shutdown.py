"""SIGTERM with streams in flight, on a real ``lava-sidecar serve`` process: readiness goes false
first, then new connections are refused, in-flight streams finish, the usage log is flushed, exit 0.
Streams that outlast the grace period are cut at its end, and still recorded (partial)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from proxy.emulator.providers import Pacing
from proxy.emulator.server import running_gateway

from ..conftest import TEST_SECRET
from .harness import CHAT, MESSAGES, Reply, body_for, read_reply, who
from .process import SidecarProcess, eventually, refuses_connections, sidecar_process

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

STREAMS = 16


async def stream(sp: SidecarProcess, n: int, started: asyncio.Event, counter: list[int]) -> Reply:
    path = MESSAGES if n % 2 else CHAT
    async with aiohttp.ClientSession() as http, \
            http.post(sp.url + path, data=body_for(path, stream=True),
                      headers={**who(f"cus_{n % 5}"), "Content-Type": "application/json"}) as resp:
        chunks = [await resp.content.readany()]
        counter[0] += 1
        if counter[0] == STREAMS:
            started.set()
        return await read_reply(resp, chunks)


async def test_sigterm_drains_streams_in_flight(tmp_path: Path, client_kind: str) -> None:
    pacing = Pacing(chunks=30, delay=0.1, output_tokens=30)  # about 3 s a stream
    async with running_gateway(TEST_SECRET, pacing=pacing) as gw, \
            sidecar_process(tmp_path, gw.url, client=client_kind,
                            shutdown={"drain_delay_seconds": 0.5, "grace_seconds": 20}) as sp:
        started, counter = asyncio.Event(), [0]
        tasks = [asyncio.ensure_future(stream(sp, n, started, counter)) for n in range(STREAMS)]
        async with asyncio.timeout(10):
            await started.wait()
        sp.terminate()
        # Readiness goes false first, while every stream is still running ...
        await eventually(lambda: sp.readyz(503), within=5)
        assert not any(t.done() for t in tasks)
        # ... then the listener closes: new connections are refused ...
        await eventually(lambda: refuses_connections(sp.port), within=10)
        # ... and the streams in flight run to their end.
        replies = await asyncio.gather(*tasks)
        assert await sp.exit_code(within=30) == 0
        seen = {s.request_id: s for s in gw.seen}
        for s in seen.values():
            await s.finished()
    for reply in replies:
        assert reply.status == 200
        assert not reply.cut
        assert reply.body.rstrip().endswith((b"data: [DONE]", b'{"type":"message_stop"}'))
    records = sp.records()  # flushed before exit
    assert len(records) == STREAMS
    assert {r["lava_request_id"] for r in records} == set(seen)
    for rec in records:
        s = seen[rec["lava_request_id"]]
        assert s.token is not None
        assert rec["customer"] == s.token.customer_id
        assert (rec["outcome"], rec["partial"]) == ("ok", False)
        assert (rec["input_tokens"], rec["output_tokens"]) == \
            (s.reported.input_tokens, s.reported.output_tokens)
    messages = [d.get("msg") for d in sp.logs()]
    assert "draining: readiness is now false" in messages
    assert "stopped" in messages


async def waiting(sp: SidecarProcess, path: str) -> Reply:
    """A request still waiting for its first byte (the gateway stalls) when the grace ends."""
    async with aiohttp.ClientSession() as http, \
            http.post(sp.url + path, data=body_for(path, stream=True),
                      headers={**who("cus_wait"), "Content-Type": "application/json",
                               "x-emulator-fault": "stall-before-headers=60"}) as resp:
        return Reply(resp.status, dict(resp.headers), await resp.read(), False)


async def test_streams_longer_than_the_grace_are_cut_and_recorded(tmp_path: Path, client_kind: str) -> None:
    """The grace is a deadline the pod's terminationGracePeriodSeconds is sized on. When it ends,
    what is still streaming ends with an error event in the caller's shape (a clean end, not a
    broken connection), a request still waiting for Lava gets a 503 in its shape, each is recorded
    once as partial with outcome ``shutdown``, and the process exits 0 having flushed the log."""
    pacing = Pacing(chunks=300, delay=0.1, output_tokens=300)  # 30 s a stream
    drain, grace = 0.2, 2.0
    async with running_gateway(TEST_SECRET, pacing=pacing) as gw, \
            sidecar_process(tmp_path, gw.url, client=client_kind,
                            gateway={"first_byte_timeout_seconds": 60},
                            shutdown={"drain_delay_seconds": drain, "grace_seconds": grace}) as sp:
        started, counter = asyncio.Event(), [0]
        tasks = [asyncio.ensure_future(stream(sp, n, started, counter)) for n in range(STREAMS)]
        waiters = [asyncio.ensure_future(waiting(sp, path)) for path in (CHAT, MESSAGES)]
        async with asyncio.timeout(10):
            await started.wait()
        t0 = time.monotonic()
        sp.terminate()
        assert await sp.exit_code(within=30) == 0
        stopped_after = time.monotonic() - t0
        replies = await asyncio.gather(*tasks)
        waited = await asyncio.gather(*waiters)
    # A deadline, not a speed: a Kubernetes pod sized on it is SIGKILLed soon after.
    assert stopped_after < drain + grace + 2.0
    for n, reply in enumerate(replies):
        assert reply.status == 200
        assert not reply.cut
        name, data = reply.events()[-1]
        doc = json.loads(data)
        assert doc["error"]["code"] == "shutting_down"
        assert (name == "error") is bool(n % 2)  # Anthropic's event name on /anthropic only
    for path, reply in zip((CHAT, MESSAGES), waited, strict=True):
        assert reply.status == 503
        doc = json.loads(reply.body)
        assert doc["error"]["code"] == "shutting_down"
        assert (doc.get("type") == "error") is (path == MESSAGES)
    records = sp.records()
    assert len(records) == STREAMS + 2
    assert {r["lava_request_id"] for r in records} - {None} == {s.request_id for s in gw.seen if s.status}
    assert [r["outcome"] for r in records] == ["shutdown"] * (STREAMS + 2)
    assert all(r["partial"] is True for r in records)
    assert {r["customer"] for r in records if r["lava_request_id"] is None} == {"cus_wait"}
