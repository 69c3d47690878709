"""CPU per admit+complete of the quota gate, all four limits on: ``python -m bench.quota_cost``.

Memory backend always; with ``--redis URL`` also the Redis backend (a server you started on
loopback), reporting mean wall time per admit+complete there. Prints figures, asserts nothing.
The machine's cores are shared: compare the lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry

from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.gate import QuotaGate
from proxy.secret import Secret

ALL_FOUR = QuotaLimits(requests_per_minute=10**9, tokens_per_minute=10**12, concurrent_requests=10**6,
                       usd_per_day=Decimal("1000000"))


async def measure(settings: QuotaSettings, n: int, customers: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per admit+complete, ``customers`` distinct ids in rotation."""
    gate = await QuotaGate.open(settings, CollectorRegistry())
    ids = [f"cus_{i}" for i in range(customers)]
    charge = Decimal("0.000123")
    for i in range(min(n, 2000)):  # warm caches and connections
        gate.complete(await gate.admit(ids[i % customers], "chat"), tokens=100, charge_usd=charge)
    await asyncio.sleep(0.1)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(n):
        t = await gate.admit(ids[i % customers], "chat")
        gate.complete(t, tokens=100, charge_usd=charge)
        if settings.backend == "redis" and i % 50 == 49:
            await asyncio.sleep(0)  # let scheduled completions run, as the event loop would
    await asyncio.sleep(0.2)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await gate.aclose()
    return cpu / n * 1e6, wall / n * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200_000)
    ap.add_argument("--redis", help="redis://127.0.0.1:PORT/0 of a server on loopback")
    args = ap.parse_args()
    none = await measure(QuotaSettings(), args.n, 100)
    print(f"memory, no limits configured : {none[0]:6.2f} µs CPU per admit+complete")
    for customers in (1, 1000):
        cpu, _ = await measure(QuotaSettings(default=ALL_FOUR), args.n, customers)
        print(f"memory, all four limits, {customers:4d} customers: {cpu:6.2f} µs CPU per admit+complete")
    if args.redis:
        s = QuotaSettings(backend="redis", redis=RedisQuota(url=Secret(args.redis), timeout_ms=200),
                          default=ALL_FOUR)
        cpu, wall = await measure(s, min(args.n, 20_000), 1000)
        print(f"redis,  all four limits, 1000 customers: {cpu:6.1f} µs CPU, {wall:6.1f} µs wall per "
              "admit+complete (sequential; Redis' own CPU not included)")


if __name__ == "__main__":
    asyncio.run(main())
