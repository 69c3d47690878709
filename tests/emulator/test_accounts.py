"""``LocalAccounts`` behind the ``Accounts`` seam: admit's refusals, settle's records and charges,
credit, cycles, webhook events, persistence."""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from pathlib import Path

import pytest

from proxy.emulator.accounts import Counts, LocalAccounts, Tier
from proxy.emulator.accounts.admin import create_webhook
from proxy.emulator.accounts.catalog import BundleSpec, create_meter, plan_bundles, update_plan
from proxy.emulator.accounts.charging import base_cost, price_for
from proxy.emulator.accounts.customers import (
    cancel_subscription,
    current_subscription,
    set_auto_top_up,
)
from proxy.emulator.contracts import Accounts
from proxy.emulator.store_sqlite import SqliteStore
from proxy.emulator.webhooks import sign
from proxy.secret import Secret

from .accounts_setup import SECRET, World, seed, served, token, world

D = Decimal


def credit_left(w: World, customer_id: str) -> Decimal:
    c = w.scope.customers.get(customer_id)
    assert c is not None
    sub = current_subscription(w.scope, c)
    assert sub is not None
    return sub.cycle_remaining + sub.bundle_remaining


def test_local_accounts_is_an_accounts() -> None:
    acc: Accounts = LocalAccounts(SqliteStore(":memory:"))
    assert acc.merchant_for(SECRET) is None


