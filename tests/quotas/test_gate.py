"""Quota behaviour, the same on both stores: the memory one and a real Redis (several gates, each
with its own connection pool, standing for replicas). Time is driven through the gate's clock,
which the Redis store sends in place of the server's TIME."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from proxy.errors import QuotaExceeded
from proxy.quotas.config import QuotaLimits
from proxy.quotas.gate import FREE, QuotaGate, Ticket

from .conftest import Clock, GateFactory, settings_for


async def away_from_a_minute_boundary() -> None:
    """Tests on Redis' own clock: start a test that takes well under a second clear of a window
    boundary, so its expectations are those of one window."""
    into = time.time() % 60
    if into > 57:
        await asyncio.sleep(60.2 - into)


async def try_admit(gate: QuotaGate, customer: str = "cus_a", meter: str | None = None
                    ) -> Ticket | QuotaExceeded:
    try:
        return await gate.admit(customer, meter)
    except QuotaExceeded as exc:
        return exc


async def replicas(gates: GateFactory, backend: str, default: QuotaLimits, n: int = 3,
                   **kw: object) -> list[QuotaGate]:
    """Three gates on Redis (three replicas' worth of state sharing one store); one in memory."""
    return [await gates(default, **kw) for _ in range(n if backend == "redis" else 1)]


async def test_300_admits_from_60_tasks_admit_exactly_100(gates: GateFactory, backend: str) -> None:
    await away_from_a_minute_boundary()
    fleet = await replicas(gates, backend, QuotaLimits(requests_per_minute=100))
    queue = list(range(300))
    results: list[Ticket | QuotaExceeded] = []

    async def client(k: int) -> None:
        while queue:
            i = queue.pop()
            results.append(await try_admit(fleet[i % len(fleet)]))

    await asyncio.gather(*(client(k) for k in range(60)))
    admitted = [r for r in results if isinstance(r, Ticket)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(admitted), len(refused)) == (100, 200)
    assert {r.code for r in refused} == {"customer_requests_exceeded"}
    assert all(0 < r.retry_after <= 60 and r.limit == 100 for r in refused)
    assert "100 requests per minute" in refused[0].message


async def test_concurrency_never_exceeds_the_limit_and_slots_come_back(gates: GateFactory,
                                                                       backend: str) -> None:
    fleet = await replicas(gates, backend, QuotaLimits(concurrent_requests=5))
    inflight, peak, served, refusals = 0, 0, 0, 0

    async def stream(i: int) -> None:
        nonlocal inflight, peak, served, refusals
        for _ in range(400):  # bounded: a leaked slot fails the test instead of hanging it
            result = await try_admit(fleet[i % len(fleet)])
            if isinstance(result, QuotaExceeded):
                assert result.code == "customer_concurrency_exceeded"
                refusals += 1
                await asyncio.sleep(0.005)
                continue
            inflight += 1
            peak = max(peak, inflight)
            await asyncio.sleep(0.02)
            inflight -= 1
            fleet[i % len(fleet)].complete(result, tokens=10, charge_usd=None)
            served += 1
            return

    await asyncio.gather(*(stream(i) for i in range(30)))
    assert (served, peak) == (30, 5)
    assert refusals > 0
    await asyncio.sleep(0.1)  # Redis completions are scheduled on the loop
    tickets = [await fleet[0].admit("cus_a", None) for _ in range(5)]
    assert isinstance(await try_admit(fleet[0]), QuotaExceeded)
    for t in tickets:
        fleet[0].complete(t, tokens=0, charge_usd=None)


async def test_token_window_refuses_once_counted_tokens_reach_it(gates: GateFactory) -> None:
    clock = Clock()
    gate = await gates(QuotaLimits(tokens_per_minute=1000), clock=clock)
    first = await gate.admit("cus_a", None)
    second = await gate.admit("cus_a", None)  # not yet counted: tokens come at completion
    gate.complete(first, tokens=600, charge_usd=None)
    gate.complete(second, tokens=600, charge_usd=None)
    await asyncio.sleep(0.05)
    refused = await try_admit(gate)
    assert isinstance(refused, QuotaExceeded)
    assert refused.code == "customer_tokens_exceeded"
    assert refused.limit == 1000
    assert "1000 tokens per minute" in refused.message
    assert isinstance(await try_admit(gate, "cus_b"), Ticket)  # isolation
    clock.now += refused.retry_after
    assert isinstance(await try_admit(gate), Ticket)


async def test_spend_refusal_waits_for_the_window_not_a_second(gates: GateFactory) -> None:
    clock = Clock()
    gate = await gates(QuotaLimits(usd_per_day=Decimal("1.00")), clock=clock)
    for _ in range(2):
        gate.complete(await gate.admit("cus_a", "chat"), tokens=5, charge_usd=Decimal("0.60"))
    await asyncio.sleep(0.05)
    refused = await try_admit(gate, meter="chat")
    assert isinstance(refused, QuotaExceeded)
    assert refused.code == "customer_spend_exceeded"
    assert refused.limit == Decimal("1")
    assert refused.retry_after > 3600
    assert "$1.00 per day" in refused.message
    headers = dict(refused.headers())
    assert headers["x-should-retry"] == "false"
    assert int(headers["retry-after"]) >= refused.retry_after
    clock.now += refused.retry_after - 60
    assert isinstance(await try_admit(gate), QuotaExceeded)
    clock.now += 61
    assert isinstance(await try_admit(gate), Ticket)


async def test_one_customer_at_its_limit_never_refuses_another(gates: GateFactory, backend: str) -> None:
    fleet = await replicas(gates, backend, QuotaLimits(requests_per_minute=3, concurrent_requests=2))
    await away_from_a_minute_boundary()
    for _ in range(2):
        await fleet[0].admit("cus_noisy", None)
    assert isinstance(await try_admit(fleet[-1], "cus_noisy"), QuotaExceeded)
    others = [await try_admit(fleet[i % len(fleet)], f"cus_{i}") for i in range(20)]
    assert all(isinstance(t, Ticket) for t in others)


async def test_sliding_window_has_no_2x_burst_at_a_boundary(gates: GateFactory) -> None:
    clock = Clock()
    clock.now += 59.9  # 0.1 s before a minute boundary
    gate = await gates(QuotaLimits(requests_per_minute=100), clock=clock)
    before = [await try_admit(gate) for _ in range(100)]
    assert all(isinstance(t, Ticket) for t in before)
    clock.now += 0.2  # 0.1 s into the next minute: a fixed window would admit 100 more here
    after = [await try_admit(gate) for _ in range(100)]
    assert sum(isinstance(t, Ticket) for t in after) == 0
    refused = after[0]
    assert isinstance(refused, QuotaExceeded)
    assert refused.retry_after < 1.0
    clock.now += 29.9  # half way: the previous minute counts half
    half = [await try_admit(gate) for _ in range(100)]
    assert sum(isinstance(t, Ticket) for t in half) == 50


async def test_meter_limits_are_per_customer_and_on_top_of_the_customers(backend: str,
                                                                        gates: GateFactory,
                                                                        request: pytest.FixtureRequest
                                                                        ) -> None:
    await away_from_a_minute_boundary()
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    settings = settings_for(backend, url, QuotaLimits(requests_per_minute=15),
                            meters=(("image-gen", QuotaLimits(requests_per_minute=10)),))
    gate = await gates(settings=settings)
    images = [await try_admit(gate, "cus_a", "image-gen") for _ in range(12)]
    assert sum(isinstance(t, Ticket) for t in images) == 10
    assert all(isinstance(t, QuotaExceeded) and "on meter image-gen" in t.message for t in images[10:])
    assert isinstance(await try_admit(gate, "cus_b", "image-gen"), Ticket)  # per customer
    chat = [await try_admit(gate, "cus_a", "chat") for _ in range(6)]
    # The customer's own 15 counted the 10 image requests too.
    assert sum(isinstance(t, Ticket) for t in chat) == 5


async def test_customer_overrides_and_null_lift_a_limit(backend: str, gates: GateFactory,
                                                         request: pytest.FixtureRequest) -> None:
    await away_from_a_minute_boundary()
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    settings = settings_for(backend, url, QuotaLimits(requests_per_minute=2),
                            customers=(("cus_big", QuotaLimits(requests_per_minute=None)),))
    gate = await gates(settings=settings)
    assert await gate.admit("cus_big", None) is FREE  # nothing limits it: no store call at all
    assert await gate.admit(None, None) is FREE  # no customer: no customer quota
    small = [await try_admit(gate, "cus_small") for _ in range(4)]
    assert sum(isinstance(t, Ticket) for t in small) == 2


async def test_reload_applies_new_limits_at_once(backend: str, gates: GateFactory,
                                                 request: pytest.FixtureRequest) -> None:
    await away_from_a_minute_boundary()
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    gate = await gates(QuotaLimits(requests_per_minute=5))
    assert sum(isinstance(t, Ticket) for t in [await try_admit(gate) for _ in range(6)]) == 5
    gate.reload(settings_for(backend, url, QuotaLimits(requests_per_minute=8)))
    assert sum(isinstance(t, Ticket) for t in [await try_admit(gate) for _ in range(6)]) == 3
    gate.reload(settings_for(backend, url, QuotaLimits()))
    assert await gate.admit("cus_a", None) is FREE


async def test_completing_twice_releases_once(gates: GateFactory) -> None:
    gate = await gates(QuotaLimits(concurrent_requests=2))
    a = await gate.admit("cus_a", None)
    await gate.admit("cus_a", None)
    gate.complete(a, tokens=0, charge_usd=None)
    gate.complete(a, tokens=0, charge_usd=None)  # must not free the other ticket's slot
    await asyncio.sleep(0.05)
    assert isinstance(await try_admit(gate), Ticket)
    assert isinstance(await try_admit(gate), QuotaExceeded)


async def test_metrics_count_rejections_by_kind_and_capped_customer(gates: GateFactory,
                                                                    backend: str) -> None:
    registry = CollectorRegistry()
    gate = await gates(QuotaLimits(requests_per_minute=0), registry=registry, max_customers=2)
    for cust in ("cus_1", "cus_2", "cus_3", "cus_3"):
        assert isinstance(await try_admit(gate, cust), QuotaExceeded)
    sample = registry.get_sample_value
    assert sample("lava_sidecar_quota_rejections_total", {"kind": "requests", "customer": "cus_1"}) == 1
    assert sample("lava_sidecar_quota_rejections_total",
                  {"kind": "requests", "customer": "__overflow__"}) == 2
    assert sample("lava_sidecar_quota_check_seconds_count", {"backend": backend}) == 4
    assert sample("lava_sidecar_quota_backend_up") == 1
