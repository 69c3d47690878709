"""Readiness waits for the quota backend's first answer, and says so; the wait is bounded. And the
deadline on a Redis exchange measures Redis, not this event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.link import Deadline
from proxy.quotas.redisstore import READY_SECONDS
from proxy.secret import Secret

from ..faults.harness import running_sidecar
from .countinggateway import counting_gateway
from .redisserver import RedisServer, free_port


async def readyz(admin_url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(admin_url + "/readyz") as r:
        return r.status, await r.text()


def settings(port: int) -> QuotaSettings:
    return QuotaSettings(backend="redis", default=QuotaLimits(requests_per_minute=10),
                         redis=RedisQuota(url=Secret(f"redis://127.0.0.1:{port}/0"), timeout_ms=100))


async def test_readyz_waits_for_redis_and_says_so(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, free_port())  # not started yet: connections are refused
    async with counting_gateway() as gw, running_sidecar(tmp_path, gw.url,
                                                         quotas=settings(server.port)) as side:
        status, body = await readyz(side.admin_url)
        assert status == 503
        assert body.startswith("not ready: waiting for the quota backend (redis) to answer")
        assert f"at most {READY_SECONDS:.0f} s" in body
        server.start()
        try:
            for _ in range(100):
                status, body = await readyz(side.admin_url)
                if status == 200:
                    break
                await asyncio.sleep(0.05)
            assert (status, body) == (200, "ready\n")
            assert side.sample("lava_sidecar_quota_backend_up") == 1
        finally:
            server.stop()


async def test_readiness_gives_up_waiting_after_the_bound(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing will ever listen here
    async with counting_gateway() as gw, running_sidecar(tmp_path, gw.url,
                                                         quotas=settings(port)) as side:
        started = time.monotonic()
        while (await readyz(side.admin_url))[0] != 200:
            assert time.monotonic() - started < READY_SECONDS + 5
            await asyncio.sleep(0.1)
        assert time.monotonic() - started >= READY_SECONDS - 1
        assert side.sample("lava_sidecar_quota_backend_up") == 0
    assert any("did not answer within" in r.getMessage() for r in caplog.records)


async def test_the_deadline_forgives_our_own_stalls() -> None:
    """The reply arrives while this loop is blocked past the deadline: not a Redis failure."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    async with Deadline(0.05):
        loop.call_soon(time.sleep, 0.2)  # the loop stalls (a busy iteration, a descheduled process)
        loop.call_later(0.06, time.sleep, 0.1)  # and again, past the deadline started over
        loop.call_later(0.07, fut.set_result, 1)  # Redis answered during the stalls
        assert await fut == 1


async def test_the_deadline_fires_when_redis_is_late() -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        async with Deadline(0.05):
            await asyncio.sleep(1)
    assert time.monotonic() - start < 0.5
