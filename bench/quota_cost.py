"""CPU per request of the quota hooks, all four limits on: ``python -m bench.quota_cost``.

What one request costs at the two seams (``QuotaHooks.admit`` with its reservation estimate, then
``complete``), on the memory store and, with ``--redis URL`` (a server you started on loopback),
on the Redis store: sequential (every admission its own batch) and from 32 concurrent tasks (the
batches a loaded sidecar makes). Redis' own CPU is not included. Prints figures, asserts nothing;
the machine's cores are shared: compare the lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

from prometheus_client import CollectorRegistry

from proxy.config import MeterPrice, Tier
from proxy.identity import Resolved
from proxy.metering.pricing import Pricing
from proxy.pipeline.context import RequestContext
from proxy.quotas.config import QuotaLimits, QuotaSettings, RedisQuota
from proxy.quotas.hooks import Quotas
from proxy.record import RequestRecord
from proxy.secret import Secret
from proxy.tokens import Billing
from proxy.usage import inspect
from proxy.usage.base import Api, Usage

from .payloads import request_body

ALL_FOUR = QuotaLimits(requests_per_minute=10**9, tokens_per_minute=10**12, concurrent_requests=10**6,
                       usd_per_day=Decimal("1000000"))
_BODY = request_body(stream=False)
#: What the pipeline's inspect learns from the body (the estimate reads its parse).
_FACTS, _ = inspect(Api.CHAT, _BODY, "application/json", inject_stream_usage=True)
_USAGE = Usage(input_tokens=61, output_tokens=120, source="provider")


def _context(customer: str) -> RequestContext:
    ctx = RequestContext("req", 0.0, 0.0, "POST", "/v1/chat/completions", {}, "openai")
    ctx.resolved = Resolved(Billing(customer, "chat-tokens"), "header")
    ctx.facts = _FACTS
    ctx.request_body = _BODY
    ctx.upstream_at = 1.0
    ctx.charge_usd = Decimal("0.000543")
    return ctx


def _record(ctx: RequestContext) -> RequestRecord:
    return RequestRecord(request_id="req", lava_request_id="lava", started_at=0.0,
                         customer_id=ctx.customer_id, meter_slug="chat-tokens", identity_via="header",
                         provider="openai", api=Api.CHAT, model="gpt-4o-mini", status=200,
                         stream=False, usage=_USAGE, partial=False, outcome="ok", duration=0.01,
                         ttfb=0.005, overhead=0.0001)


async def measure(settings: QuotaSettings, n: int, customers: int, concurrency: int) -> float:
    """CPU µs per request (admit + complete), ``customers`` ids in rotation."""
    pricing = Pricing([MeterPrice("chat-tokens", "tokens_1m", (Tier(Decimal(0), Decimal("3")),))])
    quotas = Quotas(CollectorRegistry(), max_customers=1000, customer_label=True, pricing=pricing)
    hooks = await quotas.apply(settings)
    for _ in range(500):  # the Redis store connects in the background (readiness waits the same)
        if quotas.waiting() is None:
            break
        await asyncio.sleep(0.01)
    ids = [f"cus_{i}" for i in range(customers)]

    async def worker(k: int, count: int) -> None:
        for i in range(count):
            ctx = _context(ids[(k + i * concurrency) % customers])
            if hooks is not None:
                await hooks.admit(ctx)
            await asyncio.sleep(0)  # the request is elsewhere for a while
            rec = _record(ctx)
            if hooks is not None:
                hooks.complete(ctx, rec)

    await asyncio.gather(*(worker(k, 200) for k in range(concurrency)))  # warm up
    await asyncio.sleep(0.2)
    cpu = time.process_time()
    await asyncio.gather(*(worker(k, n // concurrency) for k in range(concurrency)))
    await asyncio.sleep(0.1)  # the last settlements go out
    cpu = time.process_time() - cpu
    await quotas.aclose()
    return cpu / (n // concurrency * concurrency) * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.quota_cost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=64_000)
    ap.add_argument("--redis", help="redis://127.0.0.1:PORT/0 of a server on loopback")
    args = ap.parse_args()
    # The baseline: building the context and record alone (what every line below includes).
    base = await measure(QuotaSettings(), args.n, 1000, 32)
    print(f"no limits (context, record, a task switch): {base:6.2f} µs CPU per request (subtracted)")
    for customers in (1, 1000):
        cpu = await measure(QuotaSettings(default=ALL_FOUR), args.n, customers, 32)
        print(f"memory, all four, {customers:4d} customers    : {cpu - base:6.2f} µs CPU per request")
    if args.redis:
        s = QuotaSettings(backend="redis", redis=RedisQuota(url=Secret(args.redis), timeout_ms=200),
                          default=ALL_FOUR)
        for concurrency in (1, 32):
            cpu = await measure(s, min(args.n, 20_000), 1000, concurrency)
            print(f"redis,  all four, 1000 customers, c={concurrency:<2d}: {cpu - base:6.2f} µs CPU per "
                  "request (Redis' own CPU not included)")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
