"""Several real ``lava-sidecar serve`` replicas sharing one quota backend, started together (each
waits for its own /readyz), in front of one counting gateway; and the burst helpers the replica
tests share: who sends, what a refusal must look like, what the usage logs must say."""

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

from ..faults.process import SidecarProcess, eventually, sidecar_process
from .burst import Answer

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "max_tokens": 5,
                   "messages": [{"role": "user", "content": "hi"}]}).encode()


def who(customer: str, meter: str = "chat-tokens") -> dict[str, str]:
    return {"X-Lava-Customer-Id": customer, "X-Lava-Meter": meter}


def redis_quotas(url_env: str = "REDIS_URL", **extra: Any) -> dict[str, Any]:
    redis: dict[str, Any] = {"url": {"env": url_env}}
    redis.update(extra.pop("redis", {}))
    return {"backend": "redis", "redis": redis, **extra}


@asynccontextmanager
async def fleet(tmp: Path, gateway_url: str, quotas: dict[str, Any], *, n: int = 3,
                env: dict[str, str] | None = None, **config: Any) -> AsyncIterator[list[SidecarProcess]]:
    """``n`` replicas started at once; yields when every one answers /readyz 200."""
    async with contextlib.AsyncExitStack() as stack:
        dirs = []
        for i in range(n):
            d = tmp / f"replica{i}-{time.monotonic_ns()}"
            d.mkdir()
            dirs.append(d)
        procs = await asyncio.gather(*(stack.enter_async_context(sidecar_process(
            d, gateway_url, env=env, quotas=quotas, **config)) for d in dirs))
        yield list(procs)


def requests_for(procs: list[SidecarProcess], customer: str, n: int,
                 body: bytes = BODY) -> list[tuple[str, dict[str, str], bytes]]:
    """``n`` requests for ``customer``, spread round-robin over the replicas."""
    return [(procs[i % len(procs)].url + CHAT, who(customer), body) for i in range(n)]


def assert_refusals_in_shape(answers: list[Answer], code: str = "customer_requests_exceeded") -> None:
    for a in answers:
        if a.status == 200:
            continue
        assert a.status == 429, (a.status, a.body[:300])
        err = a.json()["error"]
        assert (err["code"], err["type"]) == (code, "rate_limit_exceeded"), err
        assert a.headers["x-lava-sidecar-error"] == code
        assert float(a.headers["retry-after-ms"]) > 0


def records(procs: list[SidecarProcess]) -> list[dict[str, Any]]:
    return [rec for p in procs for rec in p.records()]


async def settled(procs: list[SidecarProcess], count: int, within: float = 20) -> list[dict[str, Any]]:
    """The replicas' usage lines once ``count`` are written (bounded wait), checked for more."""

    async def written() -> bool:
        return len(records(procs)) >= count

    await eventually(written, within=within)
    await asyncio.sleep(0.2)  # a line too many would show now
    return records(procs)


def outcomes(recs: list[dict[str, Any]], customer: str) -> Counter[str]:
    return Counter(r["outcome"] for r in recs if r["customer"] == customer)


async def well_inside_a_minute(needed: float) -> None:
    """Windows are aligned minutes on Redis' clock: keep a run of ``needed`` seconds inside one."""
    into = time.time() % 60
    if into > 60 - needed:
        await asyncio.sleep(60.5 - into)


def quota_lines(procs: list[SidecarProcess]) -> list[str]:
    return [d["msg"] for p in procs for d in p.logs() if "quota backend" in d.get("msg", "")]


def down_lines(procs: list[SidecarProcess]) -> list[str]:
    """The circuit-open lines, each with the time it was logged (for a failure's message)."""
    return [f'{d.get("ts", d.get("time", ""))} {d["msg"]}' for p in procs for d in p.logs()
            if "quota backend" in d.get("msg", "") and "down" in d["msg"]]
