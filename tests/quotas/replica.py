"""A stand-in replica as a separate OS process: ``python -m tests.quotas.replica URL MODE N``.

``admit``: N admissions from 20 concurrent tasks, limit 100 requests/min; prints how many passed.
``hold``: takes N concurrency slots (limit 5, lease TTL 1 s), prints ``held``, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from prometheus_client import CollectorRegistry

from proxy.errors import QuotaExceeded
from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.gate import QuotaGate
from proxy.secret import Secret


async def main(url: str, mode: str, n: int) -> None:
    limits = QuotaLimits(requests_per_minute=100) if mode == "admit" else QuotaLimits(concurrent_requests=5)
    settings = QuotaSettings(backend="redis", redis=RedisQuota(url=Secret(url), timeout_ms=500),
                             default=limits)
    gate = await QuotaGate.open(settings, CollectorRegistry(), lease_ttl=1.0)
    if mode == "hold":
        for _ in range(n):
            await gate.admit("cus_a", None)
        print("held", flush=True)
        await asyncio.sleep(3600)
    # Start together: the parent releases every replica at once through stdin.
    sys.stdin.readline()
    left, admitted = list(range(n)), 0

    async def client() -> None:
        nonlocal admitted
        while left:
            left.pop()
            try:
                await gate.admit("cus_a", None)
                admitted += 1
            except QuotaExceeded:
                pass

    await asyncio.gather(*(client() for _ in range(20)))
    print(admitted, flush=True)
    await gate.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
