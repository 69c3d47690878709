"""Spend and token limits that concurrency cannot overshoot: admission reserves the request's
estimate, completion replaces it with the real amount, a request that never left gives it back.

Measured end to end: 50 requests at once against a daily cap that fits 5 (each costs $1.50, the
estimate says $1.70): on memory (one replica) and on Redis (three replicas), the spend the usage
logs record ends at most one request's cost over the cap. Before reservations all 50 passed."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from proxy.config import MeterPrice, Tier
from proxy.errors import QuotaExceeded
from proxy.metering.pricing import Pricing
from proxy.quotas.config import QuotaLimits
from proxy.quotas.gate import QuotaGate, Ticket
from proxy.usage import inspect
from proxy.usage.base import Api, RequestFacts, Usage
from proxy.usage.estimate import Ask, ask

from .burst import burst, tally
from .conftest import Clock, GateFactory
from .countinggateway import COMPLETION_TOKENS, PROMPT_TOKENS, counting_gateway
from .fleet import fleet, redis_quotas, requests_for, settled
from .redisserver import RedisServer
from .test_gate import replicas, try_admit

# -- the gate, on both stores ---------------------------------------------------------------------


async def admit_many(fleet_: list[QuotaGate], n: int, **reserve: int) -> list[Ticket | QuotaExceeded]:
    async def one(i: int) -> Ticket | QuotaExceeded:
        try:
            return await fleet_[i % len(fleet_)].admit("cus_a", None, **reserve)
        except QuotaExceeded as exc:
            return exc

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def test_concurrent_reservations_fill_a_spend_limit(gates: GateFactory, backend: str) -> None:
    clock = Clock()
    fleet_ = await replicas(gates, backend, QuotaLimits(usd_per_day=Decimal("1.00")), clock=clock)
    results = await admit_many(fleet_, 10, micro_usd=300_000)  # $0.30 each, all at once
    admitted = [r for r in results if isinstance(r, Ticket)]
    assert len(admitted) == 4  # 0, .30, .60, .90 are under $1.00; 1.20 is not
    assert {r.code for r in results if isinstance(r, QuotaExceeded)} == {"customer_spend_exceeded"}
    # They cost $0.20 each in the end: $0.80 counted, room for one more.
    for t in admitted:
        fleet_[0].complete(t, tokens=10, charge_usd=Decimal("0.20"))
    await asyncio.sleep(0.1)  # Redis settlements go out with the next batch
    more = await admit_many(fleet_, 2, micro_usd=300_000)
    assert sorted(isinstance(r, Ticket) for r in more) == [False, True]


async def test_token_reservations_and_what_happens_to_them(gates: GateFactory, backend: str) -> None:
    clock = Clock()
    fleet_ = await replicas(gates, backend, QuotaLimits(tokens_per_minute=1000), clock=clock)
    first = await fleet_[0].admit("cus_a", None, tokens=600)
    second = await fleet_[-1].admit("cus_a", None, tokens=600)  # 600 < 1000: admitted
    assert isinstance(await try_admit(fleet_[0]), QuotaExceeded)  # 1200 reserved
    # The first never reached Lava: its reservation goes back.
    fleet_[0].complete(first, tokens=0, charge_usd=Decimal(0))
    await asyncio.sleep(0.1)
    third = await fleet_[0].admit("cus_a", None, tokens=600)  # 600 reserved again: under
    # The second may have been billed but reported nothing: its 600 stand.
    fleet_[-1].complete(second, tokens=None, charge_usd=None)
    # The third used 100 instead of 600: 700 counted in all, room again.
    fleet_[0].complete(third, tokens=100, charge_usd=None)
    await asyncio.sleep(0.1)
    assert isinstance(await try_admit(fleet_[-1]), Ticket)


async def test_a_reservation_made_before_the_turn_comes_out_of_the_previous_window(
        gates: GateFactory) -> None:
    clock = Clock()
    clock.now += 59.0  # one second before a minute boundary
    gate = await gates(QuotaLimits(tokens_per_minute=1000), clock=clock)
    ticket = await gate.admit("cus_a", None, tokens=1100)
    clock.now += 2.0  # one second into the next minute: the 1100 count 59/60 of themselves
    assert isinstance(await try_admit(gate), QuotaExceeded)
    gate.complete(ticket, tokens=100, charge_usd=None)  # 1100 leave the old minute, 100 join this one
    await asyncio.sleep(0.1)
    assert isinstance(await try_admit(gate), Ticket)


# -- end to end: 50 at once against a cap that fits 5 ----------------------------------------------

PRICE = [{"slug": "chat-tokens", "tier_type": "tokens_1m", "tiers": [{"start": 0, "rate": "100000"}]}]
COST = Decimal("0.10") * (PROMPT_TOKENS + COMPLETION_TOKENS)  # $1.50 a request
CAP = 5 * COST
#: 48 characters of prompt (12 tokens by characters/4) + max_tokens 5: $1.70 reserved.
BODY = json.dumps({"model": "gpt-4o-mini", "max_tokens": COMPLETION_TOKENS,
                   "messages": [{"role": "user", "content": "x" * 48}]}).encode()


def spent(recs: list[dict[str, Any]], customer: str) -> Decimal:
    return sum((Decimal(r["charge_usd"]) for r in recs
                if r["customer"] == customer and r.get("charge_usd") not in (None, "")), Decimal(0))


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_fifty_at_once_against_a_cap_that_fits_five(tmp_path: Path, backend: str,
                                                         request: pytest.FixtureRequest) -> None:
    limits = {"default": {"usd_per_day": str(CAP)}}
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        quotas, n, env = redis_quotas(**limits), 3, {"REDIS_URL": server.url}
    else:
        quotas, n, env = limits, 1, {}
    async with counting_gateway() as gw, fleet(tmp_path, gw.url, quotas, n=n, env=env,
                                               meters=PRICE, pricing={"from_lava": False}) as procs:
        answers = await burst(requests_for(procs, "cus_cap", 50, BODY))
        recs = await settled(procs, 50)
        total = spent(recs, "cus_cap")
        print(f"{backend}: {tally(answers)}, spend ${total} against a cap of ${CAP}")
        assert total <= CAP + COST, (total, tally(answers))
        assert gw.served == tally(answers)[200] <= 6
        assert tally(answers)[429] == 50 - gw.served
        # Settled: the reservations became real charges. At the cap, the next one is refused.
        again = await burst(requests_for(procs, "cus_cap", 1, BODY))
        assert again[0].status == 429
        assert again[0].json()["error"]["code"] == "customer_spend_exceeded"


async def test_an_unpriced_meter_reserves_nothing_and_says_so_once(tmp_path: Path) -> None:
    async with counting_gateway() as gw, fleet(tmp_path, gw.url, {"default": {"usd_per_day": "1.00"}},
                                               n=1, pricing={"from_lava": False}) as procs:
        answers = await burst(requests_for(procs, "cus_free", 5))
        assert tally(answers) == {200: 5}  # nothing priced, nothing counted against $1.00
        await settled(procs, 5)
        lines = [d["msg"] for d in procs[0].logs() if "reserve no spend" in d.get("msg", "")]
        assert len(lines) == 1, lines
        assert "chat-tokens" in lines[0]


def test_a_quote_is_the_charge_without_moving_the_tier_position() -> None:
    """Graduated tiers: 1M tokens at $5, then $3. A quote prices at the customer's position and
    leaves it where it was; the charge for the same usage is the same amount and moves it."""
    tiers = (Tier(Decimal(0), Decimal(5)), Tier(Decimal(1_000_000), Decimal(3)))
    pricing = Pricing([MeterPrice("chat", "tokens_1m", tiers)])
    usage = Usage(input_tokens=600_000, output_tokens=200_000, source="provider")
    assert pricing.quote("cus_a", "chat", 800_000) == Decimal("4") == pricing.charge("cus_a", "chat", usage)
    # 800k used: the next 800k straddle the tier (200k at $5 + 600k at $3).
    assert pricing.quote("cus_a", "chat", 800_000) == Decimal("2.8")
    assert pricing.quote("cus_a", "chat", 800_000) == Decimal("2.8")  # still not moved
    assert pricing.quote("cus_a", "unpriced", 10) is None
    minutes = Pricing([MeterPrice("stt", "minutes", (Tier(Decimal(0), Decimal("0.006")),))])
    assert minutes.quote("cus_a", "stt", 10) is None  # seconds of audio are not known before


@pytest.mark.parametrize(("api", "body", "expected"), [
    (Api.CHAT, {"model": "m", "max_completion_tokens": 300, "max_tokens": 200,
                "messages": [{"role": "user", "content": "x" * 40}]}, Ask(10, 300)),
    (Api.RESPONSES, {"model": "m", "input": "y" * 41, "max_output_tokens": 50}, Ask(11, 50)),
    (Api.MESSAGES, {"model": "m", "max_tokens": 64, "system": "s" * 8,
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "t" * 8}]}]},
     Ask(4, 64)),
    (Api.GENERATE_CONTENT, {"contents": [{"role": "user", "parts": [{"text": "g" * 12}]}],
                            "generationConfig": {"maxOutputTokens": 77}}, Ask(3, 77)),
    # An image is not text: its bytes are not counted as prompt.
    (Api.CHAT, {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 4000}}]}]},
     Ask(0, None)),
])
def test_what_a_request_asks_for(api: Api, body: dict[str, Any], expected: Ask) -> None:
    raw = json.dumps(body).encode()
    assert ask(RequestFacts(api=api), raw) == expected  # parsed here
    facts, _ = inspect(api, raw, "application/json", inject_stream_usage=False)
    assert ask(facts, b"") == expected  # or read from inspect's parse, without the bytes
