"""Quotas across replicas: three real ``lava-sidecar serve`` processes sharing one real Redis, in
front of one counting gateway. The number that matters is what reached the gateway (what Lava
would bill): exactly the limit, however the requests spread over the replicas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import redis

from ..faults.process import SidecarProcess, eventually, sidecar_process
from .countinggateway import COMPLETION_TOKENS, PROMPT_TOKENS, counting_gateway
from .redisserver import RedisServer

CHAT = "/v1/chat/completions"
HEADERS = {"X-Lava-Customer-Id": "cus_a", "X-Lava-Meter": "chat-tokens",
           "Content-Type": "application/json"}


def redis_quotas(default: dict[str, Any]) -> dict[str, Any]:
    return {"backend": "redis", "redis": {"url": {"env": "REDIS_URL"}, "timeout_ms": 500},
            "default": default}


@asynccontextmanager
async def replicas(tmp: Path, gateway_url: str, redis: RedisServer, default: dict[str, Any],
                   n: int = 3) -> AsyncIterator[list[SidecarProcess]]:
    async with contextlib.AsyncExitStack() as stack:
        procs = []
        for i in range(n):
            d = tmp / f"replica{i}"
            d.mkdir()
            procs.append(await stack.enter_async_context(sidecar_process(
                d, gateway_url, env={"REDIS_URL": redis.url}, quotas=redis_quotas(default))))
        yield procs


async def well_inside_a_minute(needed: float) -> None:
    """Windows are aligned minutes on Redis' clock: keep a run of ``needed`` seconds inside one, so
    the expectation is exactly the limit (the sliding window lets a share back in after the turn)."""
    into = time.time() % 60
    if into > 60 - needed:
        await asyncio.sleep(60.5 - into)


async def chat(http: aiohttp.ClientSession, sc: SidecarProcess, *, stream: bool = False
               ) -> tuple[int, dict[str, Any] | None]:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    async with http.post(sc.url + CHAT, data=json.dumps(body), headers=HEADERS) as r:
        raw = await r.read()
        doc = json.loads(raw) if r.content_type == "application/json" else None
        return r.status, doc


def records(procs: list[SidecarProcess]) -> list[dict[str, Any]]:
    return [rec for p in procs for rec in p.records()]


async def settled(procs: list[SidecarProcess], count: int) -> list[dict[str, Any]]:
    """The replicas' usage lines, once ``count`` of them are written (bounded wait)."""

    async def written() -> bool:
        return len(records(procs)) >= count

    await eventually(written, within=10)
    return records(procs)


async def test_requests_per_minute_is_exact_across_three_replicas(tmp_path: Path,
                                                                 redis_server: RedisServer) -> None:
    async with counting_gateway() as gw, replicas(tmp_path, gw.url, redis_server,
                                                  {"requests_per_minute": 100}) as procs:
        await well_inside_a_minute(20)
        jobs = list(range(300))
        statuses: Counter[int] = Counter()
        bodies: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as http:

            async def client() -> None:
                while jobs:
                    i = jobs.pop()
                    status, doc = await chat(http, procs[i % 3])
                    statuses[status] += 1
                    if status == 429 and doc is not None:
                        bodies.append(doc)

            await asyncio.gather(*(client() for _ in range(60)))
        assert statuses == {200: 100, 429: 200}
        assert gw.served == 100
        assert gw.by_customer == {"cus_a": 100}
        assert len(bodies) == 200
        assert {b["error"]["code"] for b in bodies} == {"customer_requests_exceeded"}
        assert {b["error"]["type"] for b in bodies} == {"rate_limit_exceeded"}
        # Every request is one usage record on the replica that took it; the refusals never billed.
        recs = await settled(procs, 300)
        assert Counter(r["outcome"] for r in recs) == {"ok": 100, "rate_limited": 200}
        assert all(p.records() for p in procs)  # the load really was spread


