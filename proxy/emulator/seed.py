"""``dev-gateway --seed``: a local Lava that is ready for the README's quick start in one command.

Creates (or finds, so a ``--db`` file can be seeded every start) the meter, plan and subscribed
customer the README's examples name: meter ``chat-tokens`` ($3.00 per 1M tokens), plan ``Starter``
($10.00 of credit a month) linking it, and customer ``cus_123`` on that plan. The customer id is
fixed on purpose, so the README's commands run as written; Lava's own ids look like ``con_01…``.
Goes through the same accounts functions as the REST API, so the seeded merchant is an ordinary one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from .accounts import LocalAccounts
from .accounts.catalog import create_meter, create_plan
from .accounts.customers import create_customer, current_subscription, subscribe
from .accounts.records import Tier

METER_SLUG: Final = "chat-tokens"
METER_NAME: Final = "Chat tokens"
RATE: Final = Decimal("3.00")  # USD per 1M tokens, input + output
PLAN_NAME: Final = "Starter"
CREDIT: Final = Decimal("10.00")  # USD of plan credit a month
CUSTOMER_ID: Final = "cus_123"


@dataclass(frozen=True, slots=True)
class Seeded:
    meter_slug: str
    plan_id: str
    customer_id: str
    credit_left: Decimal


def seed(accounts: LocalAccounts, merchant_id: str) -> Seeded:
    """Make sure the meter, the plan and the subscribed customer exist; idempotent."""
    scope = accounts.scope(merchant_id)
    with scope.store.transaction():
        slug = scope.meter_slugs.get(METER_SLUG)
        meter = None if slug is None else scope.meters.get(slug.meter_id)
        if meter is None:
            meter = create_meter(scope, name=METER_NAME, rate_type="fixed", tier_type="tokens_1m",
                                 tiers=(Tier(Decimal(0), RATE),), meter_slug=METER_SLUG)
        plan = next((p for p in scope.plans.scan()
                     if p.name == PLAN_NAME and meter.meter_id in p.meter_ids), None)
        if plan is None:
            plan = create_plan(scope, name=PLAN_NAME, period_amount=CREDIT, billing_interval="month",
                               included_credit=CREDIT, meter_ids=[meter.meter_id])
        customer = scope.customers.get(CUSTOMER_ID)
        if customer is None:
            customer = create_customer(scope, customer_id=CUSTOMER_ID, first_name="Quick",
                                       last_name="Start", email="quickstart@example.com")
        sub = current_subscription(scope, customer)
        if sub is None or sub.plan_id != plan.plan_id:
            sub = subscribe(scope, customer, plan)
    accounts.flush_events()
    return Seeded(METER_SLUG, plan.plan_id, CUSTOMER_ID, sub.cycle_remaining + sub.bundle_remaining)
