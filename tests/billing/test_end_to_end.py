"""The whole local Lava as a merchant meets it: the billing client sets up a meter, a plan and a
customer; the official OpenAI SDK spends through ``/v1/forward`` with that customer's forward
token; the records, usage and credit the client reads back agree with what the SDK was told,
and a customer out of credit is refused (402) before any provider is called."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import openai
import pytest

from proxy.billing import AsyncLavaClient
from proxy.emulator.local import local_gateway
from proxy.emulator.server import RunningGateway, running_gateway
from proxy.secret import Secret
from proxy.tokens import Billing, mint

KEY = "aks_test_endtoend0123456789abcdef"
D = Decimal


@pytest.fixture
async def gw() -> AsyncIterator[RunningGateway]:
    local = local_gateway(Secret(KEY))
    async with running_gateway(KEY, accounts=local.state.accounts,
                               extra_routes=local.extra_routes) as running:
        yield running


def sdk(gw: RunningGateway, customer: str, meter: str) -> openai.AsyncOpenAI:
    forward_token = mint(Secret(KEY), Billing(customer, meter))
    return openai.AsyncOpenAI(base_url=gw.sdk_base_url("https://api.openai.com/v1"),
                              api_key=forward_token, max_retries=0)


async def test_spend_through_the_gateway_then_read_it_back(gw: RunningGateway) -> None:
    async with AsyncLavaClient(base_url=gw.url, secret_key=KEY) as lava:
        # $1,000,000 per 1M tokens = $1 a token, and $50 of credit: a few calls use it up.
        meter = await lava.meters.create(name="Chat", rate="1000000")
        plan = await lava.plans.create(name="Tiny", period_amount="50",
                                       meter_ids=[meter.meter_id])
        cs = await lava.checkout_sessions.create(plan_id=plan.plan_id)
        done = await lava.checkout_sessions.complete_local(cs.checkout_session_id,
                                                           phone="+15555550100")
        cid = done.customer_id
        assert cid is not None

        async with sdk(gw, cid, meter.meter_slug) as client:
            reply = await client.chat.completions.create(
                model="gpt-5-nano", messages=[{"role": "user", "content": "Say hello."}])
            assert reply.usage is not None
            told = reply.usage.prompt_tokens + reply.usage.completion_tokens

            records = [r async for r in lava.requests.iter(customer_id=cid)]
            assert len(records) == 1
            rec = records[0]
            assert rec.model_usage.total_tokens == told
            assert rec.charge.amount == D(told)
            assert rec.endpoint is not None
            assert rec.endpoint.endswith("/v1/chat/completions")
            sub = await lava.customers.subscription(cid)
            assert sub is not None
            assert sub.credits.total_remaining == D(50) - D(told)

            # Spend until the credit is gone; the next call is refused before the provider.
            statuses = []
            for _ in range(60):
                try:
                    await client.chat.completions.create(
                        model="gpt-5-nano", messages=[{"role": "user", "content": "More."}])
                except openai.APIStatusError as exc:
                    statuses.append(exc.status_code)
                    break
            assert statuses == [402], "credit never ran out"
            calls_seen = len(gw.seen)
            with pytest.raises(openai.APIStatusError) as refused:
                await client.chat.completions.create(
                    model="gpt-5-nano", messages=[{"role": "user", "content": "Again."}])
            assert refused.value.status_code == 402
            assert gw.seen[-1].refused == "insufficient_balance"
            assert len(gw.seen) == calls_seen + 1
        after = await lava.customers.subscription(cid)
        assert after is not None
        assert after.credits.total_remaining == 0
        now = datetime.now(UTC)
        usage = await lava.usage.get(start=now - timedelta(days=1),
                                     end=now + timedelta(minutes=1), customer_id=cid)
        charged = [r async for r in lava.requests.iter(customer_id=cid)]
        assert usage.totals.total_requests == len(charged) > 1
        assert usage.totals.total_charge == sum((r.charge.amount for r in charged), D(0))
        assert usage.totals.total_charge >= D(50)   # the request crossing zero is absorbed