async def test_concurrency_is_exact_across_replicas(tmp_path: Path, redis_server: RedisServer) -> None:
    async with counting_gateway(delay=1.5) as gw, replicas(tmp_path, gw.url, redis_server,
                                                           {"concurrent_requests": 5}) as procs:
        async with aiohttp.ClientSession() as http:
            results = await asyncio.gather(*(chat(http, procs[i % 3], stream=True)
                                             for i in range(30)))
        statuses = Counter(s for s, _ in results)
        assert gw.max_inflight == 5
        assert statuses[200] >= 5
        assert statuses[200] + statuses[429] == 30
        assert gw.served == statuses[200]
        # Every slot came back (each replica releases its leases one Redis call after its
        # answers): five more streams at once are all admitted.
        leases = redis.Redis.from_url(redis_server.url)
        try:
            async def released() -> bool:
                return int(leases.zcard("lava-sidecar:{cus_a}:c")) == 0

            await eventually(released, within=10)
        finally:
            leases.close()
        gw.max_inflight = 0
        async with aiohttp.ClientSession() as http:
            again = await asyncio.gather(*(chat(http, procs[i % 3], stream=True) for i in range(5)))
        assert [s for s, _ in again] == [200] * 5


async def test_tokens_per_minute_across_replicas(tmp_path: Path, redis_server: RedisServer) -> None:
    per_request = PROMPT_TOKENS + COMPLETION_TOKENS  # 15
    async with counting_gateway() as gw, replicas(tmp_path, gw.url, redis_server,
                                                  {"tokens_per_minute": 100}) as procs:
        await well_inside_a_minute(20)
        statuses = []
        counters = redis.Redis.from_url(redis_server.url)
        try:
            async with aiohttp.ClientSession() as http:
                for i in range(12):
                    status, _ = await chat(http, procs[i % 3], stream=i % 2 == 1)
                    statuses.append(status)
                    # Tokens are added when the record is made, one Redis call after the answer:
                    # wait for it to land before the next replica asks (else the test races it).
                    counted = per_request * statuses.count(200)

                    async def landed(counted: int = counted) -> bool:
                        return int(counters.hget("lava-sidecar:{cus_a}:t", "c") or 0) == counted

                    await eventually(landed, within=10)
        finally:
            counters.close()
        # Admitted while under 100: 0, 15, … 90 → seven requests (the seventh takes it to 105).
        assert statuses == [200] * 7 + [429] * 5
        assert gw.served == 7
        assert -(-100 // per_request) == 7


async def test_a_stalled_redis_follows_the_policy_and_recovers(tmp_path: Path,
                                                               redis_server: RedisServer) -> None:
    """Redis paused (SIGSTOP) past the timeout: ``allow`` serves after at most timeout_ms,
    ``reject`` answers 503 in shape; both keep serving and recover when Redis returns."""
    limits = {"requests_per_minute": 1000}
    async with counting_gateway() as gw, contextlib.AsyncExitStack() as stack:
        procs = {}
        for policy in ("allow", "reject"):
            d = tmp_path / policy
            d.mkdir()
            quotas = {**redis_quotas(limits), "on_backend_error": policy}
            quotas["redis"] = {**quotas["redis"], "timeout_ms": 100}
            procs[policy] = await stack.enter_async_context(sidecar_process(
                d, gw.url, env={"REDIS_URL": redis_server.url}, quotas=quotas))
        async with aiohttp.ClientSession() as http:
            assert [(await chat(http, p))[0] for p in procs.values()] == [200, 200]
            redis_server.pause()
            try:
                allowed = [await chat(http, procs["allow"]) for _ in range(3)]
                refused = [await chat(http, procs["reject"]) for _ in range(3)]
            finally:
                redis_server.resume()
            assert [s for s, _ in allowed] == [200] * 3
            assert [s for s, _ in refused] == [503] * 3
            doc = refused[0][1]
            assert doc is not None
            assert doc["error"]["code"] == "quota_backend_unavailable"
            assert "quotas.on_backend_error: reject" in doc["error"]["message"]

            async def recovered() -> bool:
                return (await chat(http, procs["reject"]))[0] == 200

            await eventually(recovered, within=15)
        assert gw.by_customer["cus_a"] >= 2 + 3 + 1
        warnings = [d["msg"] for p in procs.values() for d in p.logs()
                    if "quota backend" in d.get("msg", "")]
        assert any("down" in m for m in warnings)
        assert any("up again" in m for m in warnings)
        # The Redis URL (it may carry a password) is never logged.
        assert all(redis_server.url not in line for p in procs.values() for line in p.stderr)
