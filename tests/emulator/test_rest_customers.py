"""Customers, checkout (with local completion), subscriptions, and what usage looks like through
``/requests`` and ``/usage``, over real HTTP on loopback."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from proxy.emulator.rest import create_app

from .accounts_setup import World, served, token, world
from .test_rest import TOKENS_METER, Client, call, error

D = Decimal


@pytest.fixture
def w() -> World:
    return world()


@pytest.fixture
async def api(w: World, aiohttp_client: Callable[..., Awaitable[Client]]) -> Client:
    return await aiohttp_client(create_app(w.accounts))


async def paid_plan(api: Client, *, rate: str = "3.00", period: str = "10") -> tuple[Any, Any]:
    m = await call(api, "POST", "/meters", {**TOKENS_METER, "tiers": [{"start": "0",
                                                                      "rate": rate}]})
    p = await call(api, "POST", "/plans", {
        "name": "Pro", "period_amount": period, "billing_interval": "month",
        "meter_ids": [m["meter_id"]],
        "credit_bundles": [{"name": "Top-up", "cost": "5", "credit_amount": "5"}]})
    return m, p


async def checkout(api: Client, plan_id: str, **contact: str) -> Any:
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "subscription", "origin_url": "http://localhost:3000",
        "plan_id": plan_id})
    return await call(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                      contact or {"phone": "+15555550100", "email": "ada@example.com",
                                  "first_name": "Ada", "last_name": "Lovelace"})


async def test_checkout_creates_the_customer_and_the_subscription(api: Client, w: World) -> None:
    _, p = await paid_plan(api, period="10")
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "subscription", "origin_url": "http://localhost:3000",
        "plan_id": p["plan_id"]})
    assert cs["checkout_session_id"].startswith("cs_test_")
    assert cs["customer_id"] is None
    assert cs["completed_at"] is None
    decoded = json.loads(base64.b64decode(cs["checkout_session_token"]))
    assert decoded["secret"].startswith("css_test_")
    assert decoded["base"].startswith("http://127.0.0.1:")
    done = await call(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                      {"phone": "+15555550100", "email": "ada@example.com"})
    cid = done["customer_id"]
    assert done["completed_at"] is not None
    assert done["customer"]["contact"]["email"] == "ada@example.com"
    assert done["customer"]["subscription"]["plan_id"] == p["plan_id"]
    sub = (await call(api, "GET", f"/customers/{cid}/subscription"))["subscription"]
    assert sub["status"] == "active"
    assert sub["credits"] == {"total_remaining": "10.0000000000",
                              "cycle_remaining": "10.0000000000",
                              "bundle_remaining": "0.0000000000"}
    assert sub["plan"]["name"] == "Pro"
    again = await error(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                        {"phone": "+1"})
    assert again == "checkout_session_completed"
    assert (await call(api, "GET", f"/checkout_sessions/{cs['checkout_session_id']}"))[
        "customer_id"] == cid


async def test_a_credit_bundle_checkout_adds_bundle_credit(api: Client) -> None:
    _, p = await paid_plan(api, period="10")
    cid = (await checkout(api, p["plan_id"]))["customer_id"]
    bundle = p["credit_bundles"][0]["credit_bundle_id"]
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "credit_bundle", "origin_url": "https://app.example",
        "customer_id": cid, "credit_bundle_id": bundle})
    await call(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete", {})
    credits = (await call(api, "GET", f"/customers/{cid}/subscription"))["subscription"][
        "credits"]
    assert credits["bundle_remaining"] == "5.0000000000"
    assert credits["total_remaining"] == "15.0000000000"


@pytest.mark.parametrize(("body", "code"), [
    ({"checkout_mode": "subscription", "origin_url": "http://x"}, "plan_id_required"),
    ({"checkout_mode": "subscription", "origin_url": "nope", "plan_id": "p"},
     "invalid_origin_url"),
    ({"checkout_mode": "credit_bundle", "origin_url": "http://x"},
     "credit_bundle_checkout_incomplete"),
    ({"checkout_mode": "topup", "origin_url": "http://x"}, "invalid_parameter"),
])
async def test_checkout_validation(api: Client, body: dict[str, str], code: str) -> None:
    assert await error(api, "POST", "/checkout_sessions", body) == code


async def test_a_new_customer_needs_a_phone_at_completion(api: Client) -> None:
    _, p = await paid_plan(api)
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "subscription", "origin_url": "http://x", "plan_id": p["plan_id"]})
    code = await error(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                       {"email": "a@b.c"})
    assert code == "phone_required"


async def test_a_failed_completion_leaves_no_customer_and_sends_no_webhook(
        api: Client, w: World) -> None:
    await call(api, "POST", "/webhooks", {"url": "http://127.0.0.1:9/h"})
    _, p = await paid_plan(api)
    cs = await call(api, "POST", "/checkout_sessions", {
        "checkout_mode": "subscription", "origin_url": "http://x", "plan_id": p["plan_id"]})
    await call(api, "DELETE", f"/plans/{p['plan_id']}")
    code = await error(api, "POST", f"/checkout_sessions/{cs['checkout_session_id']}/complete",
                       {"phone": "+15555550100"}, expect=404)
    assert code == "plan_not_found"
    assert (await call(api, "GET", "/customers"))["data"] == []
    assert w.deliveries == []


async def test_customers_crud_with_webhooks(api: Client, w: World) -> None:
    await call(api, "POST", "/webhooks", {"url": "http://127.0.0.1:9/h"})
    c = await call(api, "POST", "/customers", {"reference_id": "user_42", "name": "Ada Lovelace",
                                               "email": "ada@example.com",
                                               "metadata": {"team": "core"}})
    assert c["contact"] == {"phone": None, "email": "ada@example.com", "first_name": "Ada",
                            "last_name": "Lovelace"}
    assert (c["subscription"], c["metadata"], c["reference_id"]) == (None, {"team": "core"},
                                                                    "user_42")
    patched = await call(api, "PATCH", f"/customers/{c['customer_id']}",
                         {"email": None, "phone": "+15555550199", "metadata": None})
    assert patched["contact"]["email"] is None
    assert patched["contact"]["phone"] == "+15555550199"
    assert patched["metadata"] is None
    found = await call(api, "GET", "/customers", reference_id="user_42")
    assert [x["customer_id"] for x in found["data"]] == [c["customer_id"]]
    assert await call(api, "DELETE", f"/customers/{c['customer_id']}") == {"success": True}
    assert await error(api, "GET", f"/customers/{c['customer_id']}", expect=404) == (
        "customer_not_found")
    events = [json.loads(d.body) for d in w.deliveries]
    assert [e["event"] for e in events] == ["customer.created", "customer.deleted"]
    assert events[1]["data"]["customer"]["customer_id"] == c["customer_id"]
    # Customer metadata is any JSON object (the Node SDK types it Record<string, unknown>;
    # Lava documents no rule for it); values that are not strings come back as JSON text.
    odd = await call(api, "POST", "/customers", {"metadata": {"plan tier": "x", "seats": 5}})
    assert odd["metadata"] == {"plan tier": "x", "seats": "5"}
    bad = await error(api, "POST", "/customers", {"metadata": ["not", "an", "object"]})
    assert bad == "invalid_parameter"


async def test_subscriptions_free_plans_only_then_cancel(api: Client) -> None:
    _, paid = await paid_plan(api)
    free = await call(api, "POST", "/plans", {"name": "Hobby", "period_amount": "0"})
    c = await call(api, "POST", "/customers", {"phone": "+15555550100"})
    code = await error(api, "POST", "/subscriptions", {"customer_id": c["customer_id"],
                                                       "plan_id": paid["plan_id"]})
    assert code == "plan_requires_checkout"
    sub = await call(api, "POST", "/subscriptions", {"customer_id": c["customer_id"],
                                                     "plan_id": free["plan_id"]})
    assert sub["customer_id"] == c["customer_id"]
    assert sub["customer"]["phone"] == "+15555550100"
    assert sub["credits"]["total_remaining"] == "0.0000000000"
    listed = await call(api, "GET", "/subscriptions", customer_id=c["customer_id"])
    assert [s["subscription_id"] for s in listed["data"]] == [sub["subscription_id"]]
    bundle = paid["credit_bundles"][0]["credit_bundle_id"]
    code = await error(api, "PATCH", f"/subscriptions/{sub['subscription_id']}",
                       {"auto_top_up_bundle_id": bundle})
    assert code == "invalid_auto_top_up_bundle"
    assert await call(api, "DELETE", f"/subscriptions/{sub['subscription_id']}") == {
        "success": True}
    assert (await call(api, "GET", f"/customers/{c['customer_id']}/subscription")) == {
        "subscription": None}
    active = await call(api, "GET", "/subscriptions", customer_id=c["customer_id"])
    cancelled = await call(api, "GET", "/subscriptions", status="cancelled")
    assert active["data"] == []
    assert cancelled["data"][0]["cancelled_at"] is not None


async def test_usage_and_requests_show_what_settle_recorded(api: Client, w: World) -> None:
    m, p = await paid_plan(api, rate="3.00", period="10")
    cid = (await checkout(api, p["plan_id"]))["customer_id"]
    t = token(cid, m["meter_slug"])
    day1 = datetime(2026, 5, 1, 15, tzinfo=UTC).timestamp()
    w.accounts.settle(t, served("req_a", input_tokens=600_000, output_tokens=400_000,
                                timestamp=day1, metadata={"user_id": "u1"}))
    w.accounts.settle(t, served("req_b", input_tokens=100_000, output_tokens=100_000,
                                timestamp=day1 + 86400, metadata={"user_id": "u2"}))
    w.accounts.settle(token(None, None), served("req_m", timestamp=day1))

    one = await call(api, "GET", "/requests/req_a")
    assert one["customer_id"] == cid
    assert one["meter_id"] == m["meter_id"]
    assert one["model_usage"]["total_tokens"] == 1_000_000
    assert one["charge"]["amount"] == "3.0000000000"                # 1M tokens at 3.00 per 1M
    assert one["charge"]["rate_type"] == "fixed"
    assert one["charge"]["breakdown"] == [{"tier": {"start": 0, "rate": "3.00",
                                                    "type": "tokens_1m"},
                                           "tokens": 1_000_000, "characters": 0, "seconds": 0,
                                           "cost": "3.0000000000"}]
    assert D(one["cost"]) == D(one["model_usage"]["input_cost"]) + D(
        one["model_usage"]["output_cost"])
    assert one["cost"] != one["charge"]["amount"]
    assert one["metadata"] == {"user_id": "u1"}

    mine = await call(api, "GET", "/requests", customer_id=cid)
    assert [r["request_id"] for r in mine["data"]] == ["req_b", "req_a"]
    tagged = await call(api, "GET", "/requests", metadata_filters='[["user_id","u2"]]')
    assert [r["request_id"] for r in tagged["data"]] == ["req_b"]
    assert len((await call(api, "GET", "/requests"))["data"]) == 3

    credits = (await call(api, "GET", f"/customers/{cid}/subscription"))["subscription"][
        "credits"]
    assert credits["total_remaining"] == "6.4000000000"               # 10 - 3 - 0.6

    start = datetime(2026, 5, 1, tzinfo=UTC)
    usage = await call(api, "GET", "/usage", start=start.isoformat(),
                       end=(start + timedelta(days=3)).isoformat(), customer_id=cid)
    assert [(i["date"], i["total_requests"], i["total_charge"]) for i in usage["items"]] == [
        ("2026-05-01", 1, "3.0000000000"), ("2026-05-02", 1, "0.6000000000"),
        ("2026-05-03", 0, "0.0000000000")]
    assert usage["totals"]["total_usage_tokens"] == 1_200_000
    everyone = await call(api, "GET", "/usage", start=start.isoformat(),
                          end=(start + timedelta(days=3)).isoformat())
    assert everyone["totals"]["total_requests"] == 3
    assert await error(api, "GET", "/usage") == "missing_parameter"
    assert await error(api, "GET", "/usage", start="yesterday") == "invalid_parameter"
    # Lava documents no limit on the window: years are answered, listing the days with data.
    years = await call(api, "GET", "/usage", start="2019-06-01T00:00:00Z",
                       end="2026-12-31T00:00:00Z", customer_id=cid)
    assert [(i["date"], i["total_requests"]) for i in years["items"]] == [
        ("2026-05-01", 1), ("2026-05-02", 1)]
    assert years["totals"] == usage["totals"]
    assert (await call(api, "GET", "/usage", start="0001-01-01T00:00:00+14:00",
                       customer_id=cid))["totals"] == usage["totals"]
    backwards = await call(api, "GET", "/usage", start="2026-05-03T00:00:00Z",
                           end="2026-05-01T00:00:00Z")
    assert backwards["items"] == []
    assert backwards["totals"]["total_requests"] == 0


async def test_post_request_reporting_charges_without_admission(api: Client) -> None:
    m, p = await paid_plan(api, rate="2", period="10")
    cid = (await checkout(api, p["plan_id"]))["customer_id"]
    rec = await call(api, "POST", "/requests", {
        "request_id": "ext_1", "customer_id": cid, "meter_slug": m["meter_slug"],
        "input_tokens": 250_000, "output_tokens": 250_000, "metadata": {"job": "nightly"}})
    assert rec["charge"]["amount"] == "1.0000000000"
    assert rec["provider_key_type"] == "unmanaged"
    assert await error(api, "POST", "/requests", {"request_id": "ext_1"}) == "duplicate_request"
    code = await error(api, "POST", "/requests", {"request_id": "ext_2", "meter_slug": "nope"},
                       expect=404)
    assert code == "meter_not_found"
