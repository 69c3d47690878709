"""``AsyncLavaClient`` against the local Lava's REST API on a real loopback server: the seed flow
end to end, pagination, every resource, and Lava's errors as typed exceptions."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from proxy.billing import (
    AsyncLavaClient,
    BundleSpec,
    LavaAuthError,
    LavaNotFound,
    LavaValidationError,
    TierSpec,
)
from proxy.emulator.rest import create_app
from tests.emulator.accounts_setup import SECRET, T0, World, served, token, world

D = Decimal


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
async def lava(w: World, aiohttp_server: Callable[..., Awaitable[TestServer]]
               ) -> AsyncIterator[AsyncLavaClient]:
    server = await aiohttp_server(create_app(w.accounts))
    async with AsyncLavaClient(base_url=str(server.make_url("")), secret_key=SECRET) as client:
        yield client


async def test_the_seed_flow_from_meter_to_usage(lava: AsyncLavaClient, w: World) -> None:
    meter = await lava.meters.create(name="Chat tokens", rate="3.00", tier_type="tokens_1m")
    assert (meter.rate_type, meter.tier_type, meter.tiers[0].rate) == ("fixed", "tokens_1m",
                                                                       D("3.00"))
    plan = await lava.plans.create(name="Pro", period_amount="10", meter_ids=[meter.meter_id])
    assert [m.meter_id for m in plan.linked_meters] == [meter.meter_id]
    cs = await lava.checkout_sessions.create(plan_id=plan.plan_id)
    assert cs.completed_at is None
    done = await lava.checkout_sessions.complete_local(
        cs.checkout_session_id, phone="+15555550100", email="ada@example.com", first_name="Ada")
    cid = done.customer_id
    assert cid is not None
    assert done.customer is not None
    assert done.customer.contact.email == "ada@example.com"
    sub = await lava.customers.subscription(cid)
    assert sub is not None
    assert (sub.status, sub.plan_id, sub.credits.total_remaining) == ("active", plan.plan_id,
                                                                      D(10))

    # What the forward path does after the provider answered: settle through the seam.
    t = token(cid, meter.meter_slug)
    assert w.accounts.admit(t) is None
    w.accounts.settle(t, served("req_1", input_tokens=700_000, output_tokens=300_000,
                                metadata={"feature": "chat"}))
    w.accounts.settle(t, served("req_2", input_tokens=150_000, output_tokens=50_000))

    records = [r async for r in lava.requests.iter(customer_id=cid)]
    assert [r.request_id for r in records] == ["req_2", "req_1"]
    first = await lava.requests.get("req_1")
    assert first.charge.amount == D(3)                     # 1M tokens at 3.00 per 1M
    assert first.charge.rate_type == "fixed"
    assert first.charge.breakdown[0].tokens == D(1_000_000)
    assert first.model_usage.total_tokens == 1_000_000
    assert first.cost == first.model_usage.input_cost + first.model_usage.output_cost
    assert first.metadata == {"feature": "chat"}

    day = datetime.fromtimestamp(T0, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    usage = await lava.usage.get(start=day, end=day + timedelta(days=1), customer_id=cid)
    assert usage.totals.total_requests == 2
    assert usage.totals.total_usage_tokens == 1_200_000
    assert usage.totals.total_charge == D(3) + D("0.6")
    assert [d.date for d in usage.items] == [day.date().isoformat()]
    tagged = await lava.usage.get(start=day, end=day + timedelta(days=1),
                                  metadata_filters={"feature": "chat"})
    assert tagged.totals.total_requests == 1

    after = await lava.customers.subscription(cid)
    assert after is not None
    assert after.credits.total_remaining == D(10) - D("3.6")
    assert after.credits.cycle_remaining == D(10) - D("3.6")


async def test_iterating_follows_cursors_across_pages(lava: AsyncLavaClient) -> None:
    made = [(await lava.meters.create(name=f"m{i}", rate="1")).meter_id for i in range(23)]
    first = await lava.meters.list(limit=10)
    assert first.has_more
    assert len(first.data) == 10
    seen = [m.meter_id async for m in lava.meters.iter(limit=10)]
    assert seen == list(reversed(made))
    rest = [m.meter_id async for m in lava.meters.iter(limit=5, cursor=first.next_cursor)]
    assert rest == seen[10:]


async def test_plans_bundles_customers_subscriptions_webhooks(lava: AsyncLavaClient) -> None:
    meter = await lava.meters.create(name="Graduated", tiers=[TierSpec(0, "5"),
                                                              TierSpec(1_000_000, "3")])
    assert [t.start for t in meter.tiers] == [0, 1_000_000]
    renamed = await lava.meters.update(meter.meter_id, name="Renamed")
    assert renamed.name == "Renamed"
    plan = await lava.plans.create(
        name="Pro", period_amount="20", included_credit="15", rollover_type="full",
        meter_ids=[meter.meter_id], credit_bundles=[BundleSpec("Top-up", "5", "6")],
        default_auto_top_up_bundle_index=0)
    bundle = plan.credit_bundles[0]
    assert plan.default_auto_top_up_bundle_id == bundle.credit_bundle_id
    assert (await lava.credit_bundles.get(bundle.credit_bundle_id)).credit_amount == D(6)
    listed = await lava.credit_bundles.list(plan_id=plan.plan_id)
    assert [b.credit_bundle_id for b in listed.data] == [bundle.credit_bundle_id]
    assert (await lava.plans.update(plan.plan_id, name="Pro+")).name == "Pro+"

    customer = await lava.customers.create(reference_id="u1", email="a@example.com",
                                           name="Ada Lovelace", metadata={"team": "x"})
    assert customer.contact.last_name == "Lovelace"
    assert await lava.customers.subscription(customer.customer_id) is None
    free = await lava.plans.create(name="Hobby", period_amount="0")
    sub = await lava.subscriptions.create(customer_id=customer.customer_id, plan_id=free.plan_id)
    assert sub.customer_id == customer.customer_id
    active = [s async for s in lava.subscriptions.iter(customer_id=customer.customer_id)]
    assert [s.subscription_id for s in active] == [sub.subscription_id]
    assert (await lava.subscriptions.cancel(sub.subscription_id)).deleted
    updated = await lava.customers.update(customer.customer_id, email=None, phone="+1555")
    assert (updated.contact.email, updated.contact.phone) == (None, "+1555")
    assert (await lava.customers.delete(customer.customer_id)).deleted
    with pytest.raises(LavaNotFound):
        await lava.customers.get(customer.customer_id)

    hook = await lava.webhooks.create(url="https://example.com/hooks", name="app")
    assert hook.webhook_secret is not None
    assert hook.webhook_secret.reveal() not in repr(hook)
    again = await lava.webhooks.get(hook.webhook_id)
    assert again.webhook_secret is None
    assert (await lava.webhooks.delete(hook.webhook_id)).deleted
    assert (await lava.meters.delete(meter.meter_id)).deleted


async def test_lavas_errors_become_typed_exceptions_with_its_message(
        lava: AsyncLavaClient) -> None:
    with pytest.raises(LavaNotFound) as nf:
        await lava.meters.get("mtr_missing")
    assert (nf.value.status, nf.value.code) == (404, "meter_not_found")
    assert "mtr_missing" in nf.value.message
    with pytest.raises(LavaValidationError) as bad:
        await lava.plans.create(name="P", period_amount="10", included_credit="50")
    assert bad.value.code == "invalid_included_credit"
    assert "included_credit" in str(bad.value)
    with pytest.raises(LavaValidationError) as immutable:
        await lava.meters.create(name="x", rate="1", tiers=[TierSpec(0, 1)])
    assert immutable.value.status == 0   # refused before sending anything


async def test_a_wrong_key_is_an_auth_error_that_never_shows_the_key(
        w: World, aiohttp_server: Callable[..., Awaitable[TestServer]],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = await aiohttp_server(create_app(w.accounts))
    wrong = "aks_test_definitely_not_the_right_key_1234"
    async with AsyncLavaClient(base_url=str(server.make_url("")), secret_key=wrong) as bad:
        with pytest.raises(LavaAuthError) as exc:
            await bad.meters.list()
        shown: list[Any] = [repr(bad), str(exc.value), repr(exc.value), bad.settings,
                            caplog.text]
    assert exc.value.status == 401
    for text in map(str, shown):
        assert wrong not in text
        assert wrong[9:] not in text