def test_the_seed_flow_admits_then_charges_the_customer_per_the_meter() -> None:
    w = world()
    meter, _, customer = seed(w, rate="3.00", period="10")
    t = token(customer.customer_id, meter.meter_slug)
    assert w.accounts.admit(t) is None
    settled = w.accounts.settle(t, served("req_1", input_tokens=1000, output_tokens=500))
    expected_charge = D(1500) / D(1_000_000) * D(3)
    p = price_for("gpt-5-nano")
    expected_cost = (D(1000) * p.input_per_1m + D(500) * p.output_per_1m) / D(1_000_000)
    assert settled.charge == expected_charge
    assert settled.cost == expected_cost
    assert credit_left(w, customer.customer_id) == D(10) - expected_charge
    row = w.scope.requests.get("req_1")
    assert row is not None
    assert (row.customer_id, row.meter_id, row.total_tokens) == (
        customer.customer_id, meter.meter_id, 1500)
    assert row.breakdown[0].units == D(1500)


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda c, m: token(c, m, secret="aks_test_nobody_knows_this_key0000"), 401,
     "invalid_secret_key"),
    (lambda c, m: token(c, None), 400, "meter_slug_required"),
    (lambda c, m: token(c, "no-such-meter"), 400, "meter_not_found"),
    (lambda c, m: token("con_nobody", m), 401, "customer_not_found"),
])
def test_admit_refuses_unknown_keys_customers_and_meters(make, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    w = world()
    meter, _, customer = seed(w)
    denial = w.accounts.admit(make(customer.customer_id, meter.meter_slug))
    assert denial is not None
    assert (denial.status, denial.code) == (status, code)
    assert SECRET not in denial.message


def test_a_meter_not_linked_to_the_plan_is_forbidden() -> None:
    w = world()
    _, _, customer = seed(w)
    other = create_meter(w.scope, name="Images", rate_type="fixed", tier_type="requests",
                         tiers=[Tier(D(0), D("0.1"))])
    denial = w.accounts.admit(token(customer.customer_id, other.meter_slug))
    assert denial is not None
    assert (denial.status, denial.code) == (403, "meter_not_on_plan")


def test_a_cancelled_subscription_no_longer_admits() -> None:
    w = world()
    meter, _, customer = seed(w)
    c = w.scope.customers.get(customer.customer_id)
    assert c is not None
    assert c.subscription_id is not None
    cancel_subscription(w.scope, c.subscription_id)
    denial = w.accounts.admit(token(customer.customer_id, meter.meter_slug))
    assert denial is not None
    assert denial.status == 403


def test_no_credit_left_is_402_before_the_provider_is_called() -> None:
    w = world()
    meter, _, customer = seed(w, rate="1000000", period="1")   # $1 per token, $1 of credit
    t = token(customer.customer_id, meter.meter_slug)
    assert w.accounts.admit(t) is None
    w.accounts.settle(t, served("req_1", input_tokens=3, output_tokens=0))
    assert credit_left(w, customer.customer_id) == 0   # the crossing request is absorbed
    denial = w.accounts.admit(t)
    assert denial is not None
    assert (denial.status, denial.code) == (402, "insufficient_balance")
    # disable_billing: the merchant pays, the plan still has to link the meter.
    free = token(customer.customer_id, meter.meter_slug, disable_billing=True)
    assert w.accounts.admit(free) is None
    assert w.accounts.settle(free, served("req_2")).charge == 0


def test_merchant_billed_requests_are_recorded_but_charge_no_customer() -> None:
    w = world()
    meter, _, customer = seed(w)
    before = credit_left(w, customer.customer_id)
    for t, rid in ((token(None, meter.meter_slug), "req_m"), (token(None, None), "req_g")):
        assert w.accounts.admit(t) is None
        settled = w.accounts.settle(t, served(rid))
        assert settled.charge == 0
        costs = base_cost("gpt-5-nano", Counts(input_tokens=1000, output_tokens=500))
        assert settled.cost == sum(costs, D(0))
    rows = {r.request_id: r for r in w.scope.requests.scan()}
    assert rows["req_m"].meter_id == meter.meter_id
    assert rows["req_m"].customer_id is None
    assert rows["req_g"].meter_id is None
    assert credit_left(w, customer.customer_id) == before


def test_a_provider_error_is_recorded_without_a_charge() -> None:
    w = world()
    meter, _, customer = seed(w)
    t = token(customer.customer_id, meter.meter_slug)
    assert w.accounts.settle(t, served("req_e", status="error")).charge == 0
    row = w.scope.requests.get("req_e")
    assert row is not None
    assert row.status == "error"


def test_graduated_tiers_accumulate_within_a_cycle_and_restart_with_the_next() -> None:
    w = world()
    meter, _, customer = seed(w, period="1000", tiers=[(0, "5"), (1_000_000, "3"),
                                                       (10_000_000, "1")])
    t = token(customer.customer_id, meter.meter_slug)
    first = w.accounts.settle(t, served("req_1", input_tokens=800_000, output_tokens=0))
    second = w.accounts.settle(t, served("req_2", input_tokens=400_000, output_tokens=0))
    assert first.charge == D(4)                          # 0.8M at 5
    assert second.charge == D(1) + D("0.6")              # 0.2M at 5, then 0.2M at 3
    w.clock.now += 32 * 86400                            # past the monthly cycle end
    third = w.accounts.settle(t, served("req_3", input_tokens=400_000, output_tokens=0))
    assert third.charge == D(2)                          # back to the first tier


def test_a_new_cycle_refills_the_included_credit() -> None:
    w = world()
    meter, _, customer = seed(w, rate="1", period="10")
    t = token(customer.customer_id, meter.meter_slug)
    w.accounts.settle(t, served("req_1", input_tokens=4_000_000, output_tokens=0))
    assert credit_left(w, customer.customer_id) == D(6)
    w.clock.now += 31 * 86400
    assert credit_left(w, customer.customer_id) == D(10)


def test_auto_top_up_adds_the_bundle_when_credit_runs_out() -> None:
    w = world()
    meter, plan, customer = seed(w, rate="1", period="1")
    update_plan(w.scope, plan.plan_id, credit_bundles=[BundleSpec("Top-up", D(5), D(5))])
    bundle = plan_bundles(w.scope, plan.plan_id)[0]
    c = w.scope.customers.get(customer.customer_id)
    assert c is not None
    assert c.subscription_id is not None
    set_auto_top_up(w.scope, c.subscription_id, bundle.credit_bundle_id)
    t = token(customer.customer_id, meter.meter_slug)
    w.accounts.settle(t, served("req_1", input_tokens=1_000_000, output_tokens=0))
    assert credit_left(w, customer.customer_id) == D(5)
    assert w.accounts.admit(t) is None


def test_webhooks_fire_for_checkout_and_charges_signed_with_the_webhook_secret() -> None:
    w = world()
    hook = create_webhook(w.scope, name="app", url="http://127.0.0.1:9/hooks")
    meter, _, customer = seed(w)
    assert w.events() == ["customer.created", "customer.wallet.balance.updated"]
    w.accounts.settle(token(customer.customer_id, meter.meter_slug), served("req_1"))
    assert w.events()[-1] == "customer.wallet.balance.updated"
    last = w.deliveries[-1]
    assert last.url == hook.url
    assert last.secret == hook.secret
    doc = json.loads(last.body)
    assert doc["data"]["customer"]["customer_id"] == customer.customer_id
    assert doc["data"]["customer"]["subscription"]["status"] == "active"
    expected = hmac.new(hook.secret.encode(), last.body, hashlib.sha256).hexdigest()
    assert sign(last.body, hook.secret) == expected
    assert hook.secret not in repr(last)


def test_request_records_are_capped_oldest_first() -> None:
    w = world(max_requests=10)
    meter, _, customer = seed(w, period="1000")
    t = token(customer.customer_id, meter.meter_slug)
    for i in range(300):
        w.accounts.settle(t, served(f"req_{i:04d}", input_tokens=1, output_tokens=0))
    ids = [r.request_id for r in w.scope.requests.scan()]
    assert len(ids) < 300
    assert ids[0] == "req_0299"
    assert "req_0000" not in ids


def test_state_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "lava.db"
    w = world(SqliteStore(db))
    meter, _, customer = seed(w, rate="1", period="10")
    t = token(customer.customer_id, meter.meter_slug)
    w.accounts.settle(t, served("req_1", input_tokens=2_000_000, output_tokens=0))
    w.accounts.store.close()
    again = LocalAccounts(SqliteStore(db), clock=w.clock)
    assert again.merchant_for(SECRET) == w.merchant_id
    w2 = World(again, w.merchant_id, w.clock)
    assert credit_left(w2, customer.customer_id) == D(8)
    assert again.admit(t) is None
    again.store.close()


def test_auto_merchants_accept_any_well_formed_key_once() -> None:
    acc = LocalAccounts(SqliteStore(":memory:"), auto_merchants=True)
    mid = acc.merchant_for("aks_test_brand_new_key_0000000000")
    assert mid is not None
    assert acc.merchant_for("aks_test_brand_new_key_0000000000") == mid
    assert acc.merchant_for("not-a-key") is None
    assert acc.add_secret_key(Secret("aks_test_brand_new_key_0000000000")) == mid
