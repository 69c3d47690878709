"""Quotas on the request path, through the official SDKs: a refusal is a 429 in the caller's shape
that never reaches the gateway, recorded once as ``rate_limited``; tokens and spend are counted
from the record; the SDKs' own retry honours ``retry-after``."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest

from proxy import config as c
from proxy.quotas.config import QuotaLimits, QuotaSettings

from ..faults.harness import Sidecar, running_sidecar, until, who
from .countinggateway import COMPLETION_TOKENS, PROMPT_TOKENS, counting_gateway
from .test_gate import away_from_a_minute_boundary

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def oa(side: Sidecar, customer: str = "cus_a", *, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=side.url + "/v1", api_key="sk-app-dummy", max_retries=retries,
                              default_headers=who(customer))


def side_client(side: Sidecar, client: openai.AsyncOpenAI) -> openai.AsyncOpenAI:
    """Closed when the sidecar's test ends (an SDK client left open warns about its sockets)."""
    side.closers.append(client.close)
    return client


def quotas(default: QuotaLimits, **customers: QuotaLimits) -> QuotaSettings:
    return QuotaSettings(default=default, customers=tuple(customers.items()))


async def test_a_refusal_is_a_429_in_shape_never_sent_and_recorded_once(tmp_path: Path) -> None:
    await away_from_a_minute_boundary()
    async with counting_gateway() as gw, running_sidecar(
            tmp_path, gw.url, quotas=quotas(QuotaLimits(requests_per_minute=3))) as side:
        client = side_client(side, oa(side))
        for _ in range(3):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        err = info.value
        assert err.status_code == 429
        assert err.code == "customer_requests_exceeded"
        assert err.type == "rate_limit_exceeded"
        assert "3 requests per minute" in err.message
        assert err.response.headers["x-lava-sidecar-error"] == "customer_requests_exceeded"
        # A sliding minute: the window frees a third of the way into the next one (at most 80 s).
        assert 0 < float(err.response.headers["retry-after-ms"]) <= 80_000
        # Anthropic's SDK reads its own shape for the same refusal.
        ac = anthropic.AsyncAnthropic(base_url=side.url + "/anthropic", api_key="x", max_retries=0,
                                      default_headers=who("cus_a"))
        with pytest.raises(anthropic.RateLimitError) as ainfo:
            await ac.messages.create(model="claude-haiku-4-5", max_tokens=8,
                                     messages=[{"role": "user", "content": "hi"}])
        await ac.close()
        body = ainfo.value.body
        assert isinstance(body, dict)
        assert body["error"]["type"] == "rate_limit_error"
        # Another customer is not touched by cus_a's limit.
        async with oa(side, "cus_b") as other:
            await other.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        await side.settled()
        assert gw.served == 4
        assert gw.by_customer == {"cus_a": 3, "cus_b": 1}
        recs = side.records()
        limited = [r for r in recs if r["outcome"] == "rate_limited"]
        assert len(recs) == 6
        assert len(limited) == 2
        for r in limited:
            assert r["customer"] == "cus_a"
            assert r["status"] == 429
            assert r["partial"] is False
            assert r["lava_request_id"] is None
            assert r["error_code"] == "customer_requests_exceeded"
            assert r.get("input_tokens") in (None, 0)
            assert r.get("charge_usd") in (None, "0")
        assert side.sample("lava_sidecar_quota_rejections_total", kind="requests",
                           customer="cus_a") == 2


async def test_tokens_are_counted_from_the_record(tmp_path: Path) -> None:
    per_request = PROMPT_TOKENS + COMPLETION_TOKENS
    limit = 2 * per_request + 1  # the third request is admitted (30 < 31), the fourth is not
    await away_from_a_minute_boundary()
    async with counting_gateway() as gw, running_sidecar(
            tmp_path, gw.url, quotas=quotas(QuotaLimits(tokens_per_minute=limit))) as side:
        client = side_client(side, oa(side))
        for _ in range(3):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        # A stream counts too: the usage chunk the sidecar asked for (and stripped) is metered.
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
        assert info.value.code == "customer_tokens_exceeded"
        assert gw.served == 3


async def test_streams_hold_a_concurrency_slot_until_they_end(tmp_path: Path) -> None:
    async with counting_gateway(delay=0.5) as gw, running_sidecar(
            tmp_path, gw.url, quotas=quotas(QuotaLimits(concurrent_requests=2))) as side:
        client = side_client(side, oa(side))

        async def one() -> str:
            try:
                stream = await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
                async for _ in stream:
                    pass
                return "ok"
            except openai.RateLimitError as exc:
                return str(exc.code)

        results = await asyncio.gather(*(one() for _ in range(6)))
        assert sorted(results) == ["customer_concurrency_exceeded"] * 4 + ["ok"] * 2
        assert gw.max_inflight == 2
        # The slots came back: the next one is admitted.
        assert await one() == "ok"


async def test_the_sdk_retry_waits_for_retry_after(tmp_path: Path) -> None:
    """openai's built-in retry (max_retries=2) sleeps for retry-after-ms and then gets through."""
    async with counting_gateway(delay=0.6) as gw, running_sidecar(
            tmp_path, gw.url, quotas=quotas(QuotaLimits(concurrent_requests=1))) as side:
        first, second = side_client(side, oa(side)), side_client(side, oa(side, retries=2))
        holder = asyncio.ensure_future(first.chat.completions.create(**CHAT))  # type: ignore[call-overload]
        await until(lambda: gw.inflight > 0)
        started = time.monotonic()
        reply = await second.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        waited = time.monotonic() - started
        await holder
        assert reply.usage is not None
        assert reply.usage.total_tokens == PROMPT_TOKENS + COMPLETION_TOKENS
        await side.settled()
        limited = [r for r in side.records() if r["outcome"] == "rate_limited"]
        assert len(limited) == 1
        assert gw.served == 2
        # The refusal said 1 s (a slot frees when a request ends); the SDK waited that long, not its
        # own default backoff of ~0.5 s.
        assert waited >= 0.9, waited


async def test_spend_is_counted_from_the_charge_and_says_not_to_retry_soon(tmp_path: Path) -> None:
    # $0.10 per token: each request (15 tokens) costs $1.50.
    price = c.MeterPrice("chat-tokens", "tokens_1m", (c.Tier(Decimal(0), Decimal(100_000)),))
    async with counting_gateway() as gw, running_sidecar(
            tmp_path, gw.url, meters=(price,),
            quotas=quotas(QuotaLimits(usd_per_day=Decimal("2.00")))) as side:
        client = side_client(side, oa(side))
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]  # 1.50 < 2.00
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        err = info.value
        assert err.code == "customer_spend_exceeded"
        assert err.response.headers["x-should-retry"] == "false"
        assert int(err.response.headers["retry-after"]) > 3600
        assert gw.served == 2


async def test_customer_overrides_and_unlimited(tmp_path: Path) -> None:
    await away_from_a_minute_boundary()
    q = quotas(QuotaLimits(requests_per_minute=1),
               cus_big=QuotaLimits(requests_per_minute=None))
    async with counting_gateway() as gw, running_sidecar(tmp_path, gw.url, quotas=q) as side, \
            oa(side, "cus_big") as big, oa(side, "cus_small") as small:
        for _ in range(5):
            await big.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        await small.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        with pytest.raises(openai.RateLimitError):
            await small.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert gw.by_customer == {"cus_big": 5, "cus_small": 1}
