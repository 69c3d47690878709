"""Any JSON body or query a caller may send to a write route ends in a result or a 4xx refusal
(an ``AccountsError``), never in another exception (which would be a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.emulator.accounts import AccountsError
from proxy.emulator.rest import Ctx, Handler
from proxy.emulator.rest import admin as rest_admin
from proxy.emulator.rest import catalog as rest_catalog
from proxy.emulator.rest import customers as rest_customers
from proxy.emulator.rest import reports as rest_reports

from .accounts_setup import seed, world

_scalars = st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(
    allow_nan=True, allow_infinity=True) | st.text(max_size=30) | st.sampled_from(
    ["0", "3.00", "-1", "1e999", "NaN", "tokens_1m", "fixed", "percentage", "month", "full",
     "subscription", "credit_bundle", "http://x", "mtr_x"])
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.sampled_from(["start", "rate", "name", "cost", "credit_amount", "is_deleted",
                     "credit_bundle_id", "k"]), inner, max_size=4), max_leaves=12)
_KEYS = ["name", "rate_type", "tier_type", "tiers", "meter_slug", "period_amount",
         "billing_interval", "included_credit", "rollover_type", "bundle_rollover_type",
         "meter_ids", "credit_bundles", "default_auto_top_up_bundle_index",
         "default_auto_top_up_bundle_id", "checkout_mode", "origin_url", "plan_id",
         "customer_id", "credit_bundle_id", "metadata", "email", "phone", "reference_id",
         "url", "request_id", "meter_slug", "input_tokens", "input_seconds",
         "auto_top_up_bundle_id"]
_bodies = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=8)
_queries = st.dictionaries(
    st.sampled_from(["limit", "cursor", "start", "end", "customer_id", "metadata_filters",
                     "status", "plan_id"]),
    st.text(max_size=40) | st.sampled_from(["10", "0", "2026-05-01T00:00:00+02:00",
                                             '[["a","b"]]', "all", "{}"]), max_size=4)

WRITES: list[Handler] = [
    rest_catalog.create_meter, rest_catalog.update_meter, rest_catalog.create_plan,
    rest_catalog.update_plan, rest_customers.create_customer, rest_customers.update_customer,
    rest_customers.create_session, rest_customers.complete_session,
    rest_customers.create_subscription, rest_customers.update_subscription,
    rest_reports.report_request, rest_admin.create_webhook, rest_admin.update_webhook,
]
READS: list[Handler] = [
    rest_catalog.list_meters, rest_catalog.list_plans, rest_catalog.list_bundles,
    rest_customers.list_customers, rest_customers.list_subscriptions, rest_reports.usage,
    rest_reports.list_requests,
]


def _ctx(body: dict[str, Any], query: dict[str, str], ident: str) -> Ctx:
    w = world()
    meter, plan, customer = seed(w)
    ids = {"meter": meter.meter_id, "plan": plan.plan_id, "customer": customer.customer_id}
    return Ctx(w.accounts, w.scope, "hash", query, body, {"id": ids.get(ident, ident)},
               "http://127.0.0.1/")


def _outcome(handler: Handler, ctx: Ctx) -> AccountsError | None:
    """The refusal, if the handler refused; any other exception propagates and fails the test."""
    try:
        handler(ctx)
    except AccountsError as exc:
        return exc
    return None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(WRITES), _bodies,
       st.sampled_from(["meter", "plan", "customer", "nope"]))
def test_write_routes_refuse_cleanly(handler: Handler, body: dict[str, Any], ident: str) -> None:
    refusal = _outcome(handler, _ctx(body, {}, ident))
    assert refusal is None or (400 <= refusal.status < 500 and refusal.message)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(READS), _queries)
def test_read_routes_refuse_cleanly(handler: Handler, query: dict[str, str]) -> None:
    refusal = _outcome(handler, _ctx({}, query, "nope"))
    assert refusal is None or 400 <= refusal.status < 500
